"""Label-preserving synthesis: one synthesizer per stratum of the training rows.

A single Gaussian copula keeps every column's shape and the pairwise rank correlations, but a
0/1 outcome enters it as one more category with a weak linear tie to the rest: a model trained
on its rows scores barely above chance on real rows. Fitting one synthesizer per stratum (the
target's value; a numeric target's quantile bin; optionally key subgroup columns) keeps the
whole joint distribution of the features given the outcome, which is what a model learns from.
Each stratum is sampled in its training share, so the outcome's prevalence is kept too.

Strata with fewer than ``min_rows`` training rows are pooled into one stratum, which keeps the
key columns as ordinary columns of its fit; if even the pool is too small, it joins the largest
stratum. A column that holds one value throughout a stratum (its key, most often) is left out of
that stratum's fit and written back as that value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

MISSING = "<missing>"
POOLED = "<pooled>"


def stratum_labels(rows: pd.DataFrame, keys: list[str], bins: dict[str, int]) -> pd.Series:
    """One label per row: ``key=value`` parts joined by `` & ``; a binned column contributes its
    quantile bin (``q1``..``qk``, ties split by row order)."""
    labels = pd.Series("", index=rows.index, dtype=object)
    for number, column in enumerate(keys):
        values = rows[column]
        if column in bins:
            numeric = pd.to_numeric(values, errors="raise")
            ranks = numeric.rank(method="first")
            present = ranks.notna()
            part = pd.Series(MISSING, index=rows.index, dtype=object)
            if present.any():
                cut = pd.qcut(ranks[present], min(bins[column], int(present.sum())), labels=False)
                part[present] = cut.map(lambda b: f"q{int(b) + 1}")
        else:
            part = values.astype(object).map(lambda v: MISSING if pd.isna(v) else str(v))
        labels = labels + ("" if number == 0 else " & ") + f"{column}=" + part
    return labels


def pooled_labels(labels: pd.Series, min_rows: int) -> pd.Series:
    """Strata below ``min_rows`` pooled; a pool below ``min_rows`` joins the largest stratum."""
    counts = labels.value_counts()
    small = counts.index[counts < min_rows]
    pooled = labels.where(~labels.isin(small), POOLED)
    pool_size = int((pooled == POOLED).sum())
    large = counts[counts >= min_rows]
    if 0 < pool_size < min_rows and len(large):
        pooled = pooled.where(pooled != POOLED, large.idxmax())
    return pooled


def allocate(shares: np.ndarray, total: int) -> np.ndarray:
    """Integer counts summing to ``total`` in the given shares (largest remainder)."""
    exact = shares / shares.sum() * total
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: total - counts.sum()]] += 1
    return counts


@dataclass
class Stratum:
    label: str
    rows: int
    synthesizer: Any  # None when every column is constant in the stratum
    constants: dict[str, Any] = field(default_factory=dict)


@dataclass
class StratifiedSynthesizer:
    """The SDV single-table interface the pipeline uses (``sample`` -> ``{table: frame}``,
    ``get_metadata``, ``reset_sampling``, ``_set_random_state``) over per-stratum fits."""

    table: str
    metadata: Any  # of the whole table (the quality report reads every column's type)
    columns: list[str]
    keys: list[str]
    strata: list[Stratum]
    seed: int = 0

    @classmethod
    def fit(cls, rows: pd.DataFrame, table: str, metadata, keys: list[str],
            bins: dict[str, int], min_rows: int,
            fit_one: Callable[[pd.DataFrame], Any]) -> StratifiedSynthesizer:
        """``fit_one(frame)`` fits one synthesizer on a stratum's varying columns."""
        labels = pooled_labels(stratum_labels(rows, keys, bins), min_rows)
        strata = []
        for label, part in rows.groupby(labels, sort=True):
            constant = [c for c in part.columns if part[c].nunique(dropna=False) == 1]
            varying = [c for c in part.columns if c not in constant]
            strata.append(Stratum(
                str(label), len(part),
                fit_one(part[varying].reset_index(drop=True)) if varying else None,
                {c: part[c].iloc[0] for c in constant}))
        return cls(table, metadata, list(rows.columns), keys, strata)

    def sample(self, num_rows: int) -> dict[str, pd.DataFrame]:
        counts = allocate(np.array([s.rows for s in self.strata], dtype=float), num_rows)
        frames = []
        for stratum, count in zip(self.strata, counts, strict=True):
            if count == 0:
                continue
            frame = (stratum.synthesizer.sample(int(count))[self.table].reset_index(drop=True)
                     if stratum.synthesizer is not None
                     else pd.DataFrame(index=range(int(count))))
            for column, value in stratum.constants.items():
                frame[column] = value
            frames.append(frame[self.columns])
        if not frames:
            return {self.table: pd.DataFrame(columns=self.columns)}
        sampled = pd.concat(frames, ignore_index=True)
        order = np.random.default_rng(self.seed).permutation(len(sampled))
        return {self.table: sampled.iloc[order].reset_index(drop=True)}

    def strata_summary(self) -> list[dict[str, Any]]:
        total = sum(s.rows for s in self.strata)
        return [{"stratum": s.label, "training_rows": s.rows,
                 "share": round(s.rows / total, 6) if total else None,
                 "constant_columns": sorted(s.constants)} for s in self.strata]

    def get_metadata(self):
        return self.metadata

    def reset_sampling(self) -> None:
        for stratum in self.strata:
            if stratum.synthesizer is not None:
                stratum.synthesizer.reset_sampling()

    def _set_random_state(self, seed: int) -> None:
        self.seed = seed
        for number, stratum in enumerate(self.strata):
            if stratum.synthesizer is not None:
                stratum.synthesizer._set_random_state(seed + number)

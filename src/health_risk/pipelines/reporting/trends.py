"""Trends of a population study (``reporting.population.trend``): the published table of
yearly, pooled-year and first-to-last-year change estimates by area and nationally
(``trend_estimates.csv``), its chart and the report's tables. The estimates themselves are
``core/survey_trends.py``'s.

Weighted: each respondent weighted by the survey's final weight (pooled over the years with
CDC's adjustment for combining years); unweighted: the plain share of respondents. Standard
errors are design-based (Taylor linearisation) with year-specific strata and PSUs; intervals
are Korn-Graubard's and flags the NCHS standard's, as for the area estimates; a change has
SE sqrt(se_first^2 + se_last^2), a t interval (Welch-Satterthwaite degrees of freedom) and a
two-sided p-value.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
from pyspark.sql import DataFrame

from health_risk.core.errors import DataQualityError
from health_risk.core.survey_design import SUPPRESS
from health_risk.core.survey_trends import CHANGE, NATIONAL, POOLED, YEARLY, survey_trends
from health_risk.pipelines.reporting.charts import PALETTE
from health_risk.pipelines.reporting.config import PopulationConfig
from health_risk.pipelines.reporting.population import area_code_text, direct_text, percent

KINDS = (YEARLY, POOLED, CHANGE)
NATIONAL_LABEL = "All areas (national)"
# Whole numbers (written without a decimal point, blank where they do not apply).
COUNTS = ["year", "first_year", "last_year", "years", "respondents", "strata_used",
          "psus_used", "singleton_strata"]


def trend_table_columns(config: PopulationConfig) -> list[str]:
    """The header of ``trend_estimates.csv`` (its manifest check compares the file with it).
    ``kind``: yearly, pooled or change; ``scope``: area or national (no area code or label).
    On change rows the figures are last year minus first year."""
    return ["kind", "scope", config.area_code, config.area, "year", "first_year", "last_year",
            "years", "weighting", "respondents", "weighted_population", "unweighted",
            "weighted", "se", "ci_low", "ci_high", "effective_n", "degrees_of_freedom",
            "strata_used", "psus_used", "singleton_strata", "p_value", "reliability",
            "reliability_reason"]


def trend_estimates(primary: DataFrame, config: PopulationConfig, study: str) -> pd.DataFrame:
    """The trend table of ``<study>.primary`` (``trend_table_columns``): yearly rows, then the
    pooled ones, then the changes (none with one year); national rows first in each."""
    trend = config.trend
    needed = [config.area, config.area_code, config.target, config.weight, config.strata,
              config.psu, trend.year]
    missing = [c for c in needed if c not in primary.columns]
    if missing:
        raise DataQualityError(
            f"{study}.primary: trends need column(s) {missing} (reporting.population.trend); "
            f"'{trend.year}' is the data year of the file each row came from")
    trends = survey_trends(primary, config.area, trend.year, config.target, config.weight,
                           config.strata, config.psu, trend.pooled_weighting,
                           carry=(config.area_code,))
    parts = [frame.rename(columns={trend.year: "year"}).assign(kind=kind)
             for kind, frame in zip(KINDS, (trends.yearly, trends.pooled, trends.change),
                                    strict=True) if len(frame)]
    table = pd.concat(parts, ignore_index=True).reindex(columns=trend_table_columns(config))
    table[config.area_code] = table[config.area_code].map(area_code_text)
    return table.astype({column: "Int64" for column in COUNTS})


def empty_trend_table(config: PopulationConfig) -> pd.DataFrame:
    return pd.DataFrame(columns=trend_table_columns(config))


def _rows(table: pd.DataFrame, kind: str) -> pd.DataFrame:
    return table[table["kind"] == kind]


def _whole(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def years_of(table: pd.DataFrame) -> list[int]:
    """The data years of the yearly rows, in order."""
    return sorted({int(y) for y in _rows(table, YEARLY)["year"].dropna()})


def _series(table: pd.DataFrame, config: PopulationConfig
            ) -> list[tuple[str, pd.DataFrame, pd.Series | None]]:
    """(label, yearly rows by year, pooled row) for the nation, then each area."""
    def of(rows: pd.DataFrame, label: str) -> pd.DataFrame:
        if label == NATIONAL_LABEL:
            return rows[rows["scope"] == NATIONAL]
        return rows[(rows["scope"] != NATIONAL) & (rows[config.area].astype(str) == label)]

    yearly, pooled = _rows(table, YEARLY), _rows(table, POOLED)
    areas = sorted(map(str, yearly.loc[yearly["scope"] != NATIONAL, config.area].dropna().unique()))
    return [(label, of(yearly, label).sort_values("year"),
             next((row for _, row in of(pooled, label).iterrows()), None))
            for label in [NATIONAL_LABEL, *areas]]


def _hover(label: str, row: pd.Series, period: str) -> str:
    reason = row.get("reliability_reason")
    return "<br>".join([
        f"<b>{label}, {period}</b>",
        f"weighted: {direct_text(row, 'weighted', 'ci_low', 'ci_high')} (95% Korn-Graubard)",
        f"design-based SE: {_points(row.get('se'))} pp",
        f"respondents: {_whole(row.get('respondents')) or 0:,}",
        f"NCHS: {row.get('reliability')}" + (f" ({reason})" if isinstance(reason, str)
                                             and reason else "")])


def _points(value: Any, sign: bool = False) -> str:
    """A difference or SE in percentage points ('+1.2'), or 'n/a'."""
    if value is None or pd.isna(value):
        return "n/a"
    return f"{100 * float(value):{'+' if sign else ''}.1f}"


def trend_figure(table: pd.DataFrame, config: PopulationConfig, title: str) -> go.Figure:
    """Weighted prevalence by year with its 95 % Korn-Graubard band and the pooled-year
    estimate (dashed), nationally and for each area (a menu picks the series; the national
    line stays as a grey reference under an area's). Suppressed estimates are open circles."""
    years = years_of(table)
    series = _series(table, config)
    traces: list[go.Scatter] = []
    national_rows = series[0][1]
    traces.append(go.Scatter(x=national_rows["year"].astype(int).tolist(),
                             y=(100 * national_rows["weighted"].astype(float)).tolist(),
                             mode="lines", name="national", visible=False, hoverinfo="skip",
                             line={"color": "#9a9a9a", "dash": "dot"}))
    for i, (label, rows, pooled) in enumerate(series):
        x = rows["year"].astype(int).tolist()
        y = 100 * rows["weighted"].astype(float)
        low, high = 100 * rows["ci_low"].astype(float), 100 * rows["ci_high"].astype(float)
        visible = i == 0
        color = PALETTE[0] if i == 0 else PALETTE[3]
        traces += [
            go.Scatter(x=x, y=high.tolist(), mode="lines", line={"width": 0}, hoverinfo="skip",
                       showlegend=False, visible=visible),
            go.Scatter(x=x, y=low.tolist(), mode="lines", line={"width": 0}, fill="tonexty",
                       fillcolor="rgba(31, 119, 180, 0.18)" if i == 0
                       else "rgba(214, 39, 40, 0.15)", hoverinfo="skip",
                       name="95% Korn-Graubard interval", visible=visible),
            go.Scatter(x=x, y=y.tolist(), mode="lines+markers", name=f"{label} (weighted)",
                       visible=visible, line={"color": color},
                       marker={"color": color, "size": 8,
                               "symbol": ["circle-open" if flag == SUPPRESS else "circle"
                                          for flag in rows["reliability"]]},
                       text=[_hover(label, row, str(int(row["year"])))
                             for _, row in rows.iterrows()], hoverinfo="text",
                       error_y=({"type": "data", "symmetric": False,
                                 "array": (high - y).tolist(), "arrayminus": (y - low).tolist()}
                                if len(years) == 1 else None)),
            go.Scatter(x=[years[0], years[-1]] if years else [],
                       y=[100 * float(pooled["weighted"])] * 2 if pooled is not None else [],
                       mode="lines", line={"color": color, "dash": "dash", "width": 1},
                       name="pooled years (CDC-adjusted weights)", visible=visible,
                       hoverinfo="text",
                       text=[_hover(label, pooled, f"{years[0]}-{years[-1]} pooled")] * 2
                       if pooled is not None else None)]
    per_series = 4
    buttons = []
    for i, (label, _, _) in enumerate(series):
        visible = [i > 0] + [j == i for j in range(len(series)) for _ in range(per_series)]
        buttons.append({"label": label, "method": "update",
                        "args": [{"visible": visible}, {"title.text": f"{title}: {label}"}]})
    figure = go.Figure(traces)
    figure.update_layout(
        title=f"{title}: {series[0][0]}", template="plotly_white", height=460,
        margin={"l": 60, "r": 20, "t": 100, "b": 60},
        legend={"orientation": "h", "y": -0.18},
        updatemenus=[{"buttons": buttons, "direction": "down", "x": 0.0, "xanchor": "left",
                      "y": 1.16, "yanchor": "top"}])
    figure.update_xaxes(title="data year", tickmode="array", tickvals=years,
                        ticktext=[str(y) for y in years])
    figure.update_yaxes(title=f"{config.target_label}, survey-weighted (%)")
    return figure


def change_text(row: pd.Series) -> str:
    """'+1.2 pp (-0.3 to +2.7), p = 0.12', or why there is none."""
    if pd.isna(row.get("weighted")):
        reason = row.get("reliability_reason")
        return reason if isinstance(reason, str) and reason else "n/a"
    p_value = row.get("p_value")
    shown = "n/a" if pd.isna(p_value) else ("< 0.001" if p_value < 0.001 else f"{p_value:.3f}")
    return (f"{_points(row['weighted'], sign=True)} pp ({_points(row['ci_low'], sign=True)} to "
            f"{_points(row['ci_high'], sign=True)}), p = {shown}")


def national_table(table: pd.DataFrame) -> pd.DataFrame:
    """The national series: one row per year, the pooled years, the change."""
    national = table[table["scope"] == NATIONAL]
    rows = []
    for _, row in national.iterrows():
        kind = row["kind"]
        if kind == CHANGE:
            period = f"change {_whole(row['first_year'])} to {_whole(row['last_year'])}"
            weighted = change_text(row)
        else:
            period = (str(_whole(row["year"])) if kind == YEARLY else
                      f"{_whole(row['first_year'])}-{_whole(row['last_year'])} pooled")
            weighted = direct_text(row, "weighted", "ci_low", "ci_high")
        rows.append({"period": period, "respondents": _whole(row["respondents"]),
                     "weighted (95% CI)": weighted,
                     "design-based SE (pp)": _points(row["se"]),
                     "unweighted": (f"{_points(row['unweighted'], sign=True)} pp"
                                    if kind == CHANGE else percent(row["unweighted"])),
                     "NCHS flag": row["reliability"]})
    return pd.DataFrame(rows)


def change_table(table: pd.DataFrame, config: PopulationConfig) -> pd.DataFrame:
    """Each area's change from the first to the last year, beside both years' estimates."""
    changes = table[(table["kind"] == CHANGE) & (table["scope"] != NATIONAL)]
    yearly = _rows(table, YEARLY)
    rows = []
    for _, row in changes.iterrows():
        area = row[config.area]
        shown = {config.area: area}
        for which in ("first_year", "last_year"):
            match = yearly[(yearly[config.area] == area) & (yearly["year"] == row[which])]
            shown[str(_whole(row[which]))] = (direct_text(match.iloc[0], "weighted", "ci_low",
                                                          "ci_high")
                                              if len(match) else "no respondents")
        shown["change (95% CI), p"] = change_text(row)
        shown["NCHS flag"] = row["reliability"]
        rows.append(shown)
    return pd.DataFrame(rows)


def trend_note(config: PopulationConfig, table: pd.DataFrame) -> str:
    """How to read the trend figures: what is weighted, how SEs and changes are computed."""
    trend = config.trend
    pooled = _rows(table, POOLED)
    weighting = (pooled["weighting"].iloc[0] if len(pooled) else trend.pooled_weighting)
    adjustment = ("each year's weight times that year's share of the area's pooled sample "
                  "(CDC's adjustment for combining years)" if weighting == "sample_size"
                  else "each weight divided by the number of years the area has respondents in")
    return (f"Weighted: survey-weighted ({config.weight}) share of respondents with an answer; "
            "unweighted: the plain share of respondents. Standard errors are design-based "
            f"(Taylor linearisation, strata {config.strata} and PSUs {config.psu}, "
            "year-specific: the same stratum code in two years is two strata); intervals are "
            "Korn-Graubard 95 % intervals, flags the NCHS standard's. Pooled: all years "
            f"combined, {adjustment}. Change: last year minus first year, SE "
            "sqrt(se_first^2 + se_last^2) (independent yearly samples), t interval with "
            "Welch-Satterthwaite degrees of freedom and two-sided p-value; a change is flagged "
            "as the less reliable of its two estimates. Data years: column "
            f"{trend.year}.")


def years_text(table: pd.DataFrame) -> str:
    years = years_of(table)
    if not years:
        return "no respondents with a year"
    return f"{len(years)} year{'s' if len(years) > 1 else ''}: " + ", ".join(map(str, years))

"""Files dropped into a study's incoming folder are each scored once: the ledger records what
a run confirmed, and only that."""

from __future__ import annotations

import json
import os

import pytest
from kedro.io import AbstractDataset, DatasetError

from health_risk.datasets import IncomingFilesDataset


class TextDataset(AbstractDataset):
    """A stand-in reader (the real ones are Spark's): the file's text."""

    def __init__(self, filepath: str, staging_path: str | None = None) -> None:
        self._path, self.staging_path = filepath, staging_path

    def load(self):
        with open(self._path, encoding="utf-8") as handle:
            return handle.read()

    def save(self, data):
        raise NotImplementedError

    def _describe(self):
        return {"filepath": self._path}


def _incoming(tmp_path) -> IncomingFilesDataset:
    reader = {"type": f"{__name__}.TextDataset"}
    return IncomingFilesDataset(path=str(tmp_path / "incoming"),
                                ledger={"filepath": str(tmp_path / "ledger.json")},
                                formats={"csv": reader, ".XPT": reader})


def _drop(tmp_path, name: str, text: str) -> None:
    folder = tmp_path / "incoming"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)


def test_a_file_is_loaded_until_a_run_confirms_it_then_never_again(tmp_path):
    assert _incoming(tmp_path).load() == {}  # no folder yet: nothing new
    _drop(tmp_path, "b.csv", "id\n1\n")
    _drop(tmp_path, "notes.txt", "not a batch")
    _drop(tmp_path, "_partial.csv", "an upload in progress")
    failed_run = _incoming(tmp_path)
    assert failed_run.load() == {"b.csv": "id\n1\n"}  # the run fails before it confirms
    run = _incoming(tmp_path)
    assert run.load() == {"b.csv": "id\n1\n"}  # so the next run gets it again
    run.confirm()
    assert _incoming(tmp_path).load() == {}
    # A later file whose name sorts first is new all the same (no name checkpoint).
    _drop(tmp_path, "a.XPT", "later")
    run = _incoming(tmp_path)
    assert run.load() == {"a.XPT": "later"}
    run.confirm()
    scored = json.loads((tmp_path / "ledger.json").read_text())["scored"]
    assert [f["file"] for f in scored] == ["b.csv", "a.XPT"]
    assert all(f["size"] > 0 and f["modified"] and f["scored_at"] for f in scored)


def test_a_replaced_file_is_scored_again_and_a_confirm_without_load_records_nothing(tmp_path):
    _drop(tmp_path, "b.csv", "id\n1\n")
    run = _incoming(tmp_path)
    run.load()
    run.confirm()
    run.confirm()  # nothing loaded since: nothing more recorded
    assert len(json.loads((tmp_path / "ledger.json").read_text())["scored"]) == 1
    _drop(tmp_path, "b.csv", "id\n1\n2\n")
    os.utime(tmp_path / "incoming" / "b.csv", (1, 1))
    assert _incoming(tmp_path).load() == {"b.csv": "id\n1\n2\n"}


def test_the_readers_get_one_staging_folder_per_file_and_nothing_is_written(tmp_path):
    incoming = IncomingFilesDataset(
        path=str(tmp_path), ledger={"filepath": str(tmp_path / "_ledger.json")},
        formats={"xpt": {"type": f"{__name__}.TextDataset", "staging_path": "stage"}})
    reader = incoming._reader("LLCP2024.XPT")
    assert reader.staging_path == "stage/LLCP2024_XPT"
    with pytest.raises(DatasetError, match="never writes"):
        incoming.save({})


def test_an_unreadable_ledger_stops_with_what_to_do(tmp_path):
    (tmp_path / "ledger.json").write_text("{not json")
    with pytest.raises(DatasetError, match="restore it or move it away"):
        _incoming(tmp_path).load()


def test_an_xpt_file_is_read_by_the_survey_reader_with_its_own_staging(spark, tmp_path):
    """The catalog's formats (conf/base/catalog/01_raw.yml): a BRFSS-style XPT dropped in is
    read by SasXportDataset, staged per file, with the file in each row's lineage."""
    import pandas as pd

    from health_risk.datasets import SasXportDataset

    folder = tmp_path / "incoming"
    folder.mkdir()
    survey = pd.DataFrame({"_STATE": [1.0, 6.0, 72.0], "GENHLTH": [1.0, 5.0, 7.0],
                           "SEQNO": ["2024000001", "2024000002", "2024000003"]})
    SasXportDataset(filepath=str(folder / "LLCP2024.XPT"),
                    staging_path=str(tmp_path / "writer_staging")).save(survey)
    incoming = IncomingFilesDataset(
        path=str(folder), ledger={"filepath": str(tmp_path / "ledger.json")},
        formats={"csv": {"type": "health_risk.datasets.SparkSourceDataset"},
                 "xpt": {"type": "health_risk.datasets.SasXportDataset",
                         "staging_path": str(tmp_path / "staging")}})
    (name, frame), = incoming.load().items()
    rows = frame.orderBy("_source_row").toPandas()
    assert name == "LLCP2024.XPT" and rows["SEQNO"].tolist() == survey["SEQNO"].tolist()
    assert rows["_source_file"].iloc[0].endswith("LLCP2024.XPT")
    assert (tmp_path / "staging" / "LLCP2024_XPT").is_dir()

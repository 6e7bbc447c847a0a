"""The BRFSS SAS transport loader: real XPORT v5 files written by pyreadstat."""

from __future__ import annotations

import zipfile

import numpy as np
import pandas as pd
import pytest
from kedro.io import DatasetError

from health_risk.datasets import SasXportDataset


def _survey(n=25):
    rng = np.random.default_rng(3)
    return pd.DataFrame({
        "_STATE": rng.choice([1.0, 6.0, 72.0], n),
        "GENHLTH": rng.choice([1.0, 2.0, 5.0, 7.0, np.nan], n),
        "_BMI5": np.where(np.arange(n) % 5 == 0, np.nan, 2345.0),
        "CHILDREN": np.zeros(n),  # true zeros: pandas decodes them as ~5e-79
        "SEQNO": [f"2023{i:06d}" for i in range(n)],
        "IMONTH": ["" if i == 3 else f"{i % 12 + 1:02d}" for i in range(n)],
    })


def _dataset(tmp_path, name="LLCP2023.XPT", **kwargs):
    return SasXportDataset(filepath=str(tmp_path / name),
                           staging_path=str(tmp_path / "staging"), **kwargs)


def test_round_trip_keeps_values_rows_and_adds_lineage(spark, tmp_path):
    frame = _survey()
    dataset = _dataset(tmp_path, chunksize=7)  # several chunks, several parquet parts
    dataset.save(frame)
    df = dataset.load()
    parts = sorted((tmp_path / "staging" / "data").glob("part-*.parquet"))
    assert len(parts) == 4  # 25 rows in chunks of 7: the driver never holds the whole file
    rows = df.orderBy("_source_row").toPandas()
    assert len(rows) == len(frame)
    assert list(rows["_source_row"]) == list(range(len(frame)))
    assert rows["_source_file"].iloc[0].endswith("LLCP2023.XPT")
    assert (rows["CHILDREN"] == 0.0).all()  # IBM-float zero noise rounded away
    pd.testing.assert_series_equal(rows["GENHLTH"], frame["GENHLTH"], check_names=False)
    assert rows["SEQNO"].tolist() == frame["SEQNO"].tolist()
    assert rows["IMONTH"].iloc[3] is None  # blank character value -> null
    assert dict(df.dtypes)["SEQNO"] == "string"


def test_staging_is_reused_until_the_file_changes(spark, tmp_path):
    dataset = _dataset(tmp_path)
    dataset.save(_survey(10))
    dataset.load()
    marker = tmp_path / "staging" / "_SOURCE.json"
    first = marker.stat().st_mtime_ns
    dataset.load()
    assert marker.stat().st_mtime_ns == first
    dataset.save(_survey(12))
    assert dataset.load().count() == 12


def test_reads_the_cdc_zip_and_the_trailing_space_member_name(spark, tmp_path):
    source = _dataset(tmp_path, name="plain.XPT")
    source.save(_survey(9))
    archive = tmp_path / "LLCP2023XPT.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(tmp_path / "plain.XPT", arcname="LLCP2023.XPT ")
    assert _dataset(tmp_path, name="LLCP2023XPT.zip").load().count() == 9
    (tmp_path / "plain.XPT").rename(tmp_path / "LLCP2023.XPT ")
    assert _dataset(tmp_path, name="LLCP2023.XPT").load().count() == 9


def test_truncated_file_is_an_error_naming_the_file(spark, tmp_path):
    dataset = _dataset(tmp_path)
    dataset.save(_survey(40))
    path = tmp_path / "LLCP2023.XPT"
    path.write_bytes(path.read_bytes()[:-37])
    with pytest.raises(DatasetError, match=r"LLCP2023\.XPT.*truncated"):
        dataset.load()


def test_a_cut_inside_an_observation_on_a_record_border_is_an_error(spark, tmp_path):
    dataset = _dataset(tmp_path)
    survey = _survey(400)
    survey["NOTE"] = "x" * 60  # observations longer than one 80-byte record
    dataset.save(survey)
    path = tmp_path / "LLCP2023.XPT"
    data = path.read_bytes()
    cut = (len(data) // 2) // 80 * 80  # half the file, on a record border
    path.write_bytes(data[:cut])
    with pytest.raises(DatasetError, match=r"LLCP2023\.XPT.*truncated.*whole_observations"):
        dataset.load()
    # The untouched file still reads in full: its tail is the blank padding.
    path.write_bytes(data)
    assert dataset.load().count() == 400


def test_empty_and_foreign_files_are_errors_naming_the_file(spark, tmp_path):
    path = tmp_path / "LLCP2023.XPT"
    path.write_bytes(b"")
    with pytest.raises(DatasetError, match=r"LLCP2023\.XPT.*empty"):
        _dataset(tmp_path).load()
    path.write_text("_STATE,GENHLTH\n1,2\n")
    with pytest.raises(DatasetError, match=r"not a SAS transport"):
        _dataset(tmp_path).load()


def test_missing_file_and_bad_zip_are_clear_errors(spark, tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        _dataset(tmp_path).load()
    (tmp_path / "LLCP2023XPT.zip").write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(DatasetError, match="not a valid zip"):
        _dataset(tmp_path, name="LLCP2023XPT.zip").load()


def test_save_rejects_names_longer_than_xport_allows(tmp_path):
    with pytest.raises(DatasetError, match="8 characters"):
        _dataset(tmp_path).save(pd.DataFrame({"TOO_LONG_NAME": [1.0]}))


def test_reads_through_fsspec_and_stages_where_spark_reads(spark, tmp_path):
    """A source on any fsspec filesystem (memory:// stands in for s3a:// or abfss://), the
    staging folder given as a URL Spark understands (file:// here, s3a:// on a cluster)."""
    import fsspec

    url = "memory://raw/brfss/LLCP2023.XPT"
    staging = (tmp_path / "staging").as_uri()
    dataset = SasXportDataset(filepath=url, staging_path=staging, chunksize=7)
    dataset.save(_survey())
    assert fsspec.filesystem("memory").isfile("/raw/brfss/LLCP2023.XPT") and dataset.exists()
    df = dataset.load()
    assert df.count() == 25 and df.first()["_source_file"] == url
    assert len(list((tmp_path / "staging" / "data").glob("part-*.parquet"))) == 4
    marker = tmp_path / "staging" / "_SOURCE.json"
    first = marker.stat().st_mtime_ns
    assert SasXportDataset(filepath=url, staging_path=staging).load().count() == 25
    assert marker.stat().st_mtime_ns == first  # reused: the source did not change


def test_a_scheme_without_its_fsspec_package_is_a_clear_error():
    with pytest.raises(DatasetError, match=r"no fsspec filesystem for 'nosuchfs://'"):
        SasXportDataset(filepath="nosuchfs://bucket/LLCP2023.XPT")

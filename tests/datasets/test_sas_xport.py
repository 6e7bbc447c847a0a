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


# -- a folder of yearly files -----------------------------------------------------------------
def _year(year, n, late=0, **extra):
    """A small survey year: IYEAR is the year, or the next for the last ``late`` rows."""
    frame = _survey(n).assign(IYEAR=[str(year + (i >= n - late)) for i in range(n)],
                              SEQNO=[f"{year}{i:06d}" for i in range(n)])
    return frame.assign(**extra)


def _folder(tmp_path, **kwargs):
    return SasXportDataset(filepath=str(tmp_path / "brfss"),
                           staging_path=str(tmp_path / "staging"), **kwargs)


def test_a_folder_is_one_source_with_each_files_survey_year_and_variables(spark, tmp_path):
    from health_risk.datasets.lineage import parts_of, sources_of

    dataset = _folder(tmp_path)
    (tmp_path / "brfss").mkdir()
    dataset.save({"old_name.XPT": _year(2016, 6, late=2, SEX=1.0),
                  "LLCP2023.XPT": _year(2023, 5, SEXVAR=2.0)})
    (tmp_path / "brfss" / "incoming").mkdir()  # a sub-folder is not a year
    df = dataset.load()
    rows = df.toPandas()
    # The year comes from the rows' interview years (most common), not from the file name.
    assert rows.groupby("_survey_year").size().to_dict() == {2016: 6, 2023: 5}
    assert rows.loc[rows["_survey_year"] == 2016, "SEXVAR"].isna().all()
    assert rows.loc[rows["_survey_year"] == 2023, "SEX"].isna().all()
    parts = {p["year"]: p for p in parts_of(df)}
    assert "SEX" in parts[2016]["columns"] and "SEX" not in parts[2023]["columns"]
    assert parts[2016]["file"].endswith("old_name.XPT") and parts[2016]["rows"] == 6
    assert sorted(sources_of(df)) == sorted(p["file"] for p in parts.values())
    # Each year is staged on its own: a new year does not convert the others again.
    marker = tmp_path / "staging" / "LLCP2023.XPT" / "_SOURCE.json"
    stamp = marker.stat().st_mtime_ns
    dataset.describe_parts()
    _folder(tmp_path).load()
    assert marker.stat().st_mtime_ns == stamp


def test_a_folder_save_replaces_the_years_of_an_earlier_save(tmp_path):
    dataset = _folder(tmp_path)
    dataset.save({"LLCP2016.XPT": _year(2016, 3), "LLCP2023.XPT": _year(2023, 3)})
    dataset.save({"LLCP2023.XPT": _year(2023, 4)})
    assert sorted(p.name for p in (tmp_path / "brfss").iterdir()) == ["LLCP2023.XPT"]
    with pytest.raises(DatasetError, match="mapping, one entry per year"):
        dataset.save(_year(2023, 4))


def test_two_files_of_one_year_are_refused_naming_both(spark, tmp_path):
    dataset = _folder(tmp_path)
    dataset.save({"LLCP2023.XPT": _year(2023, 3), "copy.XPT": _year(2023, 3)})
    with pytest.raises(DatasetError, match=r"2023: \['LLCP2023.XPT', 'copy.XPT'\].*one_file_per"):
        dataset.load()


def test_a_file_without_interview_years_in_a_folder_is_refused(spark, tmp_path):
    dataset = _folder(tmp_path)
    dataset.save({"LLCP2023.XPT": _year(2023, 3), "other.XPT": _survey(3)})
    with pytest.raises(DatasetError, match=r"\['other.XPT'\] have no IYEAR.*survey_year"):
        dataset.load()


def test_describe_parts_reads_headers_and_first_rows_only(tmp_path):
    dataset = _folder(tmp_path)
    dataset.save({"LLCP2016.XPT": _year(2016, 4, SEX=1.0)})
    with zipfile.ZipFile(tmp_path / "brfss" / "LLCP2023XPT.zip", "w") as archive:
        SasXportDataset(filepath=str(tmp_path / "plain.XPT")).save(_year(2023, 4))
        archive.write(tmp_path / "plain.XPT", arcname="LLCP2023.XPT ")
    described = {p["year"]: p for p in dataset.describe_parts()}
    assert sorted(described) == [2016, 2023]
    assert "SEX" in described[2016]["columns"] and "SEX" not in described[2023]["columns"]
    assert not (tmp_path / "staging").exists()  # nothing converted

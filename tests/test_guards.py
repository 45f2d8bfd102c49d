"""Issue 15 guards on tiny inline tables: the publication marker, the PII key fingerprint, the run
date check and the exit codes of refusals and write conflicts."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from portrait import catalog, dates, guards, keyguard, publication
from portrait.exits import ExitCode
from portrait.io import Lakehouse

D = dt.date(2026, 11, 1)


@pytest.fixture
def lake(spark, tmp_path) -> Lakehouse:
    return Lakehouse(spark, str(tmp_path / "lakehouse"))


def _segments(spark, date: dt.date, persons: list[str]):
    return catalog.GOLD_SEGMENTS_DAILY.conform(
        spark.createDataFrame(
            [(date, p, 1, "loyal", "3") for p in persons],
            "date date, person_id string, segment_id int, segment_name string, segment_model_version string",
        )
    )


def _publish_segments_only(lake: Lakehouse, date: dt.date, persons: list[str]) -> dict:
    """Write segments for `date`, and stand-in commits of the other two tables (a one-table lake)."""
    commit = lake.replace_range(_segments(lake.spark, date, persons), catalog.GOLD_SEGMENTS_DAILY, start=date)
    return {t: commit for t in catalog.PUBLISHED}


def test_readers_see_the_marked_version_not_a_later_half_written_date(spark, lake):
    commits = _publish_segments_only(lake, D, ["p1", "p2"])
    publication.publish(lake, D, commits)
    # A later score has written D+1 to one table but not marked it yet; and D was rewritten by it.
    lake.replace_range(
        _segments(spark, D + dt.timedelta(days=1), ["p9"]), catalog.GOLD_SEGMENTS_DAILY, start=D + dt.timedelta(days=1)
    )
    lake.replace_range(_segments(spark, D, ["p3"]), catalog.GOLD_SEGMENTS_DAILY, start=D)

    pub = publication.latest(lake)
    assert pub.date == D and pub.versions[catalog.GOLD_SEGMENTS_DAILY] == commits[catalog.GOLD_SEGMENTS_DAILY].version
    assertDataFrameEqual(
        publication.read_published(lake, catalog.GOLD_SEGMENTS_DAILY), _segments(spark, D, ["p1", "p2"])
    )


def test_a_rerun_of_a_date_repoints_its_marker_row_and_the_latest_date_wins(spark, lake):
    publication.publish(lake, D, _publish_segments_only(lake, D, ["p1"]))
    later = D + dt.timedelta(days=1)
    publication.publish(lake, later, _publish_segments_only(lake, later, ["p2"]))
    publication.publish(lake, D, _publish_segments_only(lake, D, ["p3"]))  # a rerun of the earlier date

    assert lake.read(publication.MARKER).count() == 2
    assert publication.latest(lake).date == later
    assertDataFrameEqual(publication.read_published(lake, catalog.GOLD_SEGMENTS_DAILY, D), _segments(spark, D, ["p3"]))
    assertDataFrameEqual(publication.read_published(lake, catalog.GOLD_SEGMENTS_DAILY), _segments(spark, later, ["p2"]))


def test_nothing_published_and_unpublished_dates_are_errors(spark, lake):
    with pytest.raises(publication.NotPublishedError, match="nothing is published yet"):
        publication.latest(lake)
    publication.publish(lake, D, _publish_segments_only(lake, D, ["p1"]))
    with pytest.raises(publication.NotPublishedError, match="2026-10-31 is not published"):
        publication.read_published(lake, catalog.GOLD_SEGMENTS_DAILY, D - dt.timedelta(days=1))
    with pytest.raises(ValueError, match="not a published table"):
        publication.read_published(lake, catalog.GOLD_PORTRAIT)


def test_the_lake_remembers_its_key_and_refuses_another(lake):
    recorded = keyguard.check_pii_key(lake, b"key-one", job="ingest")
    assert keyguard.check_pii_key(lake, b"key-one", job="features") == recorded
    with pytest.raises(keyguard.PiiKeyMismatchError, match="re-key on purpose by a rebuild"):
        keyguard.check_pii_key(lake, b"key-two", job="ingest")
    stored = lake.read(keyguard.TABLE)
    assert stored.count() == 1
    # The fingerprint is a keyed hash of a fixed string: neither the key nor readable from it.
    row = stored.first()
    assert row["fingerprint"] == keyguard.fingerprint(b"key-one") != keyguard.fingerprint(b"key-two")
    assert "key-one" not in str(row.asDict())
    code, message = guards.exit_code(keyguard.PiiKeyMismatchError("x"))
    assert code == ExitCode.KEY_MISMATCH and message == "x"


def _events(spark, days: list[dt.date]):
    return spark.createDataFrame([(d, "p1") for d in days], "date date, person_id string")


def test_a_date_beyond_the_data_is_refused_naming_the_latest_date(spark, lake):
    lake.replace_range(
        _events(spark, [D - dt.timedelta(days=1), D]), catalog.SILVER_EVENTS, start=D - dt.timedelta(days=1), end=D
    )
    assert dates.check_date(lake, catalog.SILVER_EVENTS, D)
    assert dates.check_date(lake, catalog.SILVER_EVENTS, D - dt.timedelta(days=30))
    with pytest.raises(
        dates.DateBeyondDataError,
        match=r"refused: 2027-11-01 is after the data of features "
        r"\(the latest date in silver.events is 2026-11-01\)",
    ):
        dates.check_date(lake, catalog.SILVER_EVENTS, dt.date(2027, 11, 1), job="features")
    assert dates.check_date(lake, catalog.SILVER_EVENTS, dt.date(2027, 11, 1), allow_empty=True) is False
    # features is bounded by the later of events and orders; score by the portrait, still empty here.
    orders = spark.createDataFrame([(D + dt.timedelta(days=2), "p1")], "date date, person_id string")
    lake.replace_range(orders, catalog.SILVER_ORDERS, start=D + dt.timedelta(days=2))
    assert dates.check_job_date(lake, "features", D + dt.timedelta(days=2))
    with pytest.raises(dates.DateBeyondDataError, match="gold.portrait has no rows yet"):
        dates.check_job_date(lake, "score", D)
    assert dates.check_job_date(lake, "train", dt.date(2030, 1, 1))  # not bounded


def test_a_lost_write_conflict_maps_to_its_exit_code(spark):
    from delta.exceptions import ConcurrentAppendException

    code, message = guards.exit_code(ConcurrentAppendException("Files were added to partition [date=2026-11-01]"))
    assert code == ExitCode.WRITE_CONFLICT and "lost a write conflict" in message and "\n" not in message
    assert guards.exit_code(RuntimeError("DELTA_CONCURRENT_APPEND.WITH_PARTITION_HINT: files were added")) is not None
    assert guards.exit_code(RuntimeError("disk full")) is None


def test_a_delta_rs_reader_polling_while_dates_are_published_never_sees_a_mix(spark, lake):
    """The README's delta-rs read path, polled in a thread while three dates are published table by
    table (as score does): every poll sees one date, the same persons in all three tables."""
    import threading

    from test_publication_poll import read_latest_complete

    def publish(date: dt.date, persons: list[str]) -> None:
        commits = {}
        for table in catalog.PUBLISHED:
            rows = spark.createDataFrame([(date, p) for p in persons], "date date, person_id string")
            for c in table.columns[2:]:
                rows = rows.withColumn(c.name, F.lit(None).cast(c.type))
            commits[table] = lake.replace_range(table.conform(rows), table, start=date)
        publication.publish(lake, date, commits)

    publish(D, ["p0"])
    polls, errors, done = [], [], threading.Event()

    def poll() -> None:
        while not done.is_set():
            try:
                polls.append(read_latest_complete(lake.root))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                return

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        for i in range(1, 3):
            publish(D + dt.timedelta(days=i), [f"p{j}" for j in range(i + 1)])
    finally:
        done.set()
        reader.join()
    assert not errors, errors
    assert len(polls) > 1 and [d for d, _ in polls] == sorted(d for d, _ in polls)
    for date, seen in polls:
        persons = [{p for _, p in seen[t.name]} for t in catalog.PUBLISHED]
        assert persons[0] == persons[1] == persons[2] == {f"p{j}" for j in range((date - D).days + 1)}, date

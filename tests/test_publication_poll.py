"""A downstream reader polling while score publishes a new date (issue 15) never sees the three
published tables at different dates or a date half written, through the documented read path:
the latest row of gold.published_dates, then each table at the Delta version it names (delta-rs)."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
import tinylake
from deltalake import DeltaTable

from portrait import catalog, publication
from portrait.io import Lakehouse
from portrait.pipeline import run_stage

pytestmark = [pytest.mark.slow]


def read_latest_complete(lakehouse: str) -> tuple[object, dict[str, set[tuple[object, str]]]]:
    """What the README tells a delta-rs reader to do: the marker's latest row, then each table at its version."""
    marker = DeltaTable(f"{lakehouse}/gold/published_dates").to_pyarrow_table().to_pylist()
    row = max(marker, key=lambda r: r["date"])
    seen = {}
    for table in catalog.PUBLISHED:
        version = int(row[publication.VERSION_COLUMN[table]])
        rows = (
            DeltaTable(f"{lakehouse}/{table.layer}/{table.name}", version=version)
            .to_pyarrow_table(columns=["date", "person_id"])
            .to_pylist()
        )
        seen[table.name] = {(r["date"], r["person_id"]) for r in rows if r["date"] == row["date"]}
    return row["date"], seen


def test_a_reader_polling_while_score_runs_never_sees_a_mix(spark, tiny_chain, tmp_path):
    """A delta-rs reader polls while score commits: only a publish in progress can show a half-published date."""
    after, _ = tiny_chain
    root = tmp_path / "lake"
    cfg = tinylake.copy_lake(after["train"], root)  # the portrait of D exists; D is not scored yet
    lakehouse = cfg.paths.lakehouse
    polls: list[tuple[object, dict]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            try:
                polls.append(read_latest_complete(lakehouse))
            except BaseException as exc:  # noqa: BLE001 - reported by the test below
                errors.append(exc)
                return
            time.sleep(0.05)

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        run_stage("score", spark, cfg, tinylake.D)
    finally:
        done.set()
        reader.join()
    polls.append(read_latest_complete(lakehouse))
    assert not errors, errors
    print(f"{len(polls)} polls")
    assert polls[0][0] == tinylake.D - dt.timedelta(days=1) and polls[-1][0] == tinylake.D
    dates_seen = [d for d, _ in polls]
    assert dates_seen == sorted(dates_seen), "the latest complete date went backwards"
    for date, seen in polls:
        persons = {name: {p for _, p in rows} for name, rows in seen.items()}
        assert persons["segments_daily"], f"{date}: no rows"
        assert persons["segments_daily"] == persons["propensity_daily"] == persons["next_actions_daily"], date
    # The final poll equals what Spark's read path (portrait.publication) gives.
    lake = Lakehouse(spark, lakehouse)
    pub = publication.latest(lake)
    for table in catalog.PUBLISHED:
        got = {
            r["person_id"]
            for r in publication.read_published(lake, table, publication=pub).select("person_id").collect()
        }
        assert got == {p for _, p in polls[-1][1][table.name]}

"""Quarantine that keeps what arrived, safely (issue 28 item 4): a quarantined line whose fields are
known keeps its ids, times and amounts as written with PII hashed and free text masked; a line whose
fields cannot be told apart is kept whole, encrypted under the PII key, and opened by
`portrait quarantine --reveal`; `portrait quarantine --date D` lists a date's lines by reason and
`--replay` ingests the date again once the upstream is fixed, saying which lines are now kept."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from helpers import local_conf_file, write_landing
from pyspark.sql import functions as F

from portrait import catalog, cli, privacy
from portrait.config import load_config
from portrait.exits import ExitCode
from portrait.io import Lakehouse
from portrait.pipeline import run_stage

pytestmark = pytest.mark.slow

D = dt.date(2026, 11, 1)
EVENT_ID = "5f0c9a1e-1234-4e6b-9d5a-2026110112345"  # digit runs a blanket phone mask took for phones
TS = "2026-11-01T10:00:00.000Z"
CRM_HEADER = (
    "account_id,name,phone,email,wechat_id,gender,birth_year,city,city_tier,signup_date,consent_sms,"
    "consent_email,consent_push,consent_wechat,consent_updated_at"
)
CRM_BAD = "A7,Qian Wei,13987654321,qian.wei@example.org,wx_qian,f,1990,Shanghai,1,2020-01-01,true,false,true,false,2026-10-01 10:00:00\x01"  # noqa: E501


def _event(event_id: str, **fields) -> str:
    base = {"event_id": event_id, "anonymous_id": "c1", "session_id": "s1", "event_type": "page_view", "ts": TS}
    return json.dumps({**base, **fields}, ensure_ascii=False)


@pytest.fixture()
def lake_conf(tmp_path):
    conf = local_conf_file(tmp_path)
    return conf, load_config(conf)


def _quarantine(spark, cfg) -> dict[tuple[str, int], dict]:
    rows = Lakehouse(spark, cfg.paths.lakehouse).read(catalog.BRONZE_QUARANTINE).collect()
    return {(r["source"], r["line_number"]): r.asDict() for r in rows}


def test_quarantined_lines_keep_what_arrived_and_no_clear_pii(spark, lake_conf, capsys):
    """Known fields: ids, times and prices as written, free text masked; an unparseable line
    encrypted (deterministically: a rerun writes the same record), opened only with the key."""
    conf, cfg = lake_conf
    write_landing(
        cfg,
        "clickstream",
        D,
        [_event(EVENT_ID, price=-3.5, search_query="mail qian.wei@example.org"), _event("e_ok")],
    )
    write_landing(cfg, "crm", D, [CRM_HEADER, CRM_BAD])
    run_stage("ingest", spark, cfg, D, sources=["clickstream", "crm"])
    first = _quarantine(spark, cfg)

    event = first[("clickstream", 1)]
    record = json.loads(event["raw_record"])
    assert event["reason"] == "negative_price"
    assert (record["event_id"], record["ts"], record["price"]) == (EVENT_ID, TS, "-3.5")
    assert record["search_query"] == "mail <email>"

    crm = first[("crm", 2)]
    assert crm["reason"] == "control_character"
    assert crm["raw_record"].startswith(privacy.ENCRYPTED)
    for clear in ("Qian", "13987654321", "qian.wei", "wx_qian"):
        assert clear not in crm["raw_record"]

    run_stage("ingest", spark, cfg, D, sources=["clickstream", "crm"])  # a rerun: the same records
    assert {k: r["raw_record"] for k, r in _quarantine(spark, cfg).items()} == {
        k: r["raw_record"] for k, r in first.items()
    }

    capsys.readouterr()
    assert cli.main(["quarantine", "--conf", str(conf), "--date", str(D)]) == ExitCode.OK
    listed = capsys.readouterr().out
    assert "quarantine 2026-11-01: 2 lines in 2 source(s)" in listed
    assert "control_character" in listed and "negative_price" in listed
    assert "--reveal opens it" in listed and "13987654321" not in listed

    assert cli.main(["quarantine", "--conf", str(conf), "--date", str(D), "--source", "crm", "--reveal"]) == 0
    revealed = capsys.readouterr().out
    assert CRM_BAD in revealed  # the line whole, as it arrived

    # Another key opens nothing (GCM's tag does not verify).
    opened = spark.createDataFrame([(crm["raw_record"],)], "r string").select(
        privacy.decrypt_text(F.col("r"), b"another key").alias("o")
    )
    assert opened.first()["o"] is None


def test_replay_after_the_upstream_fixed_its_file_says_which_lines_are_now_kept(spark, lake_conf, capsys):
    conf, cfg = lake_conf
    bad = [_event("e1", price=-1), _event("e2", ts="yesterday"), _event("e3")]
    path = write_landing(cfg, "clickstream", D, bad)
    run_stage("ingest", spark, cfg, D, sources=["clickstream"])
    assert len(_quarantine(spark, cfg)) == 2

    # The upstream fixes one line and delivers the file again in place (a new file for ingest).
    fixed = [_event("e1", price=1), _event("e2", ts="yesterday"), _event("e3")]
    path.write_text("".join(line + "\n" for line in fixed), encoding="utf-8")
    capsys.readouterr()
    # --reason chooses the sources to replay; ingest replaces the whole source, so every line of it
    # is accounted for (the timestamp's line is still quarantined, not new).
    replay = ["quarantine", "--conf", str(conf), "--date", str(D), "--reason", "negative_price", "--replay"]
    assert cli.main(replay) == ExitCode.OK
    said = capsys.readouterr().out
    assert "ingest replayed for clickstream" in said
    lines = {tuple(line.split()[:2]): line.split()[2:] for line in said.splitlines() if line.startswith("clickstream ")}
    bad_ts = _reason(spark, cfg, 2)
    assert sorted(lines) == sorted([("clickstream", bad_ts), ("clickstream", "negative_price")])
    assert lines[("clickstream", "negative_price")] == ["1", "1", "0"]  # before, kept, still
    assert lines[("clickstream", bad_ts)] == ["1", "0", "1"]
    assert "1 line now kept" in said

    lake = Lakehouse(spark, cfg.paths.lakehouse)
    assert sorted(r["event_id"] for r in lake.read(catalog.BRONZE_CLICKSTREAM).collect()) == ["e1", "e3"]
    assert [k for k in _quarantine(spark, cfg)] == [("clickstream", 2)]


def _reason(spark, cfg, line: int) -> str:
    return _quarantine(spark, cfg)[("clickstream", line)]["reason"]


def test_a_date_without_quarantine_and_a_lake_without_the_table(spark, lake_conf, tmp_path, capsys):
    conf, cfg = lake_conf
    assert cli.main(["quarantine", "--conf", str(conf), "--date", str(D)]) == ExitCode.FAILED
    assert "run `portrait ingest` first" in capsys.readouterr().err
    write_landing(cfg, "clickstream", D, [_event("e1")])
    run_stage("ingest", spark, cfg, D, sources=["clickstream"])
    assert cli.main(["quarantine", "--conf", str(conf), "--date", str(D)]) == ExitCode.OK
    assert "no quarantined line" in capsys.readouterr().out
    assert Path(cfg.paths.lakehouse).exists()

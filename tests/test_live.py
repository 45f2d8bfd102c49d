"""`portrait live` (issue 29): clickstream files landing while the job runs -> the live portrait and
exactly the expected triggered actions, each once, through restarts and a replayed micro-batch.

The Spark tests run real Structured Streaming queries on real Delta tables (no mocks): an abandoned
cart past 30 minutes of event time, a cart followed by a checkout, a person without consent, a
capped person and a holdout person. The first tests are pure Python (policy and path parsing).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from pathlib import Path

import pytest
import tinylake
from helpers import ROOT, make_config, write_landing
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from portrait import catalog
from portrait.actions import Policy, in_holdout, load_policy
from portrait.config import ConfigError
from portrait.io import Lakehouse
from portrait.live import decide, source

D = dt.date(2026, 11, 1)
EXPERIMENT = "live_cart_2026q4"
POLICY = {
    "version": "live-test.1",
    "caps": {"max_per_7d": 2, "quiet_days": 2},
    "actions": [
        {
            "name": "daily_offer",
            "when": "purchase_propensity >= 0.5",
            "value": 5.0,
            "cost": 0.1,
            "channels": ["email"],
            "offer": "d",
            "reason": "daily",
            "experiment": "daily_offer_x",
        },
        {
            "name": "live_cart_reminder",
            "trigger": {"kind": "cart_abandoned", "minutes": 30},
            "when": "true",
            "probability": "coalesce(purchase_propensity, 0.2)",
            "value": 12.0,
            "cost": 0.3,
            "channels": ["push", "sms"],
            "offer": "your cart is waiting",
            "reason": "cart left half an hour ago",
            "experiment": EXPERIMENT,
            "holdout_share": 0.5,
            "cooldown_days": 1,
        },
    ],
}


# --- pure Python ------------------------------------------------------------------------------------


def test_the_daily_score_never_sees_a_triggered_action_and_the_live_job_sees_only_those():
    policy = Policy.model_validate(POLICY)
    assert [a.name for a in policy.daily().actions] == ["daily_offer"]
    live = policy.live()
    assert live is not None and [a.name for a in live.actions] == ["live_cart_reminder"]
    assert (live.version, live.caps) == (policy.version, policy.caps)
    (gated,) = decide.gated(live).actions
    assert gated.when == "array_contains(fired_actions, 'live_cart_reminder') AND (true)"


def test_trigger_errors_name_the_key(tmp_path):
    bad = json.loads(json.dumps(POLICY))
    bad["actions"][1]["trigger"] = {"kind": "category_views", "minutes": 15}  # views missing
    path = tmp_path / "p.yaml"
    path.write_text(json.dumps(bad))  # JSON is YAML
    with pytest.raises(ConfigError, match=r"actions\[1\]\.trigger.*views is required"):
        load_policy(path)
    only_live = json.loads(json.dumps(POLICY))
    only_live["actions"] = only_live["actions"][1:]
    path.write_text(json.dumps(only_live))
    with pytest.raises(ConfigError, match="at least one action without one"):
        load_policy(path)


def test_the_shipped_policy_has_live_actions_of_both_kinds():
    live = load_policy(ROOT / "conf" / "actions.yaml").live()
    assert live is not None
    assert {a.trigger.kind for a in live.actions if a.trigger} == {"cart_abandoned", "category_views"}


def test_a_file_gets_the_date_of_its_date_folder_only():
    assert source.landing_date("file:/l/clickstream/date=2026-11-01/part-0.txt") == D
    assert source.landing_date("file:/l/clickstream/date=2026-13-01/part-0.txt") is None
    assert source.landing_date("file:/l/clickstream/part-0.txt") is None
    assert source.landing_date("file:/l/clickstream/date=2026-11-01/sub/part-0.txt") is None


# --- Spark: the scenario ----------------------------------------------------------------------------


def _event(event_id: str, who: str, event_type: str, minute: int, **more) -> str:
    """A clickstream line of person `who` (cookie c_<who>, account u_<who>) at 10:00 + `minute`."""
    ts = dt.datetime(2026, 11, 1, 10, 0) + dt.timedelta(minutes=minute)
    row = {
        "event_id": event_id,
        "anonymous_id": f"c_{who}",
        "user_id": f"u_{who}",
        "event_type": event_type,
        "ts": ts.strftime("%Y-%m-%d %H:%M:%S"),
        **more,
    }
    return json.dumps(row)


CART = {"product_id": "sku1", "category": "sneakers", "price": 30.0}
FIRST_FILE = [
    _event("e1", "a", "add_to_cart", 0, **CART),  # abandoned, consented: gets the reminder
    _event("e2", "b", "add_to_cart", 0, **CART),
    _event("e3", "b", "checkout", 10, order_id="o1"),  # b bought within 30 minutes: nothing
    _event("e4", "c", "add_to_cart", 0, **CART),  # abandoned, no consent: none
    _event("e5", "d", "add_to_cart", 0, **CART),  # abandoned, capped: none
    _event("e6", "h", "add_to_cart", 0, **CART),  # abandoned, in the holdout: recorded, not sent
    _event("e1", "a", "add_to_cart", 0, **CART),  # the same line twice: a duplicate, counted once
    "not json at all",  # quarantined
]
# An unknown visitor 60 minutes later moves the watermark (lateness 5) past every cart + 30 minutes.
SECOND_FILE = [
    json.dumps({"event_id": "e9", "anonymous_id": "c_new", "event_type": "page_view", "ts": "2026-11-01 11:00:00"})
]


def _persons(spark) -> dict[str, str]:
    """Person ids for a, b, c, d (not in the experiment's holdout) and h (in it)."""
    candidates = spark.createDataFrame([(f"p_{i:03d}",) for i in range(64)], "person_id string")
    rows = candidates.select("person_id", in_holdout(EXPERIMENT, 0.5).alias("held")).collect()
    treated = [r["person_id"] for r in rows if not r["held"]]
    held = [r["person_id"] for r in rows if r["held"]]
    return {"a": treated[0], "b": treated[1], "c": treated[2], "d": treated[3], "h": held[0]}


def _seed(spark, lake: Lakehouse, persons: dict[str, str]) -> None:
    """Identity map, customers (consent) and daily contacts: what the daily chain would have left."""
    lake.overwrite(
        spark.createDataFrame(
            [("account", f"u_{w}", p) for w, p in persons.items()], "id_type string, id_value string, person_id string"
        ),
        catalog.SILVER_IDENTITY_MAP,
    )
    customers = [
        (
            f"u_{w}",
            p,
            "f",
            1990,
            1,
            D - dt.timedelta(days=100),
            w != "c",
            False,
            w != "c",
            False,
            dt.datetime(2026, 10, 1),
        )
        for w, p in persons.items()
    ]
    lake.overwrite(
        spark.createDataFrame(
            customers,
            "account_id string, person_id string, gender string, birth_year int, city_tier int, signup_date date, "
            "consent_push boolean, consent_email boolean, consent_sms boolean, consent_wechat boolean, "
            "consent_updated_at timestamp",
        ).withColumn("as_of_date", F.lit(D - dt.timedelta(days=1))),
        catalog.SILVER_CUSTOMERS,
    )
    sent = [
        (D - dt.timedelta(days=k), persons["d"], "daily_offer", "email", "o", "daily_offer_x", False, True, 1.0, "t")
        for k in (1, 3)
    ]
    lake.overwrite(spark.createDataFrame(sent, catalog.GOLD_ACTIONS_SENT.ddl), catalog.GOLD_ACTIONS_SENT)


@pytest.fixture()
def live_lake(spark, tmp_path):
    """(config, lakehouse, person ids): a lake seeded as the daily chain would leave it, a test policy."""
    policy = tmp_path / "actions.yaml"
    policy.write_text(json.dumps(POLICY))
    cfg = make_config(
        tmp_path,
        **{"score.policy_file": str(policy), "live.lateness_minutes": 5, "live.max_files_per_trigger": 1},
    )
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    persons = _persons(spark)
    _seed(spark, lake, persons)
    return cfg, lake, persons


def _run(spark, cfg) -> dict:
    from portrait.pipeline import run_stage

    return run_stage("live", spark, cfg, D, available_now=True)


def _expected_actions(spark, persons: dict[str, str]):
    return spark.createDataFrame(
        [
            (persons["a"], "live_cart_reminder", "live_cart_reminder", "push", False, True),
            # no consented channel: no candidate at all, so no intended action (as the daily score, test_actions)
            (persons["c"], "none", "none", None, False, False),
            (persons["d"], "live_cart_reminder", "none", None, False, False),
            (persons["h"], "live_cart_reminder", "none", None, True, False),
        ],
        "person_id string, intended_action string, action string, channel string, holdout boolean, contacted boolean",
    )


def _actions(lake: Lakehouse):
    return lake.read(catalog.GOLD_LIVE_ACTIONS).select(
        "person_id", "intended_action", "action", "channel", "holdout", "contacted"
    )


@pytest.mark.slow
def test_files_landing_between_runs_give_each_expected_action_once_and_a_restart_nothing_more(spark, live_lake):
    """The issue's scenario through the real streaming queries, checkpoints and watermark: two
    `--available-now` runs with a file landing between them (the first run may decide nothing: no
    cart is 30 event-time minutes old yet), then a third with nothing new. Only whole runs of the
    job show that the state carried in the checkpoint fires each action once, in the right run."""
    cfg, lake, persons = live_lake
    write_landing(cfg, "clickstream", D, FIRST_FILE, name="part-0.txt")
    write_landing(cfg, "clickstream", D - dt.timedelta(days=1), [_event("old", "a", "add_to_cart", 0, **CART)])
    first = _run(spark, cfg)
    assert first["ingest"]["events"] == 6 and first["ingest"]["quarantined"] == 1
    assert lake.read(catalog.GOLD_LIVE_ACTIONS).isEmpty()  # no cart is 30 minutes old in event time yet

    write_landing(cfg, "clickstream", D, SECOND_FILE, name="part-1.txt")
    _run(spark, cfg)
    assertDataFrameEqual(_actions(lake), _expected_actions(spark, persons))
    reasons = {r["person_id"]: r["reason"] for r in lake.read(catalog.GOLD_LIVE_ACTIONS).collect()}
    assert reasons[persons["c"]].startswith("no consent on the channels of live_cart_reminder")
    assert reasons[persons["d"]].startswith("cap: 2 actions in 7 days reached")
    assert reasons[persons["h"]] == f"holdout of experiment {EXPERIMENT}"

    again = _run(spark, cfg)  # a restart on the checkpoints with nothing new
    assert again["ingest"].get("events", 0) == 0
    assertDataFrameEqual(_actions(lake), _expected_actions(spark, persons))
    _check_live_portrait(spark, lake, persons)
    quarantined = lake.read(catalog.BRONZE_LIVE_QUARANTINE).select("reason", "line_number").collect()
    assert [(r["reason"], r["line_number"]) for r in quarantined] == [("unparseable", 8)]


def _check_live_portrait(spark, lake: Lakehouse, persons: dict[str, str]) -> None:
    got = lake.read(catalog.GOLD_PORTRAIT_LIVE).select(
        "person_id", "provisional", "events", "cart_adds", "open_cart_value", "last_category"
    )
    row = lambda who, events, value: (persons[who], False, events, 1, value, "sneakers")  # noqa: E731
    from portrait.identity.history import person_id_of

    (new,) = spark.range(1).select(person_id_of(F.lit("cookie:c_new"))).first()
    want = spark.createDataFrame(
        [
            row("a", 1, 30.0),
            row("b", 2, 0.0),  # the checkout closed the cart
            row("c", 1, 30.0),
            row("d", 1, 30.0),
            row("h", 1, 30.0),
            (new, True, 1, 0, 0.0, None),  # unknown to the identity map: a provisional id
        ],
        "person_id string, provisional boolean, events long, cart_adds long, open_cart_value double, "
        "last_category string",
    )
    assertDataFrameEqual(got, want)


@pytest.mark.slow
def test_a_micro_batch_replayed_after_its_writes_writes_nothing_again(spark, live_lake):
    """Killed after a batch's Delta commits but before Spark recorded it done: the restart runs the
    same batch id again, and every write of it is a no-op (idempotent appends, recomputed MERGE)."""
    cfg, lake, persons = live_lake
    write_landing(cfg, "clickstream", D, FIRST_FILE, name="part-0.txt")
    write_landing(cfg, "clickstream", D, SECOND_FILE, name="part-1.txt")
    _run(spark, cfg)
    assertDataFrameEqual(_actions(lake), _expected_actions(spark, persons))
    versions = {t: lake.version(t) for t in catalog.LIVE_TABLES}
    events = lake.read(catalog.SILVER_LIVE_EVENTS).count()

    checkpoints = Path(cfg.paths.lakehouse) / "_checkpoints" / "live"
    for query in ("ingest", "decide"):
        _forget_last_commit(checkpoints / query)
    _run(spark, cfg)
    assertDataFrameEqual(_actions(lake), _expected_actions(spark, persons))
    assert lake.read(catalog.SILVER_LIVE_EVENTS).count() == events
    for table in (catalog.SILVER_LIVE_EVENTS, catalog.GOLD_LIVE_ACTIONS, catalog.BRONZE_LIVE_QUARANTINE):
        assert lake.version(table) == versions[table], table  # the replayed appends committed nothing
    _check_live_portrait(spark, lake, persons)


def _forget_last_commit(checkpoint: Path) -> None:
    """Remove the query's record that its last batch finished (as a kill between the sink's commit
    and Spark's would leave it): the restart plans and runs that batch again."""
    commits = sorted((p for p in (checkpoint / "commits").iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    last = commits[-1]
    last.unlink()
    (checkpoint / "commits" / f".{last.name}.crc").unlink(missing_ok=True)


@pytest.mark.slow
def test_files_written_while_the_long_running_job_runs(spark, live_lake):
    """The long-running job (processing-time trigger) picks files up as they land."""
    from portrait.pipeline import run_stage

    cfg, lake, persons = live_lake
    result: dict = {}
    job = threading.Thread(
        target=lambda: result.update(run_stage("live", spark, cfg, D, trigger_seconds=1)), daemon=True
    )
    job.start()
    _wait(lambda: len(spark.streams.active) == 2, "both queries started")
    _land_whole(cfg, FIRST_FILE, "part-0.txt")
    _wait(lambda: lake.read(catalog.SILVER_LIVE_EVENTS).count() == 6, "the first file ingested")
    _land_whole(cfg, SECOND_FILE, "part-1.txt")
    _wait(lambda: lake.read(catalog.GOLD_LIVE_ACTIONS).count() >= 4, "the abandoned carts decided")
    time.sleep(3)  # a few more micro-batches: nothing more may come
    for query in spark.streams.active:
        query.stop()
    job.join(120)
    assert not job.is_alive()
    assertDataFrameEqual(_actions(lake), _expected_actions(spark, persons))


def _land_whole(cfg, lines: list[str], name: str) -> None:
    """Land a file as the job requires while it runs: written beside the folder, then renamed in (a
    file the stream lists while it is being written would be read cut)."""
    staging, folder = Path(cfg.paths.landing) / "_staging", Path(cfg.paths.landing) / "clickstream" / f"date={D}"
    staging.mkdir(parents=True, exist_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    (staging / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    (staging / name).replace(folder / name)


def _wait(condition, what: str, timeout_s: float = 240.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        time.sleep(1)


# A visitor the identity map does not know (a cookie, no account) who abandons a cart: a provisional id.
Z_CART = json.dumps(
    {"event_id": "e7", "anonymous_id": "c_z", "event_type": "add_to_cart", "ts": "2026-11-01 10:00:00", **CART}
)


def _identifiers(lake: Lakehouse, table: catalog.Table) -> dict[str, tuple[str | None, str | None]]:
    return {r["person_id"]: (r["id_type"], r["id_value"]) for r in lake.read(table).collect()}


@pytest.mark.slow
def test_erasing_a_person_deletes_the_live_rows_written_under_their_provisional_id(spark, live_lake):
    """The live job writes a visitor the identity map does not know (cookie c_z) under a provisional
    id, with the cookie on the portrait row and on the decision. The identity stage then links c_z to
    person a, whose id is another one: erasing a deletes every live row of theirs, those under the
    provisional id included (found by the cookie, not by the id), and no one else's. Only the job's
    own run shows the identifier carried through the trigger's streaming state to gold.live_actions.
    The two tables exist from before the identifier columns: the job adds them when it starts."""
    from portrait import erase
    from portrait.identity.history import person_id_of

    cfg, lake, persons = live_lake
    for table in (catalog.GOLD_PORTRAIT_LIVE, catalog.GOLD_LIVE_ACTIONS):  # as a lake written before the
        older = ", ".join(f"{c.name} {c.type}" for c in table.columns if c.name not in ("id_type", "id_value"))
        spark.createDataFrame([], older).write.format("delta").save(lake.path(table))  # the job adds them
    write_landing(cfg, "clickstream", D, [*FIRST_FILE, Z_CART], name="part-0.txt")
    write_landing(cfg, "clickstream", D, SECOND_FILE, name="part-1.txt")
    _run(spark, cfg)
    z, new = (spark.range(1).select(person_id_of(F.lit(f"cookie:{c}"))).first()[0] for c in ("c_z", "c_new"))
    resolved = dict.fromkeys(persons.values(), (None, None))
    portrait = {**resolved, z: ("cookie", "c_z"), new: ("cookie", "c_new")}
    assert _identifiers(lake, catalog.GOLD_PORTRAIT_LIVE) == portrait
    decided = {**{persons[w]: (None, None) for w in "acdh"}, z: ("cookie", "c_z")}
    assert _identifiers(lake, catalog.GOLD_LIVE_ACTIONS) == decided
    assert lake.read(catalog.GOLD_LIVE_ACTIONS).where(F.col("person_id") == z).first()["action"] == "none"

    links = [("account", f"u_{w}", p) for w, p in persons.items()] + [("cookie", "c_z", persons["a"])]
    lake.overwrite(spark.createDataFrame(links, source.MAP_SCHEMA), catalog.SILVER_IDENTITY_MAP)
    lake.overwrite(
        spark.createDataFrame([], "id_type string, id_value string, reason string, as_of_date date"),
        catalog.SILVER_IDENTITY_EXCLUDED,
    )
    result = erase.run(lake, erase.RunConf.of(cfg), D, identifiers=["account=u_a"])

    gone = {persons["a"], z}
    assert _identifiers(lake, catalog.GOLD_PORTRAIT_LIVE) == {p: v for p, v in portrait.items() if p not in gone}
    assert _identifiers(lake, catalog.GOLD_LIVE_ACTIONS) == {p: v for p, v in decided.items() if p not in gone}
    left = {r["event_id"] for r in lake.read(catalog.SILVER_LIVE_EVENTS).collect()}
    assert left == {"e2", "e3", "e4", "e5", "e6", "e9"}
    deleted = result["rows_deleted"]
    assert [deleted[t.full_name] for t in (catalog.SILVER_LIVE_EVENTS, catalog.GOLD_PORTRAIT_LIVE)] == [2, 2]
    assert deleted[catalog.GOLD_LIVE_ACTIONS.full_name] == 2


# --- a real kill ------------------------------------------------------------------------------------


FIRST_BATCH_VERSION = 2


def _live_conf_file(root: Path, policy: Path) -> Path:
    """A conf file for the CLI with the fixture's lake (`make_config(root, ...)`'s paths)."""
    conf = root / "conf.yaml"
    conf.write_text(
        f"extends: {ROOT / 'conf' / 'local.yaml'}\n"
        f"paths: {{lakehouse: {root / 'lakehouse'}, landing: {root / 'landing'}, truth: {root / 'truth'}}}\n"
        f'mlflow: {{tracking_uri: "sqlite:///{root / "mlflow" / "mlflow.db"}", artifact_root: {root / "mlflow"}}}\n'
        f"spark: {{jars_dir: {ROOT / '.jars'}, conf: {{spark.ui.enabled: 'false'}}}}\n"
        f"score: {{policy_file: {policy}}}\n"
        "live: {lateness_minutes: 5, max_files_per_trigger: 1}\n",
        encoding="utf-8",
    )
    return conf


@pytest.mark.slow
def test_the_job_killed_right_after_its_commits_restarts_to_each_action_once(spark, live_lake, tmp_path):
    """SIGKILL of the long-running `portrait live` process (a real JVM) the moment Delta has its first
    live events, and again the moment it has its first live actions: both kills land between a
    micro-batch's Delta commit and Spark's record of the batch (the window a replay must survive).
    The restarts run the same batches again; the actions are still the expected ones, each once.
    Only a separate process can be killed like this: the in-process replay test above removes the
    checkpoint's commit file instead."""
    cfg, lake, persons = live_lake
    _live_conf_file(tmp_path, tmp_path / "actions.yaml")  # the fixture's policy
    write_landing(cfg, "clickstream", D, FIRST_FILE, name="part-0.txt")
    write_landing(cfg, "clickstream", D, SECOND_FILE, name="part-1.txt")
    # The job creates its tables before its queries start (version 0 the table, 1 its empty append):
    # version 2 is the first micro-batch's commit to each.
    events, actions = (Path(lake.path(t)) for t in (catalog.SILVER_LIVE_EVENTS, catalog.GOLD_LIVE_ACTIONS))
    killed = []
    for table in (events, actions):
        job = tinylake.start_cli(tmp_path, "live", "--trigger-seconds", "1", date=D)
        killed.append(tinylake.kill_on_commit(job, table, FIRST_BATCH_VERSION, timeout=600))
    assert killed == [True, True], killed
    done = tinylake.run_cli(tmp_path, "live", "--available-now", date=D)
    assert done.code == 0, done.stderr[-3000:]
    assertDataFrameEqual(_actions(lake), _expected_actions(spark, persons))
    kept = lake.read(catalog.SILVER_LIVE_EVENTS).groupBy("event_id").count()
    assert sorted((r["event_id"], r["count"]) for r in kept.collect()) == [(f"e{i}", 1) for i in (1, 2, 3, 4, 5, 6, 9)]
    _check_live_portrait(spark, lake, persons)


def test_the_daily_score_counts_the_live_contacts_of_its_date_in_its_caps(spark, live_lake):
    """`score`'s contact history (`scoring.run._history`): a live reminder sent during D puts the
    person in the quiet period of D's daily action; a live decision that contacted nobody (no
    consent) caps nothing; a daily row of D itself (an earlier run of score for D, which a rerun
    replaces) never caps D."""
    from portrait.actions import with_next_action
    from portrait.live.decide import live_action_rows
    from portrait.scoring.run import _history

    cfg, lake, persons = live_lake
    decided = spark.createDataFrame(
        [
            (D, persons["a"], "live_cart_reminder", "live_cart_reminder", "push", False),
            (D, persons["b"], "live_cart_reminder", "none", None, False),
        ],
        "date date, person_id string, intended_action string, action string, channel string, holdout boolean",
    ).select(
        "*",
        F.lit(None).cast("string").alias("id_type"),
        F.lit(None).cast("string").alias("id_value"),
        F.array(F.lit("live_cart_reminder")).alias("fired_actions"),
        F.lit(None).cast("timestamp").alias("fired_at"),
        F.lit("o").alias("offer"),
        F.lit(EXPERIMENT).alias("experiment_id"),
        F.lit(1.0).alias("expected_value"),
        F.lit("r").alias("reason"),
        F.lit("v").alias("policy_version"),
    )
    rows = live_action_rows(decided, query_id="q", batch_id=0, decided_at=dt.datetime(2026, 11, 1, 10))
    lake.append_once(rows, catalog.GOLD_LIVE_ACTIONS, app_id="test-live", version=0)
    same_day = (D, persons["c"], "daily_offer", "push", "d", "daily_offer_x", False, True, 1.0, "t")
    lake.append_once(
        spark.createDataFrame([same_day], catalog.GOLD_ACTIONS_SENT.ddl),
        catalog.GOLD_ACTIONS_SENT,
        app_id="t",
        version=0,
    )

    policy = Policy.model_validate(POLICY).daily()
    daily = policy.model_copy(update={"actions": [policy.actions[0].model_copy(update={"channels": ["push"]})]})
    scored = spark.createDataFrame(
        [(persons[w], 0.9, True, False, True, False) for w in ("a", "b", "c")],
        "person_id string, purchase_propensity double, consent_push boolean, consent_email boolean, "
        "consent_sms boolean, consent_wechat boolean",
    )
    got = with_next_action(scored, daily, history=_history(lake, D), date=D, holdout_share=0.0, include_date=True)
    by_person = {r["person_id"]: (r["action"], r["reason"]) for r in got.collect()}
    assert by_person[persons["a"]][0] == "none", by_person
    assert by_person[persons["a"]][1].startswith("quiet period of 2 days"), by_person
    assert [by_person[persons[w]][0] for w in ("b", "c")] == ["daily_offer", "daily_offer"], by_person

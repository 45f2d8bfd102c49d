"""The daily run report: sections from small aggregates, self-contained HTML, rendered by real Chromium."""

from __future__ import annotations

import base64
import datetime as dt
import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from helpers import ROOT, TINY_DATE

from portrait.io import Lakehouse
from portrait.report import html, run
from portrait.report.data import Section, missing, uplift_columns

ARTIFACTS = Path(os.environ.get("PORTRAIT_TEST_ARTIFACTS", ROOT / "test-artifacts"))


def test_uplift_columns_are_found_by_their_usual_names():
    assert uplift_columns(["action", "date", "uplift", "uplift_ci_low", "uplift_ci_high"]) == (
        "uplift",
        "uplift_ci_low",
        "uplift_ci_high",
    )
    assert uplift_columns(["action", "uplift_conversion", "ci_lower", "ci_upper"]) == (
        "uplift_conversion",
        "ci_lower",
        "ci_upper",
    )
    assert uplift_columns(["action", "rate"]) == (None, None, None)


def test_the_page_is_self_contained_and_says_what_is_not_available():
    sections = [
        Section(
            "Segment sizes", pd.DataFrame({"segment_name": ["loyal", "new"], "persons": [3, 1], "share": [0.75, 0.25]})
        ),
        missing("Uplift so far", "gold.action_outcomes"),
    ]
    page = html.render(sections, date=TINY_DATE, lakehouse="/x/lakehouse", generated=dt.datetime(2026, 11, 2))
    assert "gold.action_outcomes not available yet" in page
    assert "<td>loyal</td>" in page
    # Nothing is fetched: no script, no external URL, charts are data: URIs.
    assert "<script" not in page and not re.search(r'(src|href)="(https?:)?//', page)
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', page)) == 1


def test_an_empty_table_says_so_and_a_wide_one_scrolls_inside_the_page():
    wide = pd.DataFrame({f"column_{i}": [i] for i in range(30)})
    empty = pd.DataFrame({f"column_{i}": [] for i in range(30)})
    page = html.render(
        [Section("Caps and consent", wide), Section("Uplift so far", empty)],
        date=TINY_DATE,
        lakehouse="/x/lakehouse",
        generated=dt.datetime(2026, 11, 2),
    )
    assert page.count("<table") == 1 and '<div class="wide"><table' in page
    uplift = page[page.index("<h2>Uplift so far</h2>") :]
    assert "no rows yet" in uplift and "<table" not in uplift


def test_the_marts_sections_draw_a_funnel_an_rfm_heat_map_the_tags_and_the_cohorts():
    funnel = pd.DataFrame(
        {
            "channel": ["web", "app"],
            "sessions": [10, 4],
            "viewing_sessions": [6, 2],
            "carting_sessions": [3, 0],
            "ordering_sessions": [1, 0],
        }
    )
    grid = pd.DataFrame({"r_score": [5, 4], "F1": [3, 1], "F2": [0, 2]})
    tags = pd.DataFrame({"tag": ["a", "b"], "persons": [3, 1], "persons_previous": [2, 1], "persons_change": [1, 0]})
    cohorts = pd.DataFrame({"cohort_week": ["2026-10-12", "2026-10-19"], "W0": [1.0, 1.0], "W1": [0.5, None]})
    sections = [
        Section("Funnel", funnel),
        Section("RFM grid", grid),
        Section("Tag coverage", tags),
        Section("Retention", cohorts),
    ]
    page = html.render(sections, date=TINY_DATE, lakehouse="/x/lakehouse", generated=dt.datetime(2026, 11, 2))
    images = re.findall(r'<img [^>]*src="(data:image/png;base64,[^"]+)"', page)
    assert len(images) == 4 and all(_decodes_as_png(i) for i in images)
    assert "<td>web</td>" in page and "<th>F2</th>" in page


def test_contact_history_counts_contacted_and_held_out_apart(spark, tmp_path):
    """Held-out persons are chosen and recorded, never contacted: the report must not call them sent."""
    from portrait import catalog
    from portrait.report.data import contact_history

    lake = Lakehouse(spark, str(tmp_path / "lakehouse"))
    rows = [
        (TINY_DATE, "p1", "cart_reminder", "sms", None, "e1", False, True, 1.0, "v1"),
        (TINY_DATE, "p2", "cart_reminder", None, None, "e1", True, False, 1.0, "v1"),
        (TINY_DATE, "p3", "cart_reminder", "email", None, "e1", False, True, 1.0, "v1"),
        (TINY_DATE - dt.timedelta(days=20), "p4", "cart_reminder", "sms", None, "e1", False, True, 1.0, "v1"),
    ]
    columns = ", ".join(f"{c.name} {c.type}" for c in catalog.GOLD_ACTIONS_SENT.columns)
    lake.overwrite(spark.createDataFrame(rows, columns), catalog.GOLD_ACTIONS_SENT)

    section = contact_history(lake, TINY_DATE)
    got = section.frame.to_dict("records")
    assert got == [{"date": TINY_DATE, "action": "cart_reminder", "chosen": 3, "contacted": 2, "held_out": 1}]
    assert "held out" in section.note


def _decodes_as_png(uri: str) -> bool:
    from matplotlib import image

    data = base64.b64decode(uri.split(",", 1)[1])
    return image.imread(io.BytesIO(data), format="png").shape[0] > 10


@pytest.mark.slow
def test_the_daily_report_renders_in_headless_chromium_without_console_errors(spark, tiny_lake, tmp_path):
    cfg, _, _ = tiny_lake
    lake = Lakehouse(spark, cfg.paths.lakehouse)
    result = run(lake, cfg.mlflow, TINY_DATE, out_dir=tmp_path / "reports")
    page = Path(result["path"]).read_text(encoding="utf-8")
    assert result["sections"]["Segment sizes"] and result["sections"]["Actions by type and channel"]
    assert result["sections"]["Gate results"]
    for mart in ("Funnel", "Paths to purchase", "RFM grid", "Tag coverage", "Retention"):  # the tiny lake runs marts
        assert result["sections"][mart], mart
    assert "Portrait daily report" in page
    assert result["sections"]["Uplift so far"] or "gold.action_outcomes not available yet" in page
    images = re.findall(r'src="(data:image/png;base64,[^"]+)"', page)
    assert len(images) >= 3 and all(_decodes_as_png(i) for i in images)
    from mlflow.tracking import MlflowClient

    artifacts = MlflowClient(cfg.mlflow.tracking_uri).list_artifacts(result["mlflow_run_id"], "reports")
    assert [a.path for a in artifacts] == [f"reports/{TINY_DATE}.html"]

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("chromium is not installed: `make setup` installs it (apt-get install chromium)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"report-{TINY_DATE}.png"
    common = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1200,4000",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ]
    url = Path(result["path"]).resolve().as_uri()
    dom = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<h1>Portrait daily report" in dom.stdout and dom.stdout.count("<img") == len(images)
    shot_run = subprocess.run([*common, f"--screenshot={shot}", url], capture_output=True, text=True, timeout=120)
    assert shot_run.returncode == 0 and shot.stat().st_size > 10_000, shot_run.stderr[-2000:]
    # Page errors reach the log as console messages ("CONSOLE(line)] ..." or "Uncaught ...").
    console = [
        line
        for line in (dom.stderr + shot_run.stderr).splitlines()
        if "CONSOLE" in line or "Uncaught" in line or "Failed to load resource" in line
    ]
    print(f"\nreport screenshot: {shot}")
    assert console == []

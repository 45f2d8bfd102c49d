"""Purchase propensity on the real Online Retail orders, 13 weeks ahead, against published references.

    python -m bench.online_retail                          # ingest the export into a temp lakehouse, then model
    python -m bench.online_retail --lakehouse /some/lake   # reuse a lakehouse that already has the export

Calibration up to 2011-09-09, outcome: any purchase in the following 13 weeks (up to 2011-12-09).
Population: customers (CustomerID) with at least one product purchase up to 2011-09-09. References
measured on the same split: BG/NBD 0.729, logistic regression on RFM 0.723. The GBT is tuned with
the project's tuner on the training persons; the AUC is on held-out persons (hash of the customer).
Writes bench/results/online_retail.json and .md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import tempfile
import time
from pathlib import Path

from bench.run import RESULTS, ROOT, machine
from portrait import ingest, tuning
from portrait.config import load_config
from portrait.io import Lakehouse
from portrait.models import online_retail as orm
from portrait.spark import get_session
from portrait import catalog

EXPORT_DATE = dt.date(2011, 12, 9)
REFERENCES = {"bg_nbd": 0.729, "rfm_logistic_regression": 0.723}
GOAL = 0.76


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conf", default=str(ROOT / "conf" / "local.yaml"))
    ap.add_argument("--lakehouse", help="a lakehouse that already holds bronze.orders_online_retail")
    ap.add_argument("--max-evals", type=int, default=6)
    ap.add_argument("--earlier", type=int, default=2, help="extra training as-of dates, 13 weeks apart")
    ap.add_argument("--test-fraction", type=float, default=0.3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="portrait-online-retail-"))
    lakehouse = args.lakehouse or str(work / "lakehouse")
    cfg = load_config(args.conf, overrides={"paths.lakehouse": lakehouse, "paths.landing": str(work / "landing"),
                                            "paths.truth": str(work / "truth")})
    spark = get_session(cfg.spark)
    result: dict = {"calibration_date": orm.CALIBRATION_DATE.isoformat(), "horizon_days": orm.HORIZON_DAYS,
                    "population": "customers with >= 1 product purchase up to the calibration date",
                    "references": REFERENCES, "goal": GOAL}
    if not args.lakehouse:
        t0 = time.perf_counter()
        counts = ingest.run(spark, cfg, EXPORT_DATE, sources=["online_retail"])["online_retail"]
        result["ingest"] = {"seconds": time.perf_counter() - t0, "rows_read": counts["rows_read"],
                            "rows_kept": counts["rows_kept"]}

    t0 = time.perf_counter()
    lines = orm.customer_lines(Lakehouse(spark, lakehouse).read(catalog.BRONZE_ORDERS_ONLINE_RETAIL)).cache()
    rows = orm.training_rows(lines, as_of=orm.CALIBRATION_DATE, horizon_days=orm.HORIZON_DAYS,
                             earlier=args.earlier).cache()
    tc = cfg.train
    space = {
        "max_depth": tuning.IntRange(2, 4),
        "max_iter": tuning.IntRange(20, 120, 10),
        "step_size": tuning.LogRange(0.02, 0.2),
        "subsampling_rate": tuning.LogRange(0.5, 1.0),
    }
    _, metrics = orm.train(rows, as_of=orm.CALIBRATION_DATE, test_fraction=args.test_fraction, space=space,
                           max_evals=args.max_evals, seed=tc.seed, minimise=tuning.minimise)
    result.update({"model_seconds": time.perf_counter() - t0, "earlier_as_of_dates": args.earlier,
                   "test_fraction": args.test_fraction, "max_evals": args.max_evals,
                   "features": orm.FEATURES, "metrics": metrics, "machine": machine(spark)})
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "online_retail.json").write_text(json.dumps(result, indent=2, default=str))
    m = metrics
    lines_md = [
        "# Online Retail: purchase in the next 13 weeks", "",
        f"Calibration up to {orm.CALIBRATION_DATE}, outcome in ({orm.CALIBRATION_DATE}, {EXPORT_DATE}]. "
        f"Population: {result['population']}. Held-out persons: {args.test_fraction:.0%} by hash of the customer "
        f"id ({int(m['test_rows'])} customers, {m['test_positive_rate']:.1%} buy); training: "
        f"{int(m['train_rows'])} rows at {args.earlier + 1} as-of dates, {args.max_evals} tuning trials.", "",
        "| model | AUC |", "|---|---|",
        f"| **GBT on order-derived portrait features (this)** | **{m['test_auc']:.3f}** |",
        f"| logistic regression on log RFM, same held-out persons (this) | {m['test_auc_rfm_logistic']:.3f} |",
        f"| logistic regression on the same order features, same held-out persons (this) | {m['test_auc_logistic_all']:.3f} |",
        f"| BG/NBD (reference) | {REFERENCES['bg_nbd']:.3f} |",
        f"| logistic regression on RFM (reference) | {REFERENCES['rfm_logistic_regression']:.3f} |",
        f"| goal | {GOAL:.2f} |", "",
        f"Best validation AUC {m['best_valid_auc']:.3f}; parameters: "
        + ", ".join(f"{k[6:]}={v:g}" for k, v in m.items() if k.startswith("param_")) + ".",
    ]
    if "ingest" in result:
        lines_md.append(f"Ingest: {result['ingest']['rows_read']} lines in {result['ingest']['seconds']:.0f} s; "
                        f"model: {result['model_seconds']:.0f} s.")
    (RESULTS / "online_retail.md").write_text("\n".join(lines_md) + "\n")
    print("\n".join(lines_md))
    spark.stop()
    shutil.rmtree(work, ignore_errors=True)  # the temp lakehouse (a --lakehouse given is left alone)


if __name__ == "__main__":
    main()

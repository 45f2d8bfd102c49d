"""The PII key cannot silently change: the lake remembers a fingerprint of the key it was built with.

Every identifier is pseudonymised with HMAC-SHA256 under the PII key (`portrait.privacy`). A run
with another key would hash the same phone differently and split persons across days, silently.
So the first job that meets a lake without a fingerprint records one in
`bronze.pii_key_fingerprint`: HMAC-SHA256 of a fixed string under the key (never the key, and not
the hash of any identifier: the fixed string is no normalised phone, email or id). Every later job
compares its key's fingerprint with the recorded one and refuses on a mismatch, naming the remedy.

`check_pii_key(lake, key, job=...)` is the one function; the CLI calls it before any job runs.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from pyspark.sql import functions as F

from portrait import catalog
from portrait.io import Lakehouse

log = logging.getLogger(__name__)

TABLE = catalog.BRONZE_PII_KEY_FINGERPRINT
# A fixed message no identifier normalises to (it has spaces and a version): its HMAC names the key.
_MESSAGE = b"portrait pii key fingerprint v1"
_APP_ID = "portrait-pii-key-fingerprint"  # the first record is an append that happens once


class PiiKeyMismatchError(RuntimeError):
    """The job's PII key is not the key the lake was built with."""


def fingerprint(key: bytes) -> str:
    """Hex HMAC-SHA256 of a fixed string under `key`: equal keys give equal fingerprints, and the
    key cannot be recovered from it."""
    return hmac.new(key, _MESSAGE, hashlib.sha256).hexdigest()


def check_pii_key(lake: Lakehouse, key: bytes, *, job: str) -> str:
    """Refuse to run `job` on `lake` with a key other than the one its hashes were made with.

    Records the fingerprint on the first run against a lake that has none (a new lake, or one
    built before fingerprints existed: its key is trusted on first use, with a warning).

    Returns:
        The fingerprint, as recorded.
    Raises:
        PiiKeyMismatchError: the lake has another fingerprint; the message says what to do.
    """
    mine = fingerprint(key)
    if not lake.exists(TABLE):
        if lake.exists(catalog.BRONZE_CLICKSTREAM) or lake.exists(catalog.SILVER_IDENTITY_MAP):
            log.warning(
                "%s: no PII key fingerprint recorded for this existing lake; recording the key of this "
                "run (%s) as the lake's key",
                lake.root,
                job,
            )
        row = lake.spark.range(1).select(
            F.lit(mine).alias("fingerprint"),
            F.lit("hmac-sha256-v1").alias("method"),
            F.current_timestamp().alias("recorded_at"),
            F.lit(job).alias("recorded_by"),
        )
        lake.append_once(row, TABLE, app_id=_APP_ID, version=0)
    recorded = [r["fingerprint"] for r in lake.read(TABLE).select("fingerprint").distinct().collect()]
    if recorded != [mine]:
        raise PiiKeyMismatchError(
            f"the PII key of this run (fingerprint {mine[:12]}...) is not the key the lake at {lake.root} was built "
            f"with (fingerprint {', '.join(f[:12] + '...' for f in recorded)}, in {TABLE}): its identifiers would "
            "hash differently and split persons. Run with the lake's key (check the PORTRAIT_PII_KEY secret), "
            "or re-key on purpose by a rebuild: a new lakehouse ingested from the landing zone with the new key."
        )
    return mine

"""Two runs of the same job for the same date at the same time (issue 15): one wins and the other
stops with one line and exit code 75 (or both succeed); the tables equal those of one uninterrupted
run (`tiny_chain`), never doubled or corrupted."""

from __future__ import annotations

import pytest
import tinylake

from portrait.exits import ExitCode

pytestmark = [pytest.mark.slow]


@pytest.mark.parametrize("job", ["ingest", "features", "score"])
def test_two_runs_at_once_end_as_one(spark, tiny_chain, tmp_path, job):
    """Two processes of one job race for the same Delta commits: only separate JVMs started as a scheduler starts them can race."""
    after, _ = tiny_chain
    before = after[tinylake.CHAIN[tinylake.CHAIN.index(job) - 1]] if job != "ingest" else after["base"]
    root = tmp_path / "lake"
    cfg = tinylake.copy_lake(before, root)
    procs = [tinylake.start_cli(root, job) for _ in range(2)]
    ends = [(p.wait(timeout=900), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in ends)
    print(job, "exit codes:", codes)
    assert codes in ([0, 0], [0, ExitCode.WRITE_CONFLICT]), [err[-3000:] for _, _, err in ends]
    for code, _, err in ends:
        if code == ExitCode.WRITE_CONFLICT:
            last = err.strip().splitlines()[-1]
            assert last.startswith(f"portrait: {job} {tinylake.D}: lost a write conflict"), last
    expected = tinylake.conf_of(after[job])
    tinylake.assert_same_tables(spark, expected, cfg)

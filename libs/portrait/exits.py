"""The exit codes of `portrait` and `jobs/<job>.py`, for schedulers: each code, what it means and
what to do, in one place.

The CLI, `guards` and the `status`/`person` commands return these members; `portrait --help`
prints `describe()`, and the README's table is `markdown()` (`python -m portrait.exits` prints it;
a test keeps them equal).
"""

from __future__ import annotations

import enum
import textwrap


class ExitCode(enum.IntEnum):
    """A process exit code, with what it means (`meaning`) and what to do about it (`action`, may be empty)."""

    OK = 0
    FAILED = 1
    USAGE = 2
    KEY_MISMATCH = 3
    DATE_BEYOND_DATA = 4
    GATE_FAILED = 5
    WRITE_CONFLICT = 75  # EX_TEMPFAIL (sysexits.h): a temporary failure, a retry may succeed
    INTERRUPTED = 130  # 128 + SIGINT, as a shell reports it

    @property
    def meaning(self) -> str:
        return _TEXT[self][0]

    @property
    def action(self) -> str:
        return _TEXT[self][1]


_TEXT: dict[ExitCode, tuple[str, str]] = {
    ExitCode.OK: (
        "done (also a backfill with nothing left to do, and a date skipped by `--allow-empty`: no data for it)",
        "",
    ),
    ExitCode.FAILED: (
        "the job failed: an input table missing, a stage raised, Spark failed (or `portrait person` found no "
        "such person); stderr says what in one line, the run log keeps the traceback",
        "fix the cause; rerunning the date is safe",
    ),
    ExitCode.USAGE: (
        "bad arguments or configuration (unknown option or key, a value out of bounds, bad date, "
        "`PORTRAIT_PII_KEY` missing, an identifier to erase that is not valid); checked before Spark starts",
        "fix the call; do not retry",
    ),
    ExitCode.KEY_MISMATCH: (
        "refused: the PII key is not the one this lake was built with",
        "use the lake's key, or rebuild the lake to re-key it",
    ),
    ExitCode.DATE_BEYOND_DATA: (
        "refused: the date is beyond the data (`features`, `score`)",
        "wait for the data (or ingest it), or `--allow-empty` to skip the date",
    ),
    ExitCode.GATE_FAILED: (
        "the quality gate refused to publish the scored batch; readers keep the previous day",
        "look at the gate's checks in the message; rerun after the cause is fixed",
    ),
    ExitCode.WRITE_CONFLICT: (
        "lost a write conflict: another job wrote the same table at the same time (Delta's optimistic "
        "concurrency); this run committed nothing to that table",
        "nothing if the other run wrote the date; rerun (idempotent) if it failed",
    ),
    ExitCode.INTERRUPTED: ("interrupted (Ctrl-C / SIGINT)", "rerun the date"),
}


def describe(width: int = 100) -> str:
    """Every exit code with its meaning and what to do, as plain text (the CLI's --help epilog)."""
    lines = ["exit codes:"]
    for code in ExitCode:
        text = code.meaning + (f". To do: {code.action}" if code.action else "")
        lines += textwrap.wrap(
            text.replace("`", ""), width, initial_indent=f"  {code.value:<4} ", subsequent_indent=" " * 7
        )
    return "\n".join(lines)


def markdown() -> str:
    """The README's table of exit codes."""
    lines = ["| code | meaning | what to do |", "|---|---|---|"]
    lines += [f"| {code.value} | {code.meaning} | {code.action or '—'} |" for code in ExitCode]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")

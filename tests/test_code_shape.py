"""Code shape (issue 31): no function in libs/ is over 80 lines. Pure Python (`ast`), no Spark."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import ROOT

MAX_FUNCTION_LINES = 80
LIBS = ROOT / "libs"


def function_lengths(source: str, filename: str = "<source>") -> list[tuple[int, str, int]]:
    """(line, name, length) of every function in `source`, methods and nested functions included,
    in line order. The length runs from the `def` line to the function's last line, docstring
    included, decorators not."""
    tree = ast.parse(source, filename=filename)
    return sorted(
        (node.lineno, node.name, node.end_lineno - node.lineno + 1)
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno is not None
    )


def too_long(root: Path, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """`<file>:<line> <name>: <length> lines` for every function under `root` longer than `limit`,
    files named from `root`'s parent (`libs/portrait/...`)."""
    found = []
    for path in sorted(root.rglob("*.py")):
        shown = path.relative_to(root.parent).as_posix()
        for line, name, length in function_lengths(path.read_text(encoding="utf-8"), filename=shown):
            if length > limit:
                found.append(f"{shown}:{line} {name}: {length} lines")
    return found


def _def(name: str, length: int, indent: str = "", args: str = "") -> str:
    """Source of a function of exactly `length` lines: the `def` line, then `length - 1` statements."""
    return f"{indent}def {name}({args}):\n" + f"{indent}    x = 0\n" * (length - 1)


def test_no_function_in_libs_is_over_80_lines():
    offenders = too_long(LIBS)
    assert offenders == [], (
        f"functions over {MAX_FUNCTION_LINES} lines; split each along the concerns it mixes, into helpers "
        "named for what they decide:\n" + "\n".join(offenders)
    )


def test_the_walk_reads_the_library():
    # Not vacuous: the walk finds the library's functions, the long ones of issue 31 among them.
    names = {
        (path.relative_to(LIBS).as_posix(), name)
        for path in LIBS.rglob("*.py")
        for _, name, _ in function_lengths(path.read_text(encoding="utf-8"))
    }
    assert ("portrait/ingest/validate.py", "classify") in names
    assert ("portrait/actions/arbitrate.py", "with_next_action") in names
    assert ("portrait/generator/build.py", "generate") in names


def test_every_function_over_the_limit_is_named_with_its_file_line_and_length(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "short.py").write_text(_def("exactly_at_the_limit", 80) + _def("tiny", 2))
    outer = "def outer():\n" + _def("nested", 83, indent="    ") + "    return nested\n"  # 85 lines
    (pkg / "sub" / "long.py").write_text(
        '"""A module."""\n'  # line 1
        + _def("one_over", 81)  # lines 2-82
        + "class Holder:\n"  # line 83
        + _def("long_method", 82, indent="    ", args="self")  # lines 84-165
        + outer  # lines 166-250, `nested` from line 167
        + "async "
        + _def("coroutine", 90)  # lines 251-340
    )
    assert too_long(pkg) == [
        "pkg/sub/long.py:2 one_over: 81 lines",
        "pkg/sub/long.py:84 long_method: 82 lines",
        "pkg/sub/long.py:166 outer: 85 lines",
        "pkg/sub/long.py:167 nested: 83 lines",
        "pkg/sub/long.py:251 coroutine: 90 lines",
    ]
    assert too_long(pkg, limit=1000) == []

"""The README's quickstart commands exist as Makefile targets."""
from __future__ import annotations

import re

from helpers import ROOT


def test_the_quickstart_commands_are_makefile_targets():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^make ([a-z][\w-]*)", "\n".join(re.findall(r"```bash\n(.*?)```", quickstart, re.S)), re.M)
    assert {"demo", "test"} <= set(commands)
    targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M))
    assert set(commands) <= targets, set(commands) - targets

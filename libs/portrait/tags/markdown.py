"""The tag catalog as Markdown: `python -m portrait.tags --out docs/tag_catalog.md [--conf conf/local.yaml]`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from portrait.config import load_config
from portrait.features.catalog import write_or_print
from portrait.tags.definitions import GROUPS, Tag, parse_tags, portrait_schema


def to_markdown(tags: Sequence[Tag], *, source: str = "conf/tags.yaml") -> str:
    """The catalog as a Markdown document, one table per group."""

    def cell(value: object) -> str:
        return str(value).replace("|", "\\|")

    lines = [
        "# Tag catalog: `gold.tags`",
        "",
        f"Generated from `{source}` by `python -m portrait.tags --out docs/tag_catalog.md`; do not edit",
        "by hand. A `when` tag holds where its expression over `gold.portrait` columns is true (null is",
        "false). A percentile tag holds for the highest `top` share of the as-of date's population",
        "(the persons passing `when` with a non-null feature), ties at the threshold included.",
        "Tags combine with features in `portrait audience --where ...`.",
    ]
    for group in GROUPS:
        lines += ["", f"## {group}", "", "| tag | description | definition |", "|---|---|---|"]
        for t in (t for t in tags if t.group == group):
            if t.percentile is None:
                definition = f"`{t.when}`"
            else:
                definition = f"top {t.percentile.top:.0%} by `{t.percentile.feature}`"
                definition += f" among `{t.when}`" if t.when else ""
            lines.append(f"| `{t.name}` | {cell(t.description)} | {cell(definition)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the tag catalog as Markdown (structure checked, no Spark).")
    parser.add_argument(
        "--conf",
        type=Path,
        default=Path("conf/local.yaml"),
        help="config naming the catalog (tags.file) and the categories (default: %(default)s)",
    )
    parser.add_argument("--out", type=Path, help="file to write (default: print)")
    args = parser.parse_args(argv)
    cfg = load_config(args.conf)
    path = cfg.conf_dir / cfg.tags.file
    tags = parse_tags(path, portrait_schema(cfg.features.categories).fieldNames())
    write_or_print(to_markdown(tags, source=f"{args.conf.parent / cfg.tags.file}"), args.out)

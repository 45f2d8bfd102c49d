"""The feature catalog, printed from the registry that builds the portrait.

    python -m portrait.features.catalog --out docs/feature_catalog.md [--categories a,b,...]

Without categories, per-category features appear once with `<category>` in their name.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from portrait.features.registry import CATEGORY_PLACEHOLDER, features

COLUMNS = ("name", "family", "definition", "window", "unit", "type", "model input")


def catalog(categories: list[str] | None = None) -> list[dict]:
    """One dict per `gold.portrait` column, in table order.

    Keys: name, family, definition, window_days (None when not a window), unit, type, model_input.
    `categories` expands the per-category features; None lists them once as `<category>`.
    """
    return [f.catalog_row() for f in features(list(categories) if categories is not None else [CATEGORY_PLACEHOLDER])]


def to_markdown(rows: list[dict]) -> str:
    """The catalog as a Markdown document with one table."""

    def cell(value: object) -> str:
        return str(value).replace("|", "\\|")

    lines = [
        "# Feature catalog: `gold.portrait`",
        "",
        "Generated from `portrait.features.registry` by",
        "`python -m portrait.features.catalog --out docs/feature_catalog.md`; do not edit by hand.",
        "One row per column of the table, in table order. An n-day window ends at the as-of date and",
        "includes it (the as-of day and the n-1 days before); recency looks back at most",
        f"`features.history_days`. `{CATEGORY_PLACEHOLDER}` stands for each configured category",
        "(`features.categories`). Shares and rates are null when their denominator is 0. Model input =",
        "used by the propensity model (`numeric_feature_columns`).",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for r in rows:
        window = f"{r['window_days']} d" if r["window_days"] else ""
        values = (
            f"`{r['name']}`",
            r["family"],
            r["definition"],
            window,
            r["unit"],
            r["type"],
            "yes" if r["model_input"] else "no",
        )
        lines.append("| " + " | ".join(cell(v) for v in values) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the gold.portrait feature catalog as Markdown.")
    parser.add_argument("--out", type=Path, help="file to write (default: print)")
    parser.add_argument("--categories", help="comma-separated categories to expand (default: <category>)")
    args = parser.parse_args(argv)
    cats = [c.strip() for c in args.categories.split(",") if c.strip()] if args.categories else None
    write_or_print(to_markdown(catalog(cats)), args.out)


def write_or_print(text: str, out: Path | None) -> None:
    """Write a generated document to `out` (creating its folder), or print it when `out` is None."""
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    else:
        print(text, end="")


if __name__ == "__main__":
    main()

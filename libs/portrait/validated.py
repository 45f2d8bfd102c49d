"""One validation mechanism for every YAML file Portrait reads (conf, tag catalog, action policy).

A file's shape is a pydantic model derived from `Frozen`: unknown keys are refused, instances
are immutable, values are checked strictly (YAML already types them: `"3"` is not an integer)
and bounds are declared on the fields (`Field(ge=1)`). Validation errors become one
`ConfigError` whose message has one line per problem, naming the file and the key path:

    conf/x.yaml: train.max_evals: must be >= 1, got 0
    conf/tags.yaml: tags[3].colour: unknown key (allowed: description, group, name, percentile, when) (name 't1')

A list entry that has a `name` is named at the end of its line, so a long catalog stays readable.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A configuration file or override is wrong; the message names the file and the key."""


class Frozen(BaseModel):
    """Base of every validated file section: unknown keys forbidden, frozen, strict types."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def validate(model_cls: type[M], data: Any, *, file: str, context: dict[str, Any] | None = None) -> M:
    """`data` (parsed YAML) as a `model_cls`; `context` reaches the model's validators.

    Raises:
        ConfigError: one line per problem, each naming `file` and the key path.
    """
    try:
        return model_cls.model_validate(data, context=context)
    except ValidationError as exc:
        lines = [_line(err, model_cls, data, file=file) for err in exc.errors()]
        raise ConfigError("\n".join(lines)) from None


def replace(model: M, **changes: Any) -> M:
    """A copy of a frozen `model` with `changes`, validated like a file (unlike `model_copy`)."""
    try:
        return type(model).model_validate({**dict(model), **changes})
    except ValidationError as exc:
        lines = [_line(err, type(model), {**dict(model), **changes}, file=type(model).__name__) for err in exc.errors()]
        raise ConfigError("\n".join(lines)) from None


def read_yaml(path: str | Path, *, what: str) -> Any:
    """The parsed YAML of `path` (None for an empty file); errors name the file and `what` it is."""
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the {what}: {exc}") from exc


def load_yaml_model(path: str | Path, model_cls: type[M], *, what: str, context: dict[str, Any] | None = None) -> M:
    """Read a YAML file and validate it as `model_cls`.

    Args:
        path: the file.
        model_cls: a `Frozen` model of the whole file.
        what: what the file is, for read errors ("tag catalog").
        context: passed to the model's validators (e.g. the columns a catalog may name).

    Example:
        catalog = load_yaml_model("conf/tags.yaml", TagCatalog, what="tag catalog")
    """
    data = read_yaml(path, what=what)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the {what} must be a mapping with the keys {', '.join(model_cls.model_fields)}")
    return validate(model_cls, data, file=str(path), context=context)


def load_yaml_mapping(path: str | Path, *, what: str, allowed: tuple[str, ...]) -> dict:
    """A YAML mapping with no top-level keys but `allowed`, not validated further (prefer
    `load_yaml_model`); errors name the file, `what` it is and the bad key."""
    data = read_yaml(path, what=what)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the {what} must be a mapping with the keys {', '.join(allowed)}")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ConfigError(f"{path}: unknown key '{unknown[0]}' (allowed: {', '.join(allowed)})")
    return data


# --- error lines -----------------------------------------------------------------------------

_BOUNDS = {
    "greater_than_equal": (">=", "ge"),
    "greater_than": (">", "gt"),
    "less_than_equal": ("<=", "le"),
    "less_than": ("<", "lt"),
}
# Messages that only fill in the error's context (`ctx`) and the value given (`got`).
_TEMPLATES = {
    "missing": "required, but missing",
    "literal_error": "must be one of {expected}, got {got}",
    "too_short": "must have at least {min_length} item(s), got {got}",
    "too_long": "must have at most {max_length} item(s), got {got}",
    "string_pattern_mismatch": "must match {pattern}, got {got}",
}
_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def _line(err: Any, root: type[BaseModel], data: Any, *, file: str) -> str:
    loc = tuple(err["loc"])
    is_key = bool(loc) and loc[-1] == "[key]"
    if is_key:
        loc = loc[:-1]
    where = _dotted(loc) or "<top>"
    names = _entry_names(data, loc)
    suffix = f" (name {', '.join(names)})" if names else ""
    return f"{file}: {where}: {'key ' if is_key else ''}{_message(err, root, loc)}{suffix}"


def _dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _message(err: Any, root: type[BaseModel], loc: tuple) -> str:
    kind, ctx, got = err["type"], err.get("ctx") or {}, _show(err.get("input"))
    if kind == "extra_forbidden":
        allowed = _fields_at(root, loc[:-1])
        return f"unknown key (allowed: {', '.join(allowed)})" if allowed else "unknown key"
    if kind in _TEMPLATES:
        return _TEMPLATES[kind].format(**ctx, got=got)
    if kind in _BOUNDS:
        op, name = _BOUNDS[kind]
        bound = ctx[name]
        return f"must be {op} {int(bound) if isinstance(bound, float) and bound.is_integer() else bound}, got {got}"
    if kind in _EXPECTED:
        return f"must be {_EXPECTED[kind]}, got {got}"
    if kind == "string_too_short":
        return "must not be empty" if ctx["min_length"] == 1 else f"must have at least {ctx['min_length']} characters"
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    return f"{err['msg']}, got {got}"


def _entry_names(data: Any, loc: tuple) -> list[str]:
    """The `name` of each list entry on the way to `loc` (tags[3] -> 't1')."""
    names = []
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(part, int) and isinstance(data, dict) and isinstance(data.get("name"), str):
            names.append(repr(data["name"]))
    return names


def _unwrap(tp: Any) -> Any:
    """The type inside Annotated[...] and Optional[...]."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            inner = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(inner) != 1:
                return tp
            tp = inner[0]
        else:
            return tp


def _fields_at(root: type[BaseModel], loc: tuple) -> list[str]:
    """The keys allowed by the model found at `loc` under `root` (empty if it is not a model)."""
    tp: Any = root
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(part, str) and part in tp.model_fields:
            tp = tp.model_fields[part].annotation
        elif typing.get_origin(tp) in (dict, list, tuple) and typing.get_args(tp):
            tp = typing.get_args(tp)[-1]
        else:
            return []
    tp = _unwrap(tp)
    return sorted(tp.model_fields) if isinstance(tp, type) and issubclass(tp, BaseModel) else []

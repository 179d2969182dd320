"""Load YAML data files into pydantic models, with errors that name file, line and key."""

from __future__ import annotations

import difflib
from pathlib import Path
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from bots.core.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

# libyaml's loader when PyYAML was built with it: several times faster than the pure-Python
# one, which a sweep's start (portals, selector maps, rules) would otherwise spend parsing.
SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _compose(text: str) -> yaml.Node | None:
    return yaml.compose(text, Loader=SafeLoader)


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """Walk the YAML node tree along a pydantic error location; return the deepest 1-based line."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def line_of(path: Path, loc: tuple[int | str, ...]) -> int | None:
    """The line of a key path in a YAML file that has already loaded (for errors found later)."""
    try:
        return _line_of(_compose(path.read_text(encoding="utf-8")), loc)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None


def key_line(path: Path, loc: tuple[int | str, ...]) -> int | None:
    """The line where the last key of `loc` is written (not its value, which may start on the
    next line), however the file is indented or quoted."""
    try:
        node: yaml.Node | None = _compose(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    line = None
    for part in loc:
        if not isinstance(node, yaml.MappingNode):
            return line
        found = next(((k, v) for k, v in node.value if k.value == part), None)
        if found is None:
            return line
        line, node = found[0].start_mark.line + 1, found[1]
    return line


def load_model(path: Path, model: type[M]) -> M:
    """Parse `path` as YAML and validate it as `model`; raise ConfigError naming the place of
    every problem the file has, in the order of the file."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(name, None, "(file)", f"cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(name, None, "(file)", f"not UTF-8 text (byte {exc.start})") from exc
    try:
        loader = SafeLoader(text)
        try:  # one parse: the nodes (for lines and repeated keys), then the data built from them
            node = loader.get_single_node()
            # Before the data is built: building it folds merge keys (<<) into the nodes in place.
            repeated = _repeated_keys(name, node)
            if repeated:  # YAML keeps the last of them, silently: say so before anything reads it
                raise ConfigError.collect(repeated)
            data: Any = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise ConfigError(name, line, "(syntax)", str(getattr(exc, "problem", exc))) from exc
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        problems = [_problem(name, node, model, err) for err in exc.errors()]
        raise ConfigError.collect(sorted(problems, key=lambda p: p.line or 0)) from exc


def _repeated_keys(file: str, node: yaml.Node | None, where: tuple[str, ...] = ()) -> list[ConfigError]:
    """A ConfigError for every key written twice in one mapping, at its second place."""
    found: list[ConfigError] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[object] = set()
        for key, value in node.value:
            name = str(key.value)
            if name in seen:
                found.append(ConfigError(file, key.start_mark.line + 1, ".".join((*where, name)), "key given twice"))
            seen.add(name)
            found += _repeated_keys(file, value, (*where, name))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found += _repeated_keys(file, item, (*where, str(index)))
    return found


def _problem(file: str, node: yaml.Node | None, model: type[BaseModel], err: ErrorDetails) -> ConfigError:
    loc = tuple(err["loc"])
    if loc and loc[-1] == "[key]":  # pydantic's mark for a mapping's key (not its value) in error
        loc = loc[:-1]
        err = {**err, "msg": f"the key itself: {err['msg']}"}
    key = ".".join(str(p) for p in loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        problem = _unknown_key(model, loc)
    elif err["type"] == "value_error":  # a validator's own words, without pydantic's "Value error, "
        problem = str(err.get("ctx", {}).get("error", err["msg"]))
    else:
        problem = err["msg"]
    return ConfigError(file, _line_of(node, loc), key, problem)


def _unknown_key(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """`unknown key 'x'`, with the closest field name of the model at that place, if one is close."""
    name = str(loc[-1])
    at = _model_at(model, loc[:-1])
    close = difflib.get_close_matches(name, list(at.model_fields) if at else [], n=1)
    return f"unknown key {name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")


def _model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model that validates the value at `loc`, followed through fields, dict values and
    list items; None when the place holds no model."""
    current: Any = model
    for part in loc:
        current = _without_none(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            current = field.annotation if field else None
        else:  # a dict's key or a list's index: one step into its values or items
            args = get_args(current)
            current = args[-1] if args else None
    current = _without_none(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _without_none(annotation: Any) -> Any:
    """`X` of an optional `X | None`."""
    if get_origin(annotation) in (Union, UnionType):
        rest = [a for a in get_args(annotation) if a is not type(None)]
        return rest[0] if len(rest) == 1 else annotation
    return annotation

"""The `links apply` file: YAML read as text, checked by a strict model, problems at file:line.

PyYAML resolves plain scalars by YAML 1.1 rules: `0101` is the octal 65, `12:30` the
sexagesimal 750, `1_000` is 1000 and `+12` is 12, so a course id would silently become
another course. Here the file is only composed (the node tree, with line numbers), never
constructed: every scalar is kept as the text written, and only a plain empty / `~` /
`null` is None. A key written twice in one mapping is an error, not "the last one wins".
The resulting plain data is validated by `LinksFile`, whose ids are strict strings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from schemas.events import ID_MAX_LENGTH, SOURCE_MAX_LENGTH
from worker.errors import ConfigError

Loc = tuple[str | int, ...]
_NULL_TAG = "tag:yaml.org,2002:null"


def _check_id(value: str) -> str:
    if not value:
        raise PydanticCustomError("id_empty", "is empty")
    if len(value) > ID_MAX_LENGTH:
        raise PydanticCustomError("id_long", f"is longer than {ID_MAX_LENGTH} characters")
    if "\x00" in value:
        raise PydanticCustomError("id_nul", "contains a NUL character")
    return value


# Strict: only a str passes (the loader makes every scalar one), never a coerced number.
Id = Annotated[str, AfterValidator(_check_id)]


class LinkEntry(BaseModel):
    """A group link (`kind: group`, the default: segment members enrolled in `course` belong
    in `group`) or a segment enrol link (`kind: enrol`, User Segment Sync: segment members
    are enrolled in `course`, with `role` and `on_leave`). The two kinds' ids are apart."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    id: Id
    kind: Literal["group", "enrol"] = "group"
    course: Id
    segment: Id
    group: Id | None = None
    role: Id | None = None
    on_leave: Literal["unenrol", "suspend"] | None = None

    @model_validator(mode="after")
    def _fields_of_its_kind(self) -> LinkEntry:
        if self.kind == "group":
            if self.group is None:
                raise PydanticCustomError("missing_group", "a group link needs a group")
            if self.role is not None or self.on_leave is not None:
                raise PydanticCustomError(
                    "enrol_only", "role and on_leave are for kind: enrol links"
                )
        elif self.group is not None:
            raise PydanticCustomError("no_group", "an enrol link has no group")
        return self


class LinksFile(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    # None (`site:` with nothing after it) is an empty list: no links for that site.
    sources: dict[str, list[LinkEntry] | None]

    @field_validator("sources")
    @classmethod
    def _check_sources(cls, value: dict[str, Any]) -> dict[str, Any]:
        for source in value:
            if not 0 < len(source) <= SOURCE_MAX_LENGTH or "\x00" in source:
                raise ValueError(f"source {source!r}: must be 1 to {SOURCE_MAX_LENGTH} characters")
        return value


class _Composer:
    """Plain data from a composed YAML node tree, remembering each value's line."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lines: dict[Loc, int] = {}
        self.seen: set[int] = set()

    def value(self, node: yaml.Node, loc: Loc, near: int = 1) -> Any:
        if id(node) in self.seen:
            # An alias: the same node again. Refused, so that `a: &x [*x]` cannot recurse
            # and a few aliases cannot expand into millions of values.
            raise ConfigError(
                f"{self.name}:{near}: {_where(loc)}: YAML aliases (*name) are not supported"
            )
        self.seen.add(id(node))
        self.lines[loc] = line = node.start_mark.line + 1
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _NULL_TAG and node.style is None:
                return None
            return node.value  # the text exactly as written
        if isinstance(node, yaml.SequenceNode):
            return [self.value(item, (*loc, i), line) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            first: dict[str, int] = {}
            for key_node, value_node in node.value:
                line = key_node.start_mark.line + 1
                if not isinstance(key_node, yaml.ScalarNode):
                    raise ConfigError(f"{self.name}:{line}: a mapping key must be a plain value")
                key = key_node.value
                if key in first:
                    raise ConfigError(
                        f"{self.name}:{line}: {_where((*loc, key))}: key written twice "
                        f"(first at line {first[key]})"
                    )
                first[key] = line
                out[key] = self.value(value_node, (*loc, key), line)
            return out
        raise ConfigError(
            f"{self.name}:{self.lines[loc]}: unexpected YAML node"
        )  # pragma: no cover

    def line_of(self, loc: Loc) -> int:
        while loc and loc not in self.lines:
            loc = loc[:-1]
        return self.lines.get(loc, 1)


def _where(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f"{'.' if text else ''}{part}"
    return text


def _message(err: ErrorDetails) -> str:
    kind = err["type"]
    if kind == "string_type":
        got = "nothing" if err["input"] is None else type(err["input"]).__name__
        return f"expected a string, got {'a ' if got in ('list', 'dict') else ''}{got}"
    if kind == "missing":
        return "missing"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "list_type":
        return "expected a list"
    if kind in ("dict_type", "model_type"):
        return "expected a mapping"
    return str(err["msg"]).removeprefix("Value error, ")


def load(path: Path) -> LinksFile:
    """The validated file; any problem is a ConfigError `file:line: where: what`."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{name}: not valid UTF-8 (byte {exc.start})") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else 1
        problem = " ".join(str(exc.problem or exc).split())
        raise ConfigError(f"{name}:{line}: not valid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name}: not valid YAML: {' '.join(str(exc).split())}") from None
    composer = _Composer(name)
    doc = None if root is None else composer.value(root, ())
    if not isinstance(doc, dict) or "sources" not in doc:
        raise ConfigError(
            f"{name}:1: expected a mapping with one key, sources: {{<source>: [...]}}"
        )
    try:
        model = LinksFile.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        line = composer.line_of(loc)
        raise ConfigError(f"{name}:{line}: {_where(loc)}: {_message(err)}") from None
    for source, items in model.sources.items():
        seen: set[tuple[str, str]] = set()  # (kind, id): each kind has its own ids
        for i, item in enumerate(items or ()):
            if (item.kind, item.id) in seen:
                loc = ("sources", source, i)
                raise ConfigError(
                    f"{name}:{composer.line_of(loc)}: {_where(loc)}: "
                    f"{item.kind} link id {item.id!r} declared twice"
                )
            seen.add((item.kind, item.id))
    return model

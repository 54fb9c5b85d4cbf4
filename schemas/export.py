"""Export the wire models as JSON Schema files under schemas/json/.

    python -m schemas.export          # (re)write the files
    python -m schemas.export --check  # exit 1, listing the files that differ

One file per input event type (`<type>.schema.json`) and one per command kind
(`lms.group.member.command.schema.json`, `lms.course.enrolment.command.schema.json`). The
files describe the wire, so they are what producers and consumers outside Python validate against.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel

from schemas.commands import EnrolCommand, GroupCommand
from schemas.events import EVENT_MODELS, event_type_of

JSON_DIR: Final = Path(__file__).resolve().parent / "json"
SUFFIX: Final = ".schema.json"
COMMAND_NAME: Final = "lms.group.member.command"
ENROL_COMMAND_NAME: Final = "lms.course.enrolment.command"
DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"


def _schema(model: type[BaseModel], title: str) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation")
    return {"$schema": DIALECT, **schema, "title": title}


def _event_schema(model: type[BaseModel], event_type: str) -> dict[str, Any]:
    schema = _schema(model, event_type)
    # The model requires `time` because the decoder fills it in from the Kafka
    # record timestamp; on the wire the attribute is optional (CONTRACT.md).
    schema["required"] = [name for name in schema["required"] if name != "time"]
    return schema


def build_schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema, freshly generated from the models."""
    schemas = {}
    for model in EVENT_MODELS:
        event_type = event_type_of(model)
        schemas[f"{event_type}{SUFFIX}"] = _event_schema(model, event_type)
    schemas[f"{COMMAND_NAME}{SUFFIX}"] = _schema(GroupCommand, COMMAND_NAME)
    schemas[f"{ENROL_COMMAND_NAME}{SUFFIX}"] = _schema(EnrolCommand, ENROL_COMMAND_NAME)
    return schemas


def render(schema: dict[str, Any]) -> str:
    """The exact file text: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def stale_files(directory: Path | None = None) -> list[str]:
    """Names of files that are missing, differ, or are no longer generated."""
    directory = JSON_DIR if directory is None else directory
    expected = {name: render(schema) for name, schema in build_schemas().items()}
    differ = []
    for name, text in expected.items():
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            differ.append(name)
    if directory.is_dir():
        differ.extend(p.name for p in directory.glob(f"*{SUFFIX}") if p.name not in expected)
    return sorted(differ)


def write(directory: Path | None = None) -> list[str]:
    """Bring the directory in line with the models; return the names changed."""
    directory = JSON_DIR if directory is None else directory
    changed = stale_files(directory)
    directory.mkdir(parents=True, exist_ok=True)
    schemas = build_schemas()
    for name in changed:
        path = directory / name
        if name in schemas:
            path.write_text(render(schemas[name]), encoding="utf-8")
        else:  # a model was removed or renamed: its old schema must not linger
            path.unlink()
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schemas.export", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="list the files that differ; exit 1 if any"
    )
    args = parser.parse_args(argv)
    if args.check:
        differ = stale_files()
        for name in differ:
            print(f"schemas/json/{name} differs from the models", file=sys.stderr)
        if differ:
            print("run: python -m schemas.export", file=sys.stderr)
        return 1 if differ else 0
    for name in write():
        print(f"wrote schemas/json/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

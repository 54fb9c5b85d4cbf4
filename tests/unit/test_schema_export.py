"""The JSON Schemas in schemas/json must be what the models generate today."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemas import export
from schemas.events import EVENT_MODELS, KNOWN_TYPES, CourseDeleted, event_type_of


def test_committed_schemas_match_the_models() -> None:
    stale = export.stale_files()
    assert stale == [], f"schemas/json is out of date for {stale}: run python -m schemas.export"


def test_every_file_matches_a_fresh_rendering() -> None:
    for name, schema in export.build_schemas().items():
        path = export.JSON_DIR / name
        assert path.read_text(encoding="utf-8") == export.render(schema), name


def test_one_file_per_event_type_and_one_per_command_kind() -> None:
    names = set(export.build_schemas())
    assert names == {f"{t}.schema.json" for t in KNOWN_TYPES} | {
        "lms.group.member.command.schema.json",
        "lms.course.enrolment.command.schema.json",
    }
    assert {event_type_of(m) for m in EVENT_MODELS} == KNOWN_TYPES


def test_render_is_sorted_indented_and_ends_with_newline() -> None:
    text = export.render({"b": 1, "a": {"d": 2, "c": 3}})
    assert text == '{\n  "a": {\n    "c": 3,\n    "d": 2\n  },\n  "b": 1\n}\n'


def test_event_schemas_describe_the_wire() -> None:
    schema = export.build_schemas()["lms.enrollment.created.schema.json"]
    assert "time" not in schema["required"]  # the record timestamp stands in
    assert schema["properties"]["type"]["const"] == "lms.enrollment.created"
    user_id = schema["$defs"]["EnrollmentData"]["properties"]["user_id"]
    assert {"type": "integer"} in user_id["anyOf"]


def test_check_detects_drift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert export.write(tmp_path) == sorted(export.build_schemas())
    assert export.stale_files(tmp_path) == []

    # A model gains a field: its schema no longer matches the file.
    class Drifted(CourseDeleted):
        reason: str | None = None

    models = tuple(Drifted if m is CourseDeleted else m for m in EVENT_MODELS)
    with monkeypatch.context() as patch:
        patch.setattr(export, "EVENT_MODELS", models)
        assert export.stale_files(tmp_path) == ["lms.course.deleted.schema.json"]
    assert export.stale_files(tmp_path) == []

    # Files edited by hand, deleted, or left over from a removed model.
    (tmp_path / "lms.course.deleted.schema.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "lms.group.deleted.schema.json").unlink()
    (tmp_path / "lms.old.thing.schema.json").write_text("{}\n", encoding="utf-8")
    assert export.stale_files(tmp_path) == [
        "lms.course.deleted.schema.json",
        "lms.group.deleted.schema.json",
        "lms.old.thing.schema.json",
    ]
    export.write(tmp_path)
    assert export.stale_files(tmp_path) == []
    assert not (tmp_path / "lms.old.thing.schema.json").exists()


def test_main_check_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert export.main(["--check"]) == 0
    monkeypatch.setattr(export, "JSON_DIR", tmp_path)
    assert export.main(["--check"]) == 1
    assert export.main([]) == 0
    assert export.main(["--check"]) == 0
    assert json.loads((tmp_path / "lms.course.deleted.schema.json").read_text())["title"] == (
        "lms.course.deleted"
    )


def test_the_type_names_are_the_schema_types() -> None:
    from schemas import event_types
    from tests.support import event_types as short

    assert len(set(event_types.ALL)) == len(event_types.ALL)
    assert set(event_types.ALL) == KNOWN_TYPES
    names = [v for k, v in vars(short).items() if k.isupper() and k != "ALL"]
    assert sorted(names) == sorted(event_types.ALL)

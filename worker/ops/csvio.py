"""Streaming reader for LMS CSV exports: header row, UTF-8 with or without BOM, quoted fields.

Spaces and tabs around a field are stripped (`U1 , C1` is user `U1` in course `C1`: an id
never starts or ends with blanks in an LMS export, and a hand-edited file often has them);
blanks inside an id are kept.

A file is read line by line (a 2 GB export never sits in memory). The first malformed row
stops the read with `file:line: reason`, where line is the physical line the record starts on.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from schemas.events import ID_MAX_LENGTH
from worker.errors import SegsyncError
from worker.ops.console import Progress

BOM = b"\xef\xbb\xbf"
BLANKS = " \t"


class CsvProblem(SegsyncError):
    """A CSV export that cannot be read: the message is `file:line: reason`."""


class _Lines:
    """Decodes a binary file line by line, counting physical lines and bytes."""

    def __init__(self, path: Path, name: str, progress: Progress | None) -> None:
        self.path = path
        self.name = name
        self.progress = progress
        self.line = 0  # physical lines handed to the csv reader so far

    def __iter__(self) -> Iterator[str]:
        with self.path.open("rb") as fh:
            for raw in fh:
                self.line += 1
                if self.progress is not None:
                    self.progress.advance(len(raw))
                if self.line == 1 and raw.startswith(BOM):
                    raw = raw[len(BOM) :]
                try:
                    yield raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise CsvProblem(f"{self.name}:{self.line}: not valid UTF-8") from None


def check_id(value: str, column: str) -> str | None:
    """Why `value` is not a valid identifier of the contract, or None if it is."""
    if not value:
        return f"{column} is empty"
    if len(value) > ID_MAX_LENGTH:
        return f"{column} is longer than {ID_MAX_LENGTH} characters"
    if "\x00" in value:
        return f"{column} contains a NUL character"
    return None


def rows(
    path: Path,
    columns: Sequence[str],
    progress: Progress | None = None,
    optional: Sequence[str] = (),
    choices: Mapping[str, Sequence[str]] | None = None,
) -> Iterator[tuple[int, tuple[str, ...]]]:
    """(line, values of `columns` then of `optional` in that order) for every data row.

    The header names the columns (any order, case-insensitive, extra columns ignored);
    blank lines are skipped; every value must be an identifier of the contract. An
    `optional` column may be missing from the header or empty in a row (value ""); a column
    of `choices` must hold one of its values when not empty.
    """
    choices = choices or {}
    name = str(path)
    try:
        lines = _Lines(path, name, progress)
        reader = csv.reader(iter(lines), strict=True)
        header: list[str] | None = None
        where: list[int] = []
        more: list[int | None] = []
        while True:
            start = lines.line + 1
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise CsvProblem(f"{name}:{start}: malformed CSV ({exc})") from None
            if not record or record == [""]:
                continue
            if header is None:
                header = [h.strip().lower() for h in record]
                where = _positions(name, start, header, columns)
                more = [header.index(c) if c in header else None for c in optional]
                continue
            if len(record) != len(header):
                raise CsvProblem(
                    f"{name}:{start}: expected {len(header)} fields, got {len(record)}"
                )
            values = tuple(record[i].strip(BLANKS) for i in where)
            for value, column in zip(values, columns, strict=True):
                problem = check_id(value, column)
                if problem is not None:
                    raise CsvProblem(f"{name}:{start}: {problem}")
            extra = tuple("" if i is None else record[i].strip(BLANKS) for i in more)
            for value, column in zip(extra, optional, strict=True):
                allowed = choices.get(column)
                if value and allowed is not None and value not in allowed:
                    raise CsvProblem(
                        f"{name}:{start}: {column} must be one of {', '.join(allowed)}"
                    )
                problem = check_id(value, column) if value else None
                if problem is not None:
                    raise CsvProblem(f"{name}:{start}: {problem}")
            yield start, values + extra
        if header is None:
            raise CsvProblem(f"{name}:1: empty file (expected a header {','.join(columns)})")
    except OSError as exc:
        raise CsvProblem(f"{name}: cannot read: {exc.strerror or exc}") from None


def _positions(name: str, line: int, header: list[str], columns: Sequence[str]) -> list[int]:
    expected = ",".join(columns)
    seen: set[str] = set()
    for h in header:
        if h in seen and h in columns:
            raise CsvProblem(f"{name}:{line}: header names column {h!r} twice")
        seen.add(h)
    where = []
    for column in columns:
        if column not in header:
            raise CsvProblem(
                f"{name}:{line}: header has no column {column!r} (expected {expected})"
            )
        where.append(header.index(column))
    return where


def count_rows(
    path: Path,
    columns: Sequence[str],
    progress: Progress | None = None,
    optional: Sequence[str] = (),
    choices: Mapping[str, Sequence[str]] | None = None,
) -> int:
    """Validate the whole export; the number of data rows."""
    return sum(1 for _ in rows(path, columns, progress, optional, choices))

"""Where settings come from besides the environment, read strictly.

The TOML settings file belongs to segsync alone: a key that is not a setting
(`kafka_bootstrapp`) is an error naming the key and its line, never silently ignored.
The environment and a `.env` file are shared with other programs, and Kubernetes adds
`SEGSYNC_SERVICE_HOST`-style variables for a Service named segsync: an unknown `SEGSYNC_`
name there is only worth a warning (`unknown_variables`), logged once at start-up.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, TomlConfigSettingsSource

from worker.errors import ConfigError

# Read by the settings themselves, not a field.
CONFIG_FILE_VARIABLE = "SEGSYNC_CONFIG_FILE"


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class StrictTomlSource(TomlConfigSettingsSource):
    """The TOML settings file; unknown keys and unreadable TOML are one-line ConfigErrors."""

    def __init__(self, settings_cls: type[BaseSettings], toml_file: Path) -> None:
        try:
            super().__init__(settings_cls, toml_file=toml_file)
        except tomllib.TOMLDecodeError as exc:
            at = re.search(r" \(at line (\d+), column \d+\)$", str(exc))
            where = f"{toml_file}:{at[1]}" if at else str(toml_file)
            problem = str(exc)[: at.start()] if at else str(exc)
            raise ConfigError(f"{where}: not valid TOML: {problem}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{toml_file}: cannot read the settings file: {exc}") from None
        known = settings_cls.model_fields
        for key in self.toml_data:
            if key not in known:
                hint = _suggest(key.lower().removeprefix("segsync_"), known)
                raise ConfigError(
                    f"{toml_file}:{_line_of(toml_file, key)}: unknown setting {key!r}{hint}"
                )


def _line_of(path: Path, key: str) -> int:
    """The line that defines `key` (a `key =` line or a `[key]` table), else 1."""
    pattern = re.compile(rf"\s*(\[\s*)?[\"']?{re.escape(key)}[\"']?\s*[=\]]")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return 1
    return next((i for i, line in enumerate(lines, 1) if pattern.match(line)), 1)


def unknown_variables(
    fields: Iterable[str], prefix: str, environ: Mapping[str, str] | None = None
) -> list[str]:
    """`SEGSYNC_` names in the environment and in `./.env` that are no setting, each with
    a suggestion when one is close."""
    known = {f"{prefix}{f.upper()}" for f in fields} | {CONFIG_FILE_VARIABLE}
    names = set(os.environ if environ is None else environ) | set(_dotenv_keys(Path(".env")))
    return [
        f"{n}{_suggest(n, known)}" for n in sorted(names) if n.startswith(prefix) and n not in known
    ]


def check_dotenv(path: Path = Path(".env")) -> None:
    """A `.env` that is not UTF-8 is a one-line ConfigError (python-dotenv would raise)."""
    try:
        path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not valid UTF-8") from None


def _dotenv_keys(path: Path) -> list[str]:
    if not path.is_file():
        return []
    from dotenv import dotenv_values

    values: dict[str, Any] = dotenv_values(path)
    return list(values)

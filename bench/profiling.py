"""`--profile`: the PostgreSQL end-to-end run again, under a profiler, and a plain-text list
of where the time goes (docs/bench/profile-postgresql.txt; the interactive HTML / speedscope
file beside it is git-ignored, it is large).

pyinstrument (default) samples wall-clock time: waiting on PostgreSQL and Kafka shows up as
the call that waits. py-spy samples on-CPU time only: it shows what burns the CPU.
"""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.config import CMD_PROF, Ctx
from bench.proc import BIN, run_until_caught_up
from bench.services import ROOT, RUN_DIR

Key = tuple[str, str]  # (function, file:line)
Times = dict[Key, float]
TOP = 30


def profiled(ctx: Ctx, figures_of: Any) -> dict[str, Any]:
    """A fresh database, a separate run: no measured figure carries the profiler's overhead."""
    tool = ctx.profile or "pyinstrument"
    url = ctx.svc.create_database("bench_profile")
    spec = ctx.spec(url, "bench-profile", CMD_PROF, "profile-postgresql.log")
    out = ctx.out_dir
    out.mkdir(parents=True, exist_ok=True)
    text = out / "profile-postgresql.txt"
    if tool == "py-spy":
        raw = out / "profile-postgresql.speedscope.json"
        spec.profile = ("py-spy", raw)
        run = run_until_caught_up(spec, ctx.sizes.run_timeout_s * 2)
        self_t, incl, total = _speedscope(raw)
        files = [raw, text]
        what = "py-spy, on-CPU samples"
    else:
        session = RUN_DIR / "profile-postgresql.pyisession"
        spec.profile = ("pyinstrument", session)
        run = run_until_caught_up(spec, ctx.sizes.run_timeout_s * 2)
        html = out / "profile-postgresql.html"
        subprocess.run(
            [str(BIN / "pyinstrument"), "--load", str(session), "-r", "html", "-o", str(html)],
            check=True,
            capture_output=True,
        )
        self_t, incl, total = _pyinstrument(session)
        files = [html, text]
        what = "pyinstrument, wall-clock samples"
    text.write_text(_render(what, self_t, incl, total))
    figures: dict[str, Any] = figures_of(run, ctx.sizes.events)
    figures.update(
        tool=tool,
        files=[str(f.relative_to(ROOT)) for f in files],
        top_self=[(f"{k[0]} {k[1]}", round(v, 3)) for k, v in _top(self_t, 10)],
    )
    return ctx.phase("profile_postgresql", figures)


def _pyinstrument(session_path: Path) -> tuple[Times, Times, float]:
    from pyinstrument.session import Session

    root = Session.load(str(session_path)).root_frame(trim_stem=False)
    self_t: Times = defaultdict(float)
    incl: Times = defaultdict(float)
    if root is None:
        return self_t, incl, 0.0

    def walk(f: Any, stack: tuple[Key, ...]) -> None:
        if f.function.startswith("["):  # "[self]": time spent in the parent itself
            if stack:
                self_t[stack[-1]] += f.time
            return
        path = str(f.file_path_short).lstrip("./")  # the worker ran in .run/bench
        key = (str(f.function), f"{path}:{f.line_no}")
        if not f.children:
            self_t[key] += f.time
        if key not in stack:  # recursion counts once
            incl[key] += f.time
        for child in f.children:
            walk(child, (*stack, key))

    walk(root, ())
    return self_t, incl, float(root.time)


def _short(file: str) -> str:
    """A source file as the committed profile names it: within the project, the installed
    library or the Python version, never the path of the machine that ran it."""
    if "/site-packages/" in file:
        return file.split("/site-packages/", 1)[1]
    path = Path(file)
    if path.is_relative_to(ROOT):
        return str(path.relative_to(ROOT))
    if "/lib/python" in file:
        return "python" + file.rsplit("/lib/python", 1)[1]
    return path.name


def _speedscope(path: Path) -> tuple[Times, Times, float]:
    """Self and inclusive seconds per frame of a py-spy speedscope file, which is rewritten
    with its source files named as `_short` names them: a file to share, like the text."""
    doc = json.loads(path.read_text())
    for f in doc["shared"]["frames"]:
        f["file"] = _short(f.get("file", "?"))
    path.write_text(json.dumps(doc, separators=(",", ":")))
    frames = [(f["name"], f"{f['file']}:{f.get('line', 0)}") for f in doc["shared"]["frames"]]
    self_t: Times = defaultdict(float)
    incl: Times = defaultdict(float)
    total = 0.0
    for prof in doc["profiles"]:
        unit = 1.0 if prof.get("unit") == "seconds" else 1e-3  # py-spy writes seconds
        for stack, weight in zip(prof["samples"], prof["weights"], strict=True):
            w = float(weight) * unit
            total += w
            if stack:
                self_t[frames[stack[-1]]] += w
            for key in {frames[i] for i in stack}:
                incl[key] += w
    return self_t, incl, total


def _top(times: Times, n: int) -> list[tuple[Key, float]]:
    return sorted(times.items(), key=lambda kv: kv[1], reverse=True)[:n]


def _render(what: str, self_t: Times, incl: Times, total: float) -> str:
    def pct(v: float) -> str:
        return f"{100 * v / total:5.1f} %" if total else "  -  "

    lines = [
        "# segsync run --until-caught-up on PostgreSQL, profiled",
        "",
        f"{what}; {total:.1f} s sampled in all (start-up included).",
        "",
        f"## Self time, top {TOP} (library code included)",
        "",
    ]
    lines += [f"{v:8.2f} s {pct(v)}  {k[0]}  {k[1]}" for k, v in _top(self_t, TOP)]
    lines += ["", f"## Inclusive time of segsync's own functions (worker/), top {TOP}", ""]
    own = {k: v for k, v in incl.items() if "worker/" in k[1]}
    lines += [f"{v:8.2f} s {pct(v)}  {k[0]}  {k[1]}" for k, v in _top(own, TOP)]
    return "\n".join(lines) + "\n"

"""The run directory's records: ``run.json`` (settings, validated on resume, compared in one
canonical JSON form), ``results.jsonl`` (one line per finished step, appended atomically; torn
lines are skipped) and the run lock."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import math
import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from lava_nt.examples.eeg.pipeline.config import DEFAULT_METHODS, PipelineConfig, PipelineError
from lava_nt.io import append_jsonl, atomic_write_text, to_jsonable

SCHEMA = 1
RUN_JSON = "run.json"
RESULTS = "results.jsonl"
LOCK = ".lock"


def _terminate_torn_line(path: Path) -> None:
    """If a kill left a partial last line, end it so the next append starts a fresh line."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) != b"\n":
            f.write(b"\n")
            f.flush()
            os.fsync(f.fileno())


def canonical(obj):
    """The one form in which settings are stored and compared: what JSON round-trips to (tuples
    become lists, numpy scalars plain numbers, keys strings)."""
    return json.loads(json.dumps(to_jsonable(obj), sort_keys=True))


def _finite_or_none(v):
    if isinstance(v, dict):
        return {k: _finite_or_none(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_finite_or_none(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def append_result(run_dir: Path, row: dict) -> None:
    """Append one JSON line to ``results.jsonl`` with a single ``write`` (O_APPEND) + fsync
    (non-finite numbers are written as null)."""
    append_jsonl(Path(run_dir) / RESULTS, _finite_or_none(to_jsonable(row)))


def load_results(run_dir) -> list[dict]:
    """Valid lines of ``results.jsonl`` (torn or foreign lines are skipped with a warning).

    Each (kind, key) is kept once (the first line wins).
    """
    path = Path(run_dir) / RESULTS
    if not path.exists():
        return []
    rows, seen = [], set()
    with open(path, encoding="utf-8", errors="replace") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict) or row.get("schema") != SCHEMA or "kind" not in row:
                    raise ValueError("not a results line of this schema")
            except ValueError as e:
                warnings.warn(
                    f"{path}:{i}: skipping an unreadable line ({e}); probably a run was killed "
                    "while writing it",
                    RuntimeWarning,
                    stacklevel=2,
                )
                continue
            key = _row_key(row)
            if key in seen:
                continue
            seen.add(key)
            rows.append(row)
    return rows


def _row_key(row: dict) -> tuple:
    if row["kind"] == "pretrain":
        return ("pretrain", row.get("key"), row.get("arch"))
    return (row["kind"], row.get("participant"), row.get("method"), row.get("seed"))


@contextlib.contextmanager
def _run_lock(run_dir: Path):
    path = run_dir / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PipelineError(
                f"another lava-nt eeg run is using {run_dir} (lock {path} is held)"
            ) from None
        yield
    finally:
        os.close(fd)


def _check_run_json(run_dir: Path, config: PipelineConfig, data) -> dict:
    """Write ``run.json`` for a new run, or check the settings of a resumed one against it
    (compared in :func:`canonical` form) and merge the requested methods, seeds and folds."""
    path = run_dir / RUN_JSON
    ident = canonical(config.identity())
    info = {
        "schema": SCHEMA,
        "config": ident,
        "data": data.to_dict(),
        "requested": {
            "methods": list(config.methods),
            "seeds": list(config.seeds),
            "participants": None if config.participants is None else list(config.participants),
        },
    }
    info = canonical(info)
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise PipelineError(f"{path} is unreadable ({e}); use another run directory") from e
        if not isinstance(old, dict) or not isinstance(old.get("config"), dict):
            raise PipelineError(f"{path} is not a run.json of lava-nt; use another run directory")
        if old.get("schema") != SCHEMA:
            raise PipelineError(f"{path} has schema {old.get('schema')}, expected {SCHEMA}")
        diffs = [
            f"{k}: {old['config'].get(k)!r} -> {v!r}"
            for k, v in ident.items()
            if old["config"].get(k) != v
        ]
        # optional settings are recorded only when they differ from their default
        diffs += [
            f"{k}: {old['config'][k]!r} -> {default!r}"
            for k, default in PipelineConfig.OPTIONAL.items()
            if k not in ident and old["config"].get(k, default) != default
        ]
        od = old.get("data", {})
        for k in ("source", "pool", "synthetic"):
            if od.get(k) != info["data"][k]:
                diffs.append(f"data {k}: {od.get(k)!r} -> {info['data'][k]!r}")
        if od.get("directory") != info["data"]["directory"] and data.source == "real":
            diffs.append(f"data directory: {od.get('directory')} -> {data.directory}")
        if diffs:
            raise PipelineError(
                f"run directory {run_dir} was started with other settings ("
                + "; ".join(diffs)
                + "); use another --out or the original settings"
            )
        req = old.get("requested", {})
        for k in ("methods", "seeds"):
            merged = list(req.get(k, []))
            merged += [x for x in info["requested"][k] if x not in merged]
            info["requested"][k] = merged
        if req.get("participants") is None or info["requested"]["participants"] is None:
            info["requested"]["participants"] = None
        else:
            merged = list(req["participants"])
            merged += [x for x in info["requested"]["participants"] if x not in merged]
            info["requested"]["participants"] = merged
        info["created"] = old.get("created")
    else:
        info["created"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    atomic_write_text(path, json.dumps(info, indent=1, sort_keys=True) + "\n")
    return info


def load_run_info(run_dir) -> dict:
    """``run.json`` of a run directory (PipelineError if it is not one)."""
    run_dir = Path(run_dir)
    path = run_dir / RUN_JSON
    if not run_dir.is_dir():
        raise PipelineError(f"run directory '{run_dir}' does not exist")
    if not path.exists():
        raise PipelineError(f"'{run_dir}' is not an EEG run directory (no {RUN_JSON})")
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise PipelineError(f"{path} is unreadable ({e})") from e
    if info.get("schema") != SCHEMA:
        raise PipelineError(f"{path} has schema {info.get('schema')}, expected {SCHEMA}")
    return info


def config_from_info(info: dict, **overrides) -> PipelineConfig:
    """The :class:`PipelineConfig` of a run (requested methods/seeds/folds included)."""
    c = dict(info["config"])
    req = info.get("requested", {})
    c["methods"] = tuple(req.get("methods") or DEFAULT_METHODS)
    c["seeds"] = tuple(req.get("seeds") or (0,))
    c["participants"] = None if req.get("participants") is None else tuple(req["participants"])
    c.update(overrides)
    names = {f.name for f in dataclasses.fields(PipelineConfig)}
    return PipelineConfig(**{k: v for k, v in c.items() if k in names})


# ---------------------------------------------------------------------------------- folds


def _ranges(ids: Sequence[int]) -> str:
    """Sorted participant ids as ranges, ``"1-3, 5"`` (``"none"`` for none): the run's log and
    the report's header."""
    ids = sorted(ids)
    if not ids:
        return "none"
    out, start, prev = [], ids[0], ids[0]
    for i in ids[1:] + [None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        out.append(f"{start}" if start == prev else f"{start}-{prev}")
        if i is not None:
            start = prev = i
    return ", ".join(out)

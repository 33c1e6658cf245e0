"""``lava-nt eeg sweep``: the sensitivity of the synthetic data to the generator's knobs
(:func:`lava_nt.examples.eeg.calibration.sensitivity_sweep`), written as a table.

``OUT/sweep.md`` and ``OUT/sweep.csv`` hold one line per (variant, knob value) with the proxy's
cross-person, intercept-refit and within-person accuracies for each threshold rule,
``OUT/sweep.json`` the settings line, ``OUT/commands.jsonl`` the command and commit that made them
(:mod:`lava_nt.examples.eeg.study`; a rerun into the same directory replaces all four), and
``--docs FILE --docs-name NAME`` writes the table with that caption into a documentation page.
``lava-nt eeg sweep --report OUT --docs FILE --docs-name NAME`` writes it again from those
records (:func:`report_sweep`), running nothing.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import asdict, fields
from pathlib import Path

from lava_nt.docs_blocks import caption, update_docs
from lava_nt.examples.eeg.calibration import SweepPoint, sensitivity_sweep, sweep_markdown
from lava_nt.examples.eeg.pipeline import PipelineError
from lava_nt.io import atomic_write_text
from lava_nt.records import commands, git_commit, record_command

__all__ = ["load_sweep", "recorded_sweep_block", "report_sweep", "run_sweep", "sweep_block"]

_EXPLAIN = (
    "Proxy accuracies (logistic regression on the same binary inputs, honest protocol, mean over "
    "participants and split seeds; `lava_nt.examples.eeg.calibration`): *cross* = trained on the "
    "other participants, no tuning; *+intercept* = the same weights with the intercept refitted "
    "on the person's training part (the proxy of bias tuning); *within* = trained on the "
    "person's training part only. *person* / *population*: thresholds at each person's own mean "
    "power (the thesis) or at the pretraining population's. One knob at a time; the variant's "
    "own setting in bold."
)


def sweep_block(points, settings: str, made_by: list[dict], regenerate: str) -> str:
    """The sweep table with its caption (the generated docs block)."""
    lines = caption(made_by, regenerate) + [settings, "", _EXPLAIN, ""]
    return "\n".join(lines + sweep_markdown(points)) + "\n"


def run_sweep(args, argv: list[str]) -> list:
    """Run the sweep of the parsed ``lava-nt eeg sweep`` arguments; write the files and, with
    ``--docs``, the block."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    code = git_commit()
    t0 = time.perf_counter()
    points = sensitivity_sweep(
        args.variants, n_participants=args.participants, n_trials=args.trials,
        n_samples=args.samples, seed=args.seed,
    )  # fmt: skip
    secs = time.perf_counter() - t0
    settings = (
        f"{args.participants} synthetic participants x {args.trials} trials x {args.samples} "
        f"samples, generator seed {args.seed}, split seeds 0-1; {secs:.0f} s."
    )
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=[f.name for f in fields(SweepPoint)], lineterminator="\n")
    w.writeheader()
    w.writerows(asdict(p) for p in points)
    atomic_write_text(out / "sweep.csv", buf.getvalue())
    atomic_write_text(out / "sweep.json", json.dumps({"schema": 1, "settings": settings}) + "\n")
    cmd = record_command(out, argv, code=code, replace=True)
    regen = " ".join(["lava-nt", *argv])
    body = sweep_block(points, settings, [cmd], regen)
    atomic_write_text(out / "sweep.md", "# Sensitivity of the synthetic data\n\n" + body)
    print(f"sweep written to {out / 'sweep.md'} and {out / 'sweep.csv'} ({secs:.0f} s)")
    if args.docs:
        update_docs(args.docs, args.docs_name, body)
        print(f"docs block '{args.docs_name}' written to {args.docs}")
    return points


def _value(name: str, text: str):
    kind = {f.name: f.type for f in fields(SweepPoint)}[name]
    if kind in ("bool", bool):
        if text not in ("True", "False"):
            raise ValueError(f"not True/False: {text!r}")
        return text == "True"
    if kind in ("float", float):
        return float(text)
    return text


def load_sweep(out) -> tuple[list[SweepPoint], str]:
    """``(points, settings line)`` of a sweep directory written by :func:`run_sweep`."""
    out = Path(out)
    names = [f.name for f in fields(SweepPoint)]
    try:
        meta = json.loads((out / "sweep.json").read_text(encoding="utf-8"))
        with open(out / "sweep.csv", encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except FileNotFoundError as exc:
        raise PipelineError(
            f"{exc.filename} does not exist: not a directory written by `lava-nt eeg sweep --out`"
        ) from None
    except (OSError, ValueError) as exc:
        raise PipelineError(f"cannot read the sweep in {out}: {exc}") from None
    if not isinstance(meta, dict) or meta.get("schema") != 1 or "settings" not in meta:
        raise PipelineError(f"{out / 'sweep.json'} is not a sweep's settings (schema 1)")
    points = []
    for i, row in enumerate(rows, start=2):
        if sorted(row) != sorted(names):
            raise PipelineError(f"{out / 'sweep.csv'}: columns {list(row)}, expected {names}")
        try:
            points.append(SweepPoint(**{k: _value(k, row[k]) for k in names}))
        except ValueError as exc:
            raise PipelineError(f"{out / 'sweep.csv'} line {i}: {exc}") from None
    return points, meta["settings"]


def recorded_sweep_block(out, regenerate: str) -> str:
    """The block of a recorded sweep directory, from its records alone (:func:`load_sweep` and
    the recorded command); ``regenerate`` is the command the caption names for rewriting it."""
    points, settings = load_sweep(out)
    made_by = commands(out)
    if not made_by:
        raise PipelineError(f"{out} has no recorded command (commands.jsonl)")
    return sweep_block(points, settings, made_by[-1:], regenerate)


def report_sweep(out, docs: str | None, docs_name: str | None) -> str:
    """The block of a recorded sweep directory (:func:`recorded_sweep_block`), written into
    ``docs`` when given, else printed; returns the block."""
    regen = f"lava-nt eeg sweep --report {out}"
    if docs:
        regen += f" --docs {docs} --docs-name {docs_name}"
    body = recorded_sweep_block(out, regen)
    if docs:
        update_docs(docs, docs_name, body)
        print(f"docs block '{docs_name}' written to {docs}")
    else:
        print(body)
    return body

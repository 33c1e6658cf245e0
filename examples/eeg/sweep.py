"""``lava-nt eeg sweep``: the sensitivity of the synthetic data to the generator's knobs
(:func:`lava_nt.examples.eeg.calibration.sensitivity_sweep`), written as a table.

``OUT/sweep.md`` and ``OUT/sweep.csv`` hold one line per (variant, knob value) with the proxy's
cross-person, intercept-refit and within-person accuracies for each threshold rule;
``OUT/commands.jsonl`` records the command and commit (:mod:`lava_nt.examples.eeg.study`), and
``--docs FILE --docs-name NAME`` writes the table with that caption into a documentation page.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import asdict
from pathlib import Path

from lava_nt.examples.eeg.calibration import sensitivity_sweep, sweep_markdown
from lava_nt.examples.eeg.report.docs import caption, update_docs
from lava_nt.examples.eeg.study import git_commit, record_command
from lava_nt.io import atomic_write_text

__all__ = ["run_sweep", "sweep_block"]

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
    cmd = record_command(out, argv, code=code)
    regen = " ".join(["lava-nt", *argv])
    body = sweep_block(points, settings, [cmd], regen)
    atomic_write_text(out / "sweep.md", "# Sensitivity of the synthetic data\n\n" + body)
    buf = io.StringIO()
    fields = list(asdict(points[0])) if points else []
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    w.writerows(asdict(p) for p in points)
    atomic_write_text(out / "sweep.csv", buf.getvalue())
    print(f"sweep written to {out / 'sweep.md'} and {out / 'sweep.csv'} ({secs:.0f} s)")
    if args.docs:
        update_docs(args.docs, args.docs_name, body)
        print(f"docs block '{args.docs_name}' written to {args.docs}")
    return points

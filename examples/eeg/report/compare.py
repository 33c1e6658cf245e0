"""Two runs of the same units side by side: ``lava-nt eeg report RUN --against BASE``.

For runs that differ in one setting (e.g. ``--sparse-grad``), the units both ran (same
participant, method, tuning seed and pretraining seed) are paired; per method the table gives
each run's mean test accuracy over participants (a participant's units averaged first) with its
95 % t interval, and the paired difference ``RUN - BASE`` over participants with its interval and
the Wilcoxon signed-rank p value (:func:`lava_nt.examples.eeg.stats.paired_test`). With ``--docs``
the table becomes a generated block naming both runs' commands and commits.
"""

from __future__ import annotations

from pathlib import Path

from lava_nt.docs_blocks import caption
from lava_nt.examples.eeg.pipeline import PipelineError, load_run_info
from lava_nt.examples.eeg.runs import study_rows
from lava_nt.examples.eeg.stats import mean_interval, paired_test, participant_means, unit_key
from lava_nt.records import commands

__all__ = ["comparison_block", "comparison_lines"]


def _unit_key(r: dict) -> tuple:
    """A tuned unit: ``(participant, method, tuning seed, pretraining seed)``, what pairs it
    across runs (:func:`~lava_nt.examples.eeg.stats.unit_key`) with its method second."""
    participant, *seeds = unit_key(r)
    return (participant, r["method"], *seeds)


def _tune_rows(run_dir) -> dict[tuple, dict]:
    return {
        _unit_key(r): r
        for r in study_rows(run_dir)
        if r.get("kind") == "tune" and r.get("test_acc") is not None
    }


def setting_differences(run_dir, base_dir) -> list[str]:
    """``"name: base value -> run value"`` for every recorded setting that differs."""
    a = load_run_info(base_dir)["config"]
    b = load_run_info(run_dir)["config"]
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k)]  # fmt: skip


def comparison_lines(run_dir, base_dir) -> list[str]:
    """The markdown lines of the comparison (module docstring)."""
    run_rows, base_rows = _tune_rows(run_dir), _tune_rows(base_dir)
    both = sorted(set(run_rows) & set(base_rows))
    if not both:
        raise PipelineError(f"{run_dir} and {base_dir} have no finished tuning unit in common")
    run_m = participant_means([run_rows[k] for k in both])
    base_m = participant_means([base_rows[k] for k in both])
    diffs = setting_differences(run_dir, base_dir)
    lines = [
        f"- run: `{Path(run_dir).name}`, against: `{Path(base_dir).name}`; settings that differ: "
        + ("; ".join(diffs) if diffs else "none"),
        f"- {len(both)} units in both runs (same participant, method, tuning and pretraining "
        "seed); a participant's units are averaged first; intervals: 95 % t over participants",
        "",
        "| method | participants | units | against: test acc | run: test acc | run - against "
        "| Wilcoxon p |",
        "|---|---|---|---|---|---|---|",
    ]
    for method in dict.fromkeys(k[1] for k in both):
        parts = sorted(run_m[method])
        a = [run_m[method][p] for p in parts]
        b = [base_m[method][p] for p in parts]
        t = paired_test(a, b, names=("run", "against"), participants=parts)
        n_units = sum(1 for k in both if k[1] == method)
        p = "-" if t.wilcoxon_p is None else f"{t.wilcoxon_p:.3f}"
        lines.append(
            f"| {method} | {len(parts)} | {n_units} | {mean_interval(b).text()} | "
            f"{mean_interval(a).text()} | {t.interval.text(signed=True)} | {p} |"
        )
    return lines


def comparison_block(run_dir, base_dir, name: str, docs_path) -> str:
    """The generated docs block of the comparison: caption with both runs' commands, table."""
    made_by = commands(base_dir) + commands(run_dir)
    for d in (base_dir, run_dir):
        if not commands(d):
            raise PipelineError(
                f"{d} has no recorded command (commands.jsonl): only runs made by "
                "`lava-nt eeg run` can be written into the documentation"
            )
    regen = (
        f"lava-nt eeg report {run_dir} --against {base_dir} --docs {docs_path} --docs-name {name}"
    )
    return "\n".join(caption(made_by, regen) + comparison_lines(run_dir, base_dir)) + "\n"

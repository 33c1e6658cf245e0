"""Scaling of the EEG LOSO pipeline over Ray workers (``lava-nt eeg run --workers N``).

Run: ``.venv/bin/python benchmarks/bench_scaling.py [--quick] [--json out.json]``.

The same small LOSO experiment (synthetic DEAP-format data generated once, shared by every run
through ``--data``) runs as the command line runs it, in fresh run directories, interleaved over
rounds: serially (no Ray), on 1 Ray worker and on 2 Ray workers. Units/s counts the tuning units
(participant x method x seed, each with its Lava deployment) per wall second of the whole command
(Ray start-up, feature cache, pretrainings and report included). Parallel efficiency is
``(units/s with 2 workers) / (2 x units/s with 1 worker)`` per round (median over rounds).

Each Ray variant also runs in reference mode (``--lava-check 2``: deployment accuracies from the
engines proven equal to Lava, Lava on 2 samples per model, a unit's checks in one Lava runtime),
the mode for large studies.

The wall-time estimates for the thesis-size experiment (32 folds x 7 methods x 5 seeds) combine
the per-fold stage times recorded by the end-to-end section (full-size data, one thread) with
this run's efficiency (reference mode: with this run's reference-mode deployment seconds):
work = 32 x (pretrainings) + 5 x 32 x (tuning + deployment of the 7 methods); on W workers the
wall time is work / (W x efficiency), but not below the longest chain (one fold's pretraining
then its longest unit) and, for W below the 32 folds' pretrainings, with the pretrainings spread
over the workers first. These are paper estimates (no cluster here).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

FOLDS, SEEDS = "1 2 3 4", "0 1"
METHODS = "none nt2 spiking_bias volumetric"


CHECK = "2"  # reference mode's Lava check samples (--lava-check), as large studies run
#: name -> (Ray workers or None for serial, reference mode)
VARIANTS = {"serial": (None, False), "ray-1": (1, False), "ray-2": (2, False),
            "ray-1 ref": (1, True), "ray-2 ref": (2, True)}  # fmt: skip


def _cmd(run_dir: Path, data: Path, quick: bool, workers: int | None, check: bool) -> list[str]:
    cmd = [
        sys.executable, "-m", "lava_nt.cli", "eeg", "run", "--data", str(data),
        "--out", str(run_dir), "--participants", *FOLDS.split(), "--methods", *METHODS.split(),
        "--seeds", *SEEDS.split(), "--pretrain-epochs", "2" if quick else "4",
        "--tune-epochs", "10" if quick else "40", "--tune-lr", "3e-3",
        "--lava-samples", "8", "--no-progress",
    ]  # fmt: skip
    cmd += ["--lava-check", CHECK] if check else []
    return cmd + (["--workers", str(workers)] if workers else [])


def _units(run_dir: Path) -> list[dict]:
    rows = [json.loads(ln) for ln in (run_dir / "results.jsonl").read_text().splitlines()]
    return rows


def _stage_sums(rows: list[dict]) -> dict[str, float]:
    """Seconds per stage kind (pretrain / tune / deploy) summed over a run's results rows."""
    out: dict[str, float] = {}
    for r in rows:
        out[r["kind"]] = out.get(r["kind"], 0.0) + float(r.get("seconds", 0.0))
    return out


def _deploy_per_unit(rows_list: list[list[dict]]) -> dict[str, float]:
    """Mean deployment seconds per method over runs' deploy rows (spiking networks only)."""
    secs: dict[str, list[float]] = {}
    for rows in rows_list:
        for r in rows:
            if r["kind"] == "deploy" and r.get("deployable", True):
                secs.setdefault(r["method"], []).append(float(r.get("seconds", 0.0)))
    return {m: sum(v) / len(v) for m, v in secs.items() if v}


def _contention_note(stage_secs: dict, walls: dict, suffix: str = "") -> str:
    """Where the 1 -> 2 worker efficiency goes: each stage's summed seconds with 2 workers over
    those with 1 (medians over rounds; 1.0 = no slowdown from running two at once), and the
    2-worker wall time the 1-worker stage sums would give without any slowdown."""
    kinds = ("pretrain", "tune", "deploy")
    one = {k: common.median([r.get(k, 0.0) for r in stage_secs["ray-1" + suffix]]) for k in kinds}
    two = {k: common.median([r.get(k, 0.0) for r in stage_secs["ray-2" + suffix]]) for k in kinds}
    wall1 = common.median(walls["ray-1" + suffix])
    other = wall1 - sum(one.values())  # Ray start-up, features, report: not spread
    ideal = other + sum(one.values()) / 2
    parts = ", ".join(
        f"{k} {one[k]:.1f} -> {two[k]:.1f} s ({two[k] / one[k]:.2f}x)" for k in kinds if one[k]
    )
    what = f"reference mode (--lava-check {CHECK})" if suffix else "full Lava deployment"
    return (
        f"Where the efficiency goes, {what} (seconds recorded per stage in results.jsonl, summed "
        f"over the run, 1 -> 2 workers): {parts}. Without any slowdown from running two at once "
        f"the 2-worker run would take about {ideal:.0f} s (efficiency "
        f"{wall1 / (2 * ideal):.2f}; measured {common.median(walls['ray-2' + suffix]):.0f} s). A "
        "Lava deployment is itself several OS processes (one per Lava process), so with 1 worker "
        "it already uses the idle second core and two concurrent deployments slow each other "
        "most; `--lava-check N` (reference mode: Lava on N samples per model, a unit's checks in "
        "one Lava runtime) shortens that part."
    )


def _stage_times() -> dict[str, float] | None:
    """Mean per-fold seconds per stage from the stored end-to-end section (full size)."""
    section = common.stored_section("end_to_end")
    if section is None:
        return None
    out = {}
    for block in section.get("extra", []):
        for line in block.splitlines():
            m = re.match(r"\| (pretrain|tune|deploy) (\w+) \|[^|]*\|[^|]*\| ([\d.]+) s \|", line)
            if m:
                out[f"{m.group(1)} {m.group(2)}"] = float(m.group(3))
    return out or None


def _estimate(stages: dict[str, float], workers: int, eff: float, seeds: int = 5) -> float:
    """Seconds for 32 folds x 7 methods x ``seeds`` on ``workers`` workers (see the docstring)."""
    pre = [v for k, v in stages.items() if k.startswith("pretrain ")]
    units = {
        k.split()[1]: stages.get(f"tune {k.split()[1]}", 0.0)
        + stages.get(f"deploy {k.split()[1]}", 0)
        for k in stages
        if k.startswith("tune ")
    }
    work = 32 * sum(pre) + 32 * seeds * sum(units.values())
    chain = max(pre) + max(units.values())
    return max(work / (workers * eff), chain)


def _efficiency(walls: dict, n_units: int, suffix: str = "") -> tuple[float, dict]:
    ups = {k: [n_units / w for w in v] for k, v in walls.items()}
    one, two = ups["ray-1" + suffix], ups["ray-2" + suffix]
    return common.median([a / (2 * b) for a, b in zip(two, one, strict=True)]), ups


def _estimates(stages: dict, eff: float, label: str, deploy: dict | None = None) -> list:
    """The thesis-size figures for 2 / 32 / 256 workers (``deploy``: per-method deployment
    seconds to use instead of the end-to-end section's full deployments)."""
    if deploy:
        mean = sum(deploy.values()) / len(deploy)
        stages = {k: (deploy.get(k.split()[1], mean) if k.startswith("deploy ") else v)
                  for k, v in stages.items()}  # fmt: skip
    figs = []
    for where, w in (
        ("this 2-core machine, 2 workers", 2),
        ("one 32-core node, 32 workers", 32),
        ("8 such nodes, 256 workers", 256),
    ):
        est = _estimate(stages, w, eff)
        target = "<= 3 h" if w == 2 else None
        met = est <= 3 * 3600 if w == 2 else None
        figs.append(
            common.figure(
                f"thesis-size experiment (32 folds x 7 methods x 5 seeds), {label}, {where} "
                "(estimate)", est / 3600,
                f"work {_estimate(stages, 1, 1.0) / 3600:.1f} h on one worker; "
                f"efficiency {eff:.2f}", target, met, unit=" h",
                result=common.target_text(met, est / 3600, 3.0, False),
            )
        )  # fmt: skip
    return figs


def _run_variants(tmp: Path, data: Path, quick: bool, rounds: int):
    """Every variant once per round (rotated order); wall times, stage sums and rows."""
    walls: dict[str, list[float]] = {v: [] for v in VARIANTS}
    stage_secs: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
    rows_of: dict[str, list[list[dict]]] = {v: [] for v in VARIANTS}
    n_units = 0
    for r in range(rounds):
        names = list(VARIANTS)
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            run_dir = tmp / f"{name.replace(' ', '-')}-{r}"
            t0 = time.perf_counter()
            proc = subprocess.run(
                _cmd(run_dir, data, quick, *VARIANTS[name]), cwd=common.ROOT,
                capture_output=True, text=True, timeout=3600,
            )  # fmt: skip
            walls[name].append(time.perf_counter() - t0)
            if proc.returncode != 0:
                raise RuntimeError(f"{name}: {proc.stderr[-2000:]}")
            rows = _units(run_dir)
            n_units = len([x for x in rows if x["kind"] == "tune"])
            stage_secs[name].append(_stage_sums(rows))
            rows_of[name].append(rows)
            common.log(f"  round {r + 1}: {name} {walls[name][-1]:.1f} s")
            shutil.rmtree(run_dir, ignore_errors=True)
    return walls, stage_secs, rows_of, n_units


def run(quick: bool) -> dict:
    rounds = 1 if quick else 2
    # SIGTERM (e.g. a stopped session) unwinds like Ctrl-C: the finally below removes the
    # temporary data and subprocess.run kills the pipeline it waits for
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="bench_scaling_"))
    try:
        data = tmp / "data"
        from lava_nt.examples.eeg.synthetic import SyntheticConfig, generate_deap

        generate_deap(data, SyntheticConfig(n_participants=6, n_trials=40, n_samples=2048, seed=0))
        walls, stage_secs, rows_of, n_units = _run_variants(tmp, data, quick, rounds)
        eff, ups = _efficiency(walls, n_units)
        eff_ref, _ = _efficiency(walls, n_units, " ref")
        speed = common.ratio_median(walls["serial"], walls["ray-2"])
        ray_cost = common.ratio_median(walls["ray-1"], walls["serial"])
        figs = [
            common.figure(
                "parallel efficiency, 1 -> 2 Ray workers (units/s)", eff,
                f"units/s: 1 worker {common.median(ups['ray-1']):.3f}, 2 workers "
                f"{common.median(ups['ray-2']):.3f} ({n_units} units per run)",
                ">= 0.85", eff >= 0.85, unit="",
                result=common.target_text(eff >= 0.85, eff, 0.85, True),
            ),
            common.figure(
                f"parallel efficiency, 1 -> 2 Ray workers, reference mode (--lava-check {CHECK}, "
                "as large studies run) (units/s)", eff_ref,
                f"units/s: 1 worker {common.median(ups['ray-1 ref']):.3f}, 2 workers "
                f"{common.median(ups['ray-2 ref']):.3f} ({n_units} units per run)",
                ">= 0.85", eff_ref >= 0.85, unit="",
                result=common.target_text(eff_ref >= 0.85, eff_ref, 0.85, True),
            ),
            common.figure(
                "2 Ray workers / serial (no Ray), wall-time speed-up", speed,
                f"{common.median(walls['serial']):.1f} s vs {common.median(walls['ray-2']):.1f} s",
            ),
            common.figure(
                "1 Ray worker / serial, wall time (Ray's own cost)", ray_cost,
                f"{common.median(walls['ray-1']):.1f} s vs {common.median(walls['serial']):.1f} s",
            ),
        ]  # fmt: skip
        stages = _stage_times()
        notes = [_contention_note(stage_secs, walls), _contention_note(stage_secs, walls, " ref")]
        if stages:
            figs += _estimates(stages, eff, "full Lava deployment")
            ref_deploy = _deploy_per_unit(rows_of["ray-1 ref"])
            figs += _estimates(stages, eff_ref, f"reference mode (--lava-check {CHECK})",
                               ref_deploy)  # fmt: skip
            notes.append(
                "Stage times (mean per fold, full-size data, one thread) from the end-to-end "
                "section: " + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(stages.items()))
            )
            notes.append(
                "Reference-mode estimates: the same stage times with each deployment replaced by "
                "this run's reference-mode deployment seconds per unit (1 worker; Lava start-up "
                "dominates, so they hardly depend on the number of test samples; methods not run "
                "here take their mean): "
                + ", ".join(f"{m} {v:.1f} s" for m, v in sorted(ref_deploy.items()))
            )
        serial_secs = common.median([sum(r.values()) for r in stage_secs["serial"]])
        setup = [
            f"`lava-nt eeg run --data DIR` on synthetic data (6 participants x 40 trials x 2048 "
            f"samples, generated once), folds {FOLDS}, methods {METHODS}, seeds {SEEDS}, "
            f"{'2' if quick else '4'} pretraining epochs, up to {'10' if quick else '40'} tuning "
            "epochs (lr 3e-3, patience 100), Lava float + fixed deployment of 8 test samples per "
            f"model (reference-mode variants: `--lava-check {CHECK}`, Lava on {CHECK} of them and "
            f"the engines proven equal to Lava on all); {n_units} tuning units and 4 pretrainings "
            "per run; torch threads 1 per process (the pipeline's default). "
            f"{rounds} interleaved round(s) of serial / 1 Ray worker / 2 Ray workers / 1 and 2 "
            "Ray workers in reference mode, each a fresh run directory (features recomputed).",
            "Serial run: the stages recorded in results.jsonl sum to "
            f"{serial_secs:.0f} s of its {common.median(walls['serial']):.0f} s wall "
            "time.",
        ]
        return {
            "title": "Scaling over Ray workers (EEG LOSO pipeline)",
            "value_header": "value",
            "setup": setup,
            "figures": figs,
            "notes": notes,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    common.main(run, __doc__.splitlines()[0])

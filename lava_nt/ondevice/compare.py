"""On-device tuning against BPTT tuning of the same biases, on one small transfer task.

``python -m lava_nt.ondevice.compare [--seed S ...] [--lava] [--out RUN]`` (needs scikit-learn);
``--report RUN --docs PAGE.md`` writes a recorded run's table into a documentation block.

* task: scikit-learn's 8x8 digits, rate-coded (a pixel of intensity ``p/16`` spikes with
  probability ``p/16`` per step, seeded), ``T = 20``; network 64-64-20 (5 classes x 4 output
  neurons, :func:`lava_nt.builder.build_network`, reset by subtraction);
* pretraining on digits 0-4 (BPTT, ``"mse"`` loss with target rates (0.5, 0.0), Adam 2e-3, 15
  epochs, best validation epoch);
* transfer to digits 5-9 (labels 0-4) with every weight frozen, tuning only the biases of both
  layers: (a) BPTT ``nt2`` (Adam 1e-2, same loss, 15 epochs, best validation epoch); (b) the local
  on-device rule (:mod:`lava_nt.spec.learning`) with ``[I 0]`` and with derived feedback, in
  float and in fixed point (quantised, then :func:`~lava_nt.ondevice.rule.bias_headroom` 1.0),
  ``eta`` and ``band`` chosen on the validation split from
  :data:`ETAS` x :data:`BANDS`, 3 passes over the tuning set.

Accuracies are on a held-out test split of digits 5-9 (numpy reference of the tuned network).
``--lava`` also runs the last fixed-point tuning (derived feedback) inside one Lava run and
checks that it equals the twin bit for bit. ``--error-gate misclassified`` and
``--class-weights balanced`` run the on-device arms with the rule's error gate and class
weights (:mod:`lava_nt.spec.error_gate`). :func:`on_device` also takes a network that ends in
a readout (its value targets measured on the tuning split and, in fixed point, its bias' headroom,
by :func:`~lava_nt.ondevice.rule.readout_setup` as ``lava-nt ondevice`` does; the readout bias
learns at :data:`ETA_READOUT`).

``--kinds`` runs :func:`kinds_study` instead: what the gain and spiking-bias weight rules add to
the bias rule. The pretrained network gets a volumetric spiking bias on its hidden layer
(:func:`lava_nt.tuning.apply_tuning` ``"volumetric"``, 8 bias neurons of 8 targets each, ``w_b``
0, so it starts as the pretrained network); float, derived feedback, 3 passes; (a) biases only
(``eta`` x ``band`` from :data:`ETAS` x :data:`BANDS`), (b) + gains (``eta_gain`` from
:data:`KIND_ETAS`, the rest as chosen in (a)), (c) + spiking-bias weights (``eta_sb``, the rest
as chosen in (b)); every choice by validation accuracy. The same three arms then run in fixed
point (quantised, bias and weight headroom 1.0) with the float choices' rates converted
(:func:`~lava_nt.ondevice.rule.fixed_rates`, :func:`~lava_nt.ondevice.rule.fixed_update_rates`);
with ``--lava`` the last of them also runs inside one Lava run, checked bit for bit. The
results are one seed of one small task; they show the size of the gap, not a general ranking.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np

from lava_nt.commands.arguments import check_output_dir
from lava_nt.decode import output_predictions
from lava_nt.docs_blocks import DocsBlockError, caption, update_docs
from lava_nt.io import atomic_write_text, to_jsonable
from lava_nt.network import NetworkSpec, run_reference
from lava_nt.ondevice.rule import (
    bias_headroom,
    fixed_rates,
    fixed_update_rates,
    make_rule,
    readout_setup,
    sb_weight_headroom,
)
from lava_nt.ondevice.twin import run_twin, tuned_spec
from lava_nt.records import commands, git_commit, record_command
from lava_nt.spec.error_gate import balanced_class_weights

T, CLASSES, POP, EPOCHS_ON_DEVICE = 20, 5, 4, 3
ETAS = (3e-5, 1e-4, 3e-4, 1e-3)
BANDS = (0.25, 0.5, 1.0)
KIND_ETAS = {"gain": (3e-6, 1e-5, 3e-5, 1e-4), "sb_weight": (1e-4, 3e-4, 1e-3, 3e-3)}
#: the readout bias' rate of a network with a readout (``lava-nt ondevice``'s default)
ETA_READOUT = 0.05


def digits_task(seed: int = 0) -> dict:
    """Rate-coded digits split into ``A`` (0-4: train, val) and ``B`` (5-9: tune, val, test)."""
    from sklearn.datasets import load_digits  # lazy: optional extra (scikit-learn)

    d = load_digits()
    rng = np.random.default_rng(seed)
    x, y = d.data / 16.0, d.target
    out = {}
    for name, mask, offset, cuts in (("A", y < 5, 0, (0.8,)), ("B", y >= 5, 5, (0.35, 0.5))):
        idx = rng.permutation(np.flatnonzero(mask))
        spikes = (rng.random((T, idx.size, 64)) < x[idx][None]).astype(np.float64)
        edges = [0, *(int(c * idx.size) for c in cuts), idx.size]
        parts = ("train", "val") if name == "A" else ("tune", "val", "test")
        for part, lo, hi in zip(parts, edges[:-1], edges[1:], strict=True):
            out[f"{name}_{part}"] = (spikes[:, lo:hi], (y[idx][lo:hi] - offset).astype(np.int64))
    return out


def accuracy(spec: NetworkSpec, data) -> float:
    """Test accuracy: the population code, or the argmax of a readout's values."""
    x, y = data
    reduce = None if spec.readout is None else spec.readout.reduce
    return float(np.mean(output_predictions(run_reference(spec, x).output, CLASSES, reduce) == y))


def _torch(data):
    import torch  # lazy: torch only for the BPTT arms

    return torch.as_tensor(data[0], dtype=torch.float32), torch.as_tensor(data[1])


def pretrain(task: dict, seed: int = 0):
    from lava_nt.builder import build_network  # lazy: torch only for the BPTT arms
    from lava_nt.training import TrainConfig, train  # lazy: torch

    net = build_network(64, [64], n_classes=CLASSES, population=POP, seed=seed)
    cfg = TrainConfig(epochs=15, lr=2e-3, T=T, loss="mse", select="val", seed=seed)
    train(net, _torch(task["A_train"]), cfg, val_data=_torch(task["A_val"]))
    return net


def bptt_nt2(net, task: dict, seed: int = 0) -> NetworkSpec:
    from lava_nt.training import TrainConfig, train  # lazy: torch
    from lava_nt.tuning import apply_tuning  # lazy: torch

    net = copy.deepcopy(net)
    apply_tuning(net, "nt2")
    cfg = TrainConfig(epochs=15, lr=1e-2, T=T, loss="mse", select="val", seed=seed)
    train(net, _torch(task["B_tune"]), cfg, val_data=_torch(task["B_val"]))
    return net.to_spec()


def _sequence(data, epochs: int):
    x, y = data
    return np.concatenate([x] * epochs, axis=1), np.concatenate([y] * epochs)


def on_device(spec: NetworkSpec, task: dict, feedback: str, float_spec=None,
              gate: dict | None = None) -> tuple:  # fmt: skip
    """On-device tuning with the best ``eta`` and ``band`` of the grids (validation accuracy):
    ``(tuned spec, (eta, band), seconds of the chosen run, its rule)``; ``gate``: make_rule's
    ``error_gate`` / ``class_weights`` (default: the plain rule). A network with a readout is
    prepared by :func:`~lava_nt.ondevice.rule.readout_setup` (targets measured on the tuning
    split, fixed-point headroom 1.0) and its bias learns at :data:`ETA_READOUT`."""
    x, y = _sequence(task["B_tune"], EPOCHS_ON_DEVICE)
    spec, targets = readout_setup(spec, *task["B_tune"])
    ro = {}
    if targets is not None:  # fixed point: make_rule converts the rate (mantissa None)
        ro = {"readout_targets": targets, "eta_readout": ETA_READOUT}
        if spec.fixed:
            ro["eta_readout_mant"] = None
    best = None
    for eta, band in ((e, b) for e in ETAS for b in BANDS):
        kw = dict(feedback=feedback, x_feedback=task["B_tune"][0], band=band, **(gate or {}),
                  **ro)  # fmt: skip
        if spec.fixed:
            mants, shifts = fixed_rates(eta, spec, float_spec, range(len(spec.layers)))
            rule = make_rule(spec, T, CLASSES, eta_mant=mants, eta_shift=shifts, **kw)
        else:
            rule = make_rule(spec, T, CLASSES, eta=eta, **kw)
        t0 = time.perf_counter()
        res = run_twin(spec, rule, x, y)
        seconds = time.perf_counter() - t0
        tuned = tuned_spec(spec, res.biases, readout_bias=res.readout_bias)
        val = accuracy(tuned, task["B_val"])
        if best is None or val > best[0]:
            best = (val, tuned, (eta, band), seconds, rule)
    return best[1], best[2], best[3], best[4]


def _gate(task: dict, error_gate: str, class_weights: str) -> dict:
    """make_rule's gate keywords: the error gate, and balanced weights of the tuning labels."""
    kw = {"error_gate": error_gate}
    if class_weights == "balanced":
        kw["class_weights"] = balanced_class_weights(task["B_tune"][1], CLASSES)
    return kw


def compare(seed: int = 0, lava: bool = False, error_gate: str = "always",
            class_weights: str = "none") -> dict:  # fmt: skip
    from lava_nt.converters.quantize import quantize  # lazy: the bridge, for the fixed arm

    task = digits_task(seed)
    gate = _gate(task, error_gate, class_weights)
    t0 = time.perf_counter()
    net = pretrain(task, seed)
    spec = net.to_spec()
    rows = {"pretrained on 0-4 (accuracy on 0-4)": (accuracy(spec, task["A_val"]), None)}
    rows["untuned on 5-9"] = (accuracy(spec, task["B_test"]), None)
    t1 = time.perf_counter()
    rows["BPTT nt2 (biases)"] = (accuracy(bptt_nt2(net, task, seed), task["B_test"]), None)
    timing = {"pretrain_s": t1 - t0, "bptt_s": time.perf_counter() - t1}
    for fb in ("identity", "derived"):
        tuned, eta, secs, _ = on_device(spec, task, fb, gate=gate)
        rows[f"on-device float, {fb} feedback"] = (accuracy(tuned, task["B_test"]), eta)
        timing[f"on_device_{fb}_s"] = secs
    fixed = bias_headroom(quantize(spec)[0], range(len(spec.layers)), 1.0)
    rows["untuned on 5-9, fixed point"] = (accuracy(fixed, task["B_test"]), None)
    for fb in ("identity", "derived"):
        ftuned, feta, _, frule = on_device(fixed, task, fb, spec, gate)
        rows[f"on-device fixed point, {fb} feedback"] = (accuracy(ftuned, task["B_test"]), feta)
    result = {"rows": {k: {"accuracy": a, "eta_band": e} for k, (a, e) in rows.items()},
              "timing": timing, "sizes": {k: int(v[1].size) for k, v in task.items()},
              "error_gate": error_gate, "class_weights": class_weights}  # fmt: skip
    if lava:
        from lava_nt.ondevice.lava_engine import run_lava  # lazy: imports Lava

        x, y = _sequence(task["B_tune"], EPOCHS_ON_DEVICE)
        t2 = time.perf_counter()
        res = run_lava(fixed, frule, x, y)
        twin = run_twin(fixed, frule, x, y)
        result["lava"] = {
            "seconds": time.perf_counter() - t2, "steps": res.steps,
            "bit_exact": bool(np.array_equal(res.output, twin.output) and all(
                np.array_equal(res.biases[k], twin.biases[k]) for k in frule.layers)),
        }  # fmt: skip
    return result


def _fixed_kwargs(kw: dict, fixed: NetworkSpec, spec: NetworkSpec) -> dict:
    """The fixed-point ``make_rule`` keywords of the float choice ``kw`` (converted rates)."""
    layers = range(len(spec.layers))
    mant, shift = fixed_rates(kw["eta"], fixed, spec, layers)
    out = {"band": kw["band"], "learn": kw.get("learn", ("bias",)), "eta_mant": mant,
           "eta_shift": shift}  # fmt: skip
    for key, kind in (("eta_gain", "gain"), ("eta_sb", "sb_weight")):
        if key in kw:
            mant, shift = fixed_update_rates(kw[key], kind, fixed, spec, layers)
            out[f"{key}_mant"] = [0 if m is None else m for m in mant]
            out[f"{key}_shift"] = shift
    return out


def kinds_study(seed: int = 0, lava: bool = False) -> dict:
    """Biases vs + gains vs + spiking-bias weights, learned on-device (module docstring)."""
    from lava_nt.converters.quantize import quantize  # lazy: the bridge, for the fixed arm
    from lava_nt.tuning import apply_tuning  # lazy: torch only for the pretraining

    task = digits_task(seed)
    net = pretrain(task, seed)
    apply_tuning(net, "volumetric", group_size=8, seed=seed)  # w_b = 0: still the pretrained net
    spec = net.to_spec()
    x, y = _sequence(task["B_tune"], EPOCHS_ON_DEVICE)

    def run(**kw):
        net = kw.pop("net", spec)
        rule = make_rule(net, T, CLASSES, feedback="derived", x_feedback=task["B_tune"][0],
                         **kw)  # fmt: skip
        res = run_twin(net, rule, x, y)
        tuned = tuned_spec(net, res.biases, res.gains, res.sb_weights)
        return accuracy(tuned, task["B_val"]), tuned, rule, res

    def choose(grid):
        best = None
        for kw in grid:
            val, tuned, _, _ = run(**kw)
            if best is None or val > best[0]:
                best = (val, tuned, kw)
        return best

    rows = {"untuned on 5-9": (accuracy(spec, task["B_test"]), None)}
    t0 = time.perf_counter()
    _, tuned, kw = choose([dict(eta=e, band=b) for e in ETAS for b in BANDS])
    rows["biases"] = (accuracy(tuned, task["B_test"]), dict(kw))
    chosen = {"biases": dict(kw)}
    for kind, name in (("gain", "+ gains"), ("sb_weight", "+ spiking-bias weights")):
        learn = ("bias", "gain") if kind == "gain" else ("bias", "gain", "sb_weight")
        key = "eta_gain" if kind == "gain" else "eta_sb"
        _, tuned, kw = choose([{**kw, "learn": learn, key: e} for e in KIND_ETAS[kind]])
        chosen[name] = dict(kw)
        rows[name] = (accuracy(tuned, task["B_test"]), {k: v for k, v in kw.items()
                                                        if k != "learn"})  # fmt: skip
    # fixed point: the float choices' rates converted, biases and weights given headroom
    every = range(len(spec.layers))
    fixed = sb_weight_headroom(bias_headroom(quantize(spec)[0], every, 1.0), every, 1.0)
    rows["untuned on 5-9, fixed point"] = (accuracy(fixed, task["B_test"]), None)
    for name, kw in chosen.items():
        _, tuned, frule, fres = run(net=fixed, **_fixed_kwargs(kw, fixed, spec))
        rows[f"{name}, fixed point"] = (accuracy(tuned, task["B_test"]), None)
    result = {
        "rows": {k: {"accuracy": a, "settings": st} for k, (a, st) in rows.items()},
        "seconds": time.perf_counter() - t0,
        "bias_neurons": spec.layers[0].spiking_bias.m,
    }
    if lava:  # the last fixed-point arm (every kind) inside one Lava run
        from lava_nt.ondevice.lava_engine import run_lava  # lazy: imports Lava

        t1 = time.perf_counter()
        res = run_lava(fixed, frule, x, y)
        same = np.array_equal(res.output, fres.output) and all(
            np.array_equal(getattr(res, f)[k], getattr(fres, f)[k])
            for f in ("biases", "gains", "sb_weights") for k in getattr(fres, f)
        )  # fmt: skip
        result["lava"] = {"seconds": time.perf_counter() - t1, "steps": res.steps,
                          "bit_exact": bool(same)}  # fmt: skip
    return result


def kinds_table(results: dict) -> str:
    """A Markdown table of :func:`kinds_study` results ``{seed: result}``."""
    seeds = list(results)
    lines = ["| learned on-device | " + " | ".join(f"seed {s}" for s in seeds)
             + " | mean | chosen (per seed) |", "|" + "---|" * (len(seeds) + 3)]  # fmt: skip
    for name in results[seeds[0]]["rows"]:
        accs = [results[s]["rows"][name]["accuracy"] for s in seeds]
        sts = [results[s]["rows"][name]["settings"] for s in seeds]
        st = "; ".join(", ".join(f"{k} {v:g}" for k, v in d.items()) for d in sts if d)
        cells = " | ".join(f"{a:.3f}" for a in accs)
        lines.append(f"| {name} | {cells} | {np.mean(accs):.3f} | {st} |")
    return "\n".join(lines)


TABLE_HEADER = "| arm | {} | mean | eta, band (per seed) |"


def table(results: dict) -> str:
    """A Markdown table of :func:`compare` results ``{seed: result}``: test accuracy per seed,
    the mean, and the chosen ``eta, band`` of each seed (on-device arms)."""
    seeds = list(results)
    head = TABLE_HEADER.format(" | ".join(f"seed {s}" for s in seeds))
    lines = [head, "|" + "---|" * (len(seeds) + 3)]
    for name in results[seeds[0]]["rows"]:
        accs = [results[s]["rows"][name]["accuracy"] for s in seeds]
        ebs = [results[s]["rows"][name]["eta_band"] for s in seeds]
        eb = "; ".join("{:g}, {:g}".format(*e) for e in ebs if e is not None)
        cells = " | ".join(f"{a:.3f}" for a in accs)
        lines.append(f"| {name} | {cells} | {np.mean(accs):.3f} | {eb} |")
    return "\n".join(lines)


RESULTS = "results.json"
STUDIES = ("compare", "kinds")


class CompareRunError(ValueError):
    """A comparison run directory that cannot be read (missing, or not made by this module)."""


def save_run(out, results: dict, study: str, argv, code: dict) -> Path:
    """Write the results ``{seed: result}`` of one command into the run directory ``out``:
    ``RUN/results.json`` and ``RUN/commands.jsonl`` holding that command alone (the
    results are all its own: a rerun into the same directory replaces both). ``code``: the
    git state when the command started (:func:`lava_nt.records.git_commit`)."""
    if study not in STUDIES:
        raise ValueError(f"study must be one of {STUDIES}, got {study!r}")
    out = Path(out)
    doc = {"schema": 1, "study": study, "results": [[s, r] for s, r in results.items()]}
    atomic_write_text(out / RESULTS, json.dumps(to_jsonable(doc), indent=1) + "\n")
    record_command(out, ["-m", "lava_nt.ondevice.compare", *map(str, argv)], program="python",
                   code=code, replace=True)  # fmt: skip
    return out / RESULTS


def load_run(run) -> tuple[str, dict]:
    """``(study, {seed: result})`` of a run directory written by :func:`save_run`."""
    path = Path(run) / RESULTS
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CompareRunError(
            f"{path} does not exist: not a run of `python -m lava_nt.ondevice.compare --out RUN`"
        ) from None
    except (OSError, ValueError) as exc:
        raise CompareRunError(f"cannot read {path}: {exc}") from None
    if not isinstance(doc, dict) or doc.get("schema") != 1 or doc.get("study") not in STUDIES:
        raise CompareRunError(f"{path} is not a comparison's results (schema 1, study "
                              f"{' or '.join(STUDIES)})")  # fmt: skip
    return doc["study"], {int(s): r for s, r in doc["results"]}


def lava_line(results: dict) -> str | None:
    """What the ``--lava`` runs showed, one sentence (None without them)."""
    runs = {s: r["lava"] for s, r in results.items() if r.get("lava")}
    if not runs:
        return None
    exact = [s for s, r in runs.items() if r["bit_exact"]]
    steps = sorted({r["steps"] for r in runs.values()})
    what = "equal to the numpy twin bit for bit" if len(exact) == len(runs) else (
        f"equal to the numpy twin bit for bit on seeds {exact or 'none'} only")  # fmt: skip
    seeds = ", ".join(str(s) for s in runs)
    return (f"Lava (the last fixed-point arm, tuned inside one Lava run per seed; seeds {seeds}; "
            f"{'/'.join(f'{n:,}' for n in steps)} steps): {what}.")  # fmt: skip


def study_table(study: str, results: dict) -> str:
    """The Markdown table of a study's results: :func:`kinds_table` or :func:`table`."""
    return kinds_table(results) if study == "kinds" else table(results)


def docs_block(run, regenerate: str) -> str:
    """The generated documentation block of a run directory: the caption (the recorded command
    and commit, and ``regenerate``), the table and the Lava check."""
    study, results = load_run(run)
    made_by = commands(run)
    if not made_by:
        raise CompareRunError(f"{run} has no recorded command (commands.jsonl)")
    text = study_table(study, results)
    lava = lava_line(results)
    return "\n".join(caption(made_by, regenerate)) + "\n" + text + (
        f"\n\n{lava}" if lava else "") + "\n"  # fmt: skip


def main(argv=None) -> int:
    from lava_nt.commands.ondevice import add_gate_options  # lazy: the options of lava-nt ondevice

    argv = sys.argv[1:] if argv is None else list(argv)
    p = argparse.ArgumentParser(prog="python -m lava_nt.ondevice.compare", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--seed", type=int, nargs="+", default=[0], help="one or more seeds")
    p.add_argument("--lava", action="store_true", help="also run the fixed-point tuning in Lava")
    p.add_argument("--out", metavar="RUN", default=None,
                   help="a run directory: writes RUN/results.json and RUN/commands.jsonl (this "
                   "command, its git commit), replacing an earlier run's")  # fmt: skip
    p.add_argument("--kinds", action="store_true",
                   help="run the gain / spiking-bias weight study instead")  # fmt: skip
    add_gate_options(
        p,
        "the on-device rule's error gate (lava_nt.spec.error_gate)",
        "the on-device rule's class weights (balanced over the tuning labels)",
    )
    p.add_argument("--report", metavar="RUN", default=None,
                   help="run nothing: print the table of a recorded run directory (with --docs: "
                   "write its block)")  # fmt: skip
    p.add_argument("--docs", metavar="PAGE.md", default=None,
                   help="write the table of the run (--out or --report) into the page's generated "
                   "block, captioned with the recorded command and commit")  # fmt: skip
    p.add_argument(
        "--docs-name",
        metavar="NAME",
        default=None,
        help="the block's name (default: 'compare', with --kinds 'compare-kinds')",
    )
    args = p.parse_args(argv)
    if args.docs and not (args.out or args.report):
        p.error("--docs needs the run directory whose records it shows: --out RUN or --report RUN")
    if args.report and args.out:
        p.error("--report reads a recorded run, --out makes one: give one of them")
    run = args.report or args.out
    if args.report is None:
        code = None
        if args.out:
            check_output_dir(args.out, SystemExit)
            code = git_commit()  # the code this command runs (recorded when it completes)
        if args.kinds:
            results = {s: kinds_study(s, args.lava) for s in args.seed}
            for s, res in results.items():
                print(s, f"{res['seconds']:.1f} s", res["bias_neurons"], "bias neurons",
                      res.get("lava"))  # fmt: skip
        else:
            results = {s: compare(s, args.lava, args.error_gate, args.class_weights)
                       for s in args.seed}  # fmt: skip
            for s, res in results.items():
                print(s, res["timing"], res["sizes"], res.get("lava"))
        study = "kinds" if args.kinds else "compare"
        if args.out:
            print(save_run(args.out, results, study, argv, code))
        else:
            print(study_table(study, results))
    try:
        study, results = load_run(run) if run else (None, None)
        if run and not args.docs:
            print(study_table(study, results))
        if args.docs:
            name = args.docs_name or ("compare-kinds" if study == "kinds" else "compare")
            regen = f"python -m lava_nt.ondevice.compare --report {run} --docs {args.docs}"
            if args.docs_name:
                regen += f" --docs-name {args.docs_name}"
            where = update_docs(args.docs, name, docs_block(run, regen))
            print(f"docs block '{name}' written to {where}")
    except (CompareRunError, DocsBlockError) as exc:
        print(f"python -m lava_nt.ondevice.compare: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

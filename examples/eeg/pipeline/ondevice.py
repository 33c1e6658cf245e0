"""The ``ondevice`` method of the EEG pipeline: the fold network's biases tuned by the local rule.

A unit (participant, ``ondevice``, seed) starts from the fold's pretrained network and tunes the
biases ``b`` of all three NTLIF layers (400 + 800 + 100: exactly what ``nt2`` trains; the main
network has no spiking bias, so nothing of nt2 is left out) with the on-device rule of
:mod:`lava_nt.spec.learning`, run by its numpy twin (:func:`lava_nt.ondevice.run_twin`, proven
equal to the Lava run: bit for bit in fixed point, to round-off in float):

* the tuning samples are the person's training part, presented :data:`PASSES` times, each pass in
  a permutation drawn from the unit's seed (the seed changes only that order);
* feedback ``derived`` (:data:`FEEDBACK`): least squares between each hidden layer's and the
  output's spike counts of the pretrained network on the training part;
* ``eta`` and ``band`` are chosen from :data:`ETAS` x :data:`BANDS` by accuracy on the part the
  run selects epochs on (``val`` under the honest protocol, ``test`` under the thesis protocol as
  for every other method, the training part when there is no validation part);
* both precisions are tuned: float64 from the pretrained float network, and fixed point with the
  integer rule from the quantised pretrained network (every layer's bias exponent widened by
  :func:`lava_nt.ondevice.bias_headroom` to hold biases up to the threshold), each with its own
  grid choice;
* ``--ondevice-metric balanced`` chooses by balanced accuracy and ``--ondevice-learn-on errors``
  lets only the samples misclassified at the start of a pass learn in it
  (:func:`lava_nt.ondevice.select.tune_on_device`'s ``metric`` and ``learn_on``);
* ``--ondevice-error-gate misclassified --ondevice-class-weights balanced`` switch on the rule's
  error gate and balanced class weights (:mod:`lava_nt.spec.error_gate`), which keep the rule
  from learning the majority class of an imbalanced tuning part (``docs/eeg.md``);
* with ``--ondevice-engine lava`` (:attr:`PipelineConfig.ondevice_engine`) the grid still runs
  on the twin, and each precision's chosen point runs once more as ONE Lava learning run
  (:func:`lava_nt.ondevice.lava_engine.run_lava`, all its passes in the same order): the unit
  keeps and deploys the biases Lava learned (equal to the twin's; the row records the engine).

The unit's model file holds the float-tuned network (deployed on Lava float like every unit) with
the learned fixed-point network attached as its quantised network: the Lava fixed-point
deployment runs exactly that network (what was learned on the device), not a quantisation of the
float result. The results row gains ``ondevice_*`` fields (:func:`ondevice_fields`).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from lava_nt.converters.model_file import load_model, save_model
from lava_nt.converters.quantize import quantize
from lava_nt.examples.eeg.pipeline.steps import model_path, pretrain_key, unit_dir
from lava_nt.io import to_jsonable
from lava_nt.nn.network import NTNetwork
from lava_nt.ondevice import bias_headroom
from lava_nt.ondevice.select import spec_accuracy, static_sequence, tune_on_device

#: the grid of float rates and bands (fractions of the threshold) chosen from per unit
ETAS = (1e-4, 3e-4, 1e-3)
BANDS = (0.25, 0.5)
#: passes over the person's training part
PASSES = 2
FEEDBACK = "derived"
#: fixed point: the tuned layers' bias exponents hold biases up to this fraction of vth
HEADROOM = 1.0


def selection_part(td, select: str) -> str:
    """The part whose accuracy chooses ``eta x band``: the run's epoch-selection part."""
    if select in ("val", "test") and len(getattr(td, f"y_{select}")):
        return select
    return "train"


def _float_network(template, spec) -> torch.nn.Module:
    """``template`` (the pretrained network with nt2 applied) holding ``spec``'s values."""
    src = NTNetwork.from_spec(spec, dtype=torch.float32)
    template.load_state_dict(src.state_dict())
    return template


def tune_unit(pipe, participant: int, method: str, seed: int, group, td, net):
    """Tune ``net`` (the pretrained network, nt2 applied) in place by the on-device rule, save
    the unit's model file (float network + the learned fixed-point network attached) in the
    unit directory and return its metadata."""
    c = pipe.config
    t0 = time.perf_counter()
    spec = net.to_spec()
    part = selection_part(td, c.select)
    x_tune, y_tune = static_sequence(td.x_train, c.T), np.asarray(td.y_train, np.int64)
    x_sel = static_sequence(getattr(td, f"x_{part}"), c.T)
    y_sel = np.asarray(getattr(td, f"y_{part}"), np.int64)
    kw = dict(T=c.T, n_classes=2, etas=ETAS, bands=BANDS, passes=PASSES, seed=seed,
              feedback=FEEDBACK, engine=c.ondevice_engine, metric=c.ondevice_metric,
              learn_on=c.ondevice_learn_on, error_gate=c.ondevice_error_gate,
              class_weights=None if c.ondevice_class_weights == "none" else "balanced")  # fmt: skip
    fl = tune_on_device(spec, x_tune, y_tune, x_sel, y_sel, **kw)
    t1 = time.perf_counter()
    fspec0, qrep = quantize(spec)
    start = bias_headroom(fspec0, range(len(spec.layers)), HEADROOM)
    fx = tune_on_device(start, x_tune, y_tune, x_sel, y_sel, float_spec=spec, **kw)
    t2 = time.perf_counter()
    _float_network(net, fl.spec)
    meta = {
        "role": "tuned", "participant": participant, "method": method, "arch": "main",
        "tuning": ["nt2"], "learner": "ondevice", "pretrain_key": pretrain_key(group),
        "history": [], "best_epoch": None, "stopped": False,
        "data_sha256": pipe._data_hashes([participant]), **pipe._provenance(),
        "ondevice": {
            "feedback": FEEDBACK, "passes": PASSES, "etas": list(ETAS), "bands": list(BANDS),
            "engine": c.ondevice_engine, "metric": c.ondevice_metric,
            "learn_on": c.ondevice_learn_on, "error_gate": c.ondevice_error_gate,
            "class_weights": c.ondevice_class_weights,
            "select_part": part, "n_tune": int(len(y_tune)), "headroom": HEADROOM,
            "float": {"eta": fl.eta, "band": fl.band, "select_acc": fl.select_acc,
                      "grid": fl.grid, "seconds": round(t1 - t0, 2)},
            "fixed": {"eta": fx.eta, "band": fx.band, "select_acc": fx.select_acc,
                      "grid": fx.grid, "seconds": round(t2 - t1, 2)},
        },
    }  # fmt: skip
    d = unit_dir(pipe.run_dir, participant, method, seed)
    d.mkdir(parents=True, exist_ok=True)
    saved = {
        **meta,
        "seed": int(seed),
        "data_protocol": meta["protocol"],
        "n_classes": 2,
        "population": net.sizes[-1] // 2,
    }  # fmt: skip (as the other units' model files)
    save_model(model_path(d), net, meta=to_jsonable(saved), overwrite=True,
               quantized=(fx.spec, qrep))  # fmt: skip
    return meta


def learned_fixed(pipe, participant: int, method: str, seed: int):
    """``(fixed spec, quantisation report)`` learned on the device by a finished unit."""
    _, info = load_model(model_path(unit_dir(pipe.run_dir, participant, method, seed)))
    if info.quantized is None:
        raise ValueError(f"unit p{participant:02d}/{method}/seed-{seed}: no learned fixed network")
    return info.quantized, info.quant_report


def ondevice_fields(pipe, participant: int, method: str, seed: int, td, meta: dict) -> dict:
    """The unit's ``ondevice_*`` results fields: the grid choices of both precisions and the
    learned fixed-point network's accuracies (numpy reference = Lava fixed point, bit for bit)."""
    od = meta["ondevice"]
    fixed, _ = learned_fixed(pipe, participant, method, seed)
    out = {
        "ondevice_feedback": od["feedback"], "ondevice_passes": od["passes"],
        "ondevice_select_part": od["select_part"], "ondevice_n_tune": od["n_tune"],
        "ondevice_engine": od.get("engine", "twin"),
        "ondevice_metric": od.get("metric", "accuracy"),
        "ondevice_learn_on": od.get("learn_on", "all"),
        "ondevice_error_gate": od.get("error_gate", "always"),
        "ondevice_class_weights": od.get("class_weights", "none"),
    }  # fmt: skip
    for prec in ("float", "fixed"):
        p = od[prec]
        out.update({f"ondevice_{prec}_eta": p["eta"], f"ondevice_{prec}_band": p["band"],
                    f"ondevice_{prec}_select_acc": p["select_acc"],
                    f"ondevice_{prec}_seconds": p["seconds"]})  # fmt: skip
    T = pipe.config.T
    for part in ("train", "val", "test"):
        y = getattr(td, f"y_{part}")
        out[f"ondevice_fixed_{part}_acc"] = (
            spec_accuracy(fixed, static_sequence(getattr(td, f"x_{part}"), T), y, 2)
            if len(y)
            else None
        )
    return out

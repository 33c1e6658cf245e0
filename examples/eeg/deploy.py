"""Deploy a tuned EEG model on Lava's CPU simulator and compare it with the torch model.

:func:`deploy_model` takes a trained :class:`~lava_nt.nn.network.NTNetwork` and one person's test
samples (static binary band-power inputs, held for ``T`` steps) and runs

* the trained torch model (float32, as trained and evaluated by the pipeline);
* its float64 spec (``net.to_spec()``) in torch (:meth:`NTNetwork.from_spec`, float64) and on Lava
  (:func:`lava_nt.converters.lava_graph.run_network`, ``precision="float"``): all samples in ONE
  long Lava run (per-layer state reset between samples);
* optionally the Loihi fixed-point network (:func:`lava_nt.converters.quantize.quantize` of the
  same spec) on Lava (``precision="fixed"``, again one run) and in the torch fixed-point emulator
  (:func:`lava_nt.nn.fixed_emulator.emulate_fixed`), which Lava must match bit for bit.

It returns accuracies (population-coded decisions, ties to the lower class as ``torch.argmax``),
spike agreement (fraction of equal output ``(t, sample, neuron)`` entries) and prediction
agreement. If quantisation or the fixed-point run is unavailable or fails, the float results are
still returned and ``fixed_status`` says why.

:func:`deploy_qat_model` deploys a model tuned with quantisation-aware tuning (a model file
written by :meth:`lava_nt.qat.QATNetwork.save`): its attached fixed-point network (the integers
the training forward used) runs on Lava in fixed point, and every layer's spikes are compared with
the training forward (:class:`~lava_nt.qat.QATNetwork` loaded from the same file) -- they must be
equal bit for bit.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from lava_nt.converters.lava_graph import run_network
from lava_nt.converters.model_file import load_model
from lava_nt.converters.quantize import quantize
from lava_nt.decode import predictions
from lava_nt.io import atomic_write
from lava_nt.nn.fixed_emulator import run_fixed
from lava_nt.nn.network import NTNetwork
from lava_nt.qat import QATNetwork

__all__ = ["deploy_model", "deploy_qat_model", "population_predictions"]


def population_predictions(out: np.ndarray, n_classes: int = 2) -> np.ndarray:
    """Class decisions of output spikes ``[T, B, n_out]``: :func:`lava_nt.decode.predictions`."""
    return predictions(np.asarray(out), n_classes)


def _acc(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(pred == y)) if len(y) else float("nan")


def _save_npz(path: Path, **arrays) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)

    atomic_write(path, write, make_parents=True)


def check_indices(B: int, n: int) -> np.ndarray:
    """``n`` sample indices spread evenly over ``B`` (neighbours are copies of one trial)."""
    return np.unique(np.linspace(0, B - 1, min(int(n), B)).round().astype(np.int64))


def _timed_run(row: dict, key: str, spec, x, precision: str, timeout, record: bool = False):
    """``run_network`` on Lava, its wall time stored as ``row[key]`` (seconds)."""
    t0 = time.perf_counter()
    res = run_network(spec, x, precision, timeout=timeout, record=record)
    row[key] = round(time.perf_counter() - t0, 2)
    return res


def deploy_model(
    net,
    x,
    y,
    *,
    T: int = 25,
    n_classes: int = 2,
    fixed: bool = True,
    timeout: float | None = None,
    save_spikes=None,
    keep: int = 8,
    lava_check: int | None = None,
    quantized=None,
) -> dict:
    """Run ``net`` on Lava (float, and fixed point if ``fixed``) for static inputs ``x [B, 160]``.

    Args:
        net: a trained ``NTNetwork`` (any tuning method; spiking biases included).
        x: binary inputs ``[B, n_in]`` (held for ``T`` steps); y: labels ``[B]``.
        fixed: also quantise and run the Loihi fixed-point network.
        timeout: seconds per Lava run (default: proportional to the steps).
        save_spikes: optional ``.npz`` path for the output spikes of ``keep`` samples
            spread over ``x`` (``lava_float`` ``[T, k, n_out]`` uint8, ``lava_fixed`` if run,
            ``y``, predictions) for plotting.
        lava_check: None (default): every sample runs on Lava. An integer ``N >= 0``: the
            *reference* mode for large studies: the Lava accuracies of every sample are computed
            by the engines the test suite proves equal to Lava (torch float64 for Lava float, the
            bit-exact fixed-point emulator for Lava fixed), and Lava itself runs only ``N``
            samples spread over ``x`` as a check (``lava_check_float_match`` /
            ``lava_check_fixed_match``: fraction of equal output spikes, 1.0 expected; none
            with ``N = 0``). ``deploy_engine`` records the mode (``"lava"``/``"reference"``).
        quantized: optional ``(fixed spec, report)`` to run in fixed point instead of quantising
            ``net`` (e.g. the network an ``ondevice`` unit learned with the integer rule);
            ``fixed_model`` records which (``"quantised"`` / ``"given"``).

    Returns a JSON-serialisable dict (see the module docstring).
    """
    x = np.asarray(x)
    y = np.asarray(y, dtype=np.int64)
    if x.ndim != 2 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(f"deploy_model: x must be [B, n_in] with B = len(y) >= 1, got {x.shape}")
    if lava_check is not None and (isinstance(lava_check, bool) or int(lava_check) < 0):
        raise ValueError(f"deploy_model: lava_check must be None or >= 0, got {lava_check!r}")
    B = x.shape[0]
    reference = lava_check is not None
    row: dict = {"n_samples": int(B), "T": int(T),
                 "deploy_engine": "reference" if reference else "lava"}  # fmt: skip
    with torch.no_grad():
        out32 = net.forward_static(torch.as_tensor(x, dtype=torch.float32), T).numpy()
        spec = net.to_spec()  # float64 copies
        net64 = NTNetwork.from_spec(spec, dtype=torch.float64)
        out64 = net64.forward_static(torch.as_tensor(x, dtype=torch.float64), T).numpy()
    p32 = population_predictions(out32, n_classes)
    p64 = population_predictions(out64, n_classes)
    row["torch_acc"] = _acc(p32, y)
    row["torch64_acc"] = _acc(p64, y)
    xs = np.ascontiguousarray(np.broadcast_to(x.astype(np.float64)[None], (T, *x.shape)))
    check = check_indices(B, lava_check) if reference and lava_check else None
    if reference:
        row["lava_check_samples"] = 0 if check is None else int(check.size)
        lf = out64
        if check is not None:
            lava = _timed_run(row, "lava_float_seconds", spec, xs[:, check], "float", timeout)
            lc = np.asarray(lava.spikes)
            row["lava_check_float_match"] = float(np.mean(lc == out64[:, check]))
        row["lava_steps"] = int(T * B)
    else:
        lava = _timed_run(row, "lava_float_seconds", spec, xs, "float", timeout)
        lf = np.asarray(lava.spikes)
        row["lava_steps"] = int(lava.steps)
    pf = population_predictions(lf, n_classes)
    row["lava_float_acc"] = _acc(pf, y)
    if not reference:  # (reference mode: lava_check_float_match, on the checked samples)
        row["float_output_match"] = float(np.mean(lf == out64))
    row["float_prediction_agreement"] = float(np.mean(pf == p64))
    row["float_prediction_agreement_f32"] = float(np.mean(pf == p32))
    row["lava_float_spikes"] = int(lf.sum())
    row["lava_float_pred"] = pf.astype(int).tolist()
    # samples kept for plots: spread over the test part (neighbours are copies of one trial)
    sel = check_indices(B, keep)
    arrays = {
        "lava_float": lf[:, sel].astype(np.uint8),
        "y": y[sel],
        "pred_float": pf[sel],
        "index": sel,
        "T": np.array(T),
    }
    row["fixed_status"] = "not run"
    if fixed:
        try:
            _deploy_fixed(row, arrays, spec, xs, y, lf, pf, n_classes, timeout, reference,
                          check, sel, quantized)  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - report the reason, keep the float results
            msg = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            row["fixed_status"] = f"unavailable ({msg})"
    if save_spikes is not None:
        _save_npz(Path(save_spikes), **arrays)
    return row


def _deploy_fixed(row, arrays, spec, xs, y, lf, pf, n_classes, timeout, reference, check, sel,
                  quantized=None):  # fmt: skip
    """The fixed-point half of :func:`deploy_model` (quantise, run, compare), into ``row``."""
    fspec, qrep = quantize(spec) if quantized is None else quantized
    row["fixed_model"] = "quantised" if quantized is None else "given"
    row["quant_max_rel_error"] = float(qrep.max_rel_error)
    row["quant_clipped"] = int(qrep.n_clipped)
    row["quant_zeroed"] = int(qrep.n_zeroed)
    emu = run_fixed(fspec, torch.as_tensor(xs)).output.numpy()
    if reference:
        lfx = emu
        if check is not None:
            lava = _timed_run(row, "lava_fixed_seconds", fspec, xs[:, check], "fixed", timeout)
            lc = np.asarray(lava.spikes)
            row["lava_check_fixed_match"] = float(np.mean(lc == emu[:, check]))
    else:
        lfx = np.asarray(_timed_run(row, "lava_fixed_seconds", fspec, xs, "fixed", timeout).spikes)
    px = population_predictions(lfx, n_classes)
    row["lava_fixed_acc"] = _acc(px, y)
    if not reference:  # (reference mode: lava_check_fixed_match, on the checked samples)
        row["fixed_emulator_match"] = float(np.mean(lfx == emu))
    row["fixed_vs_float_output_match"] = float(np.mean(lfx == lf))
    row["fixed_vs_float_prediction_agreement"] = float(np.mean(px == pf))
    row["lava_fixed_spikes"] = int(lfx.sum())
    row["fixed_status"] = "ok"
    arrays["lava_fixed"] = lfx[:, sel].astype(np.uint8)
    arrays["pred_fixed"] = px[sel]


def deploy_qat_model(
    path,
    x,
    y,
    *,
    T: int = 25,
    n_classes: int = 2,
    timeout: float | None = None,
    float_pred=None,
    lava_check: int | None = None,
) -> dict:
    """Deploy a QAT-tuned model file on Lava fixed point and compare it with its training forward.

    Args:
        path: a model file written by :meth:`lava_nt.qat.QATNetwork.save`.
        x: binary inputs ``[B, n_in]`` (held for ``T`` steps); y: labels ``[B]``.
        float_pred: optional predictions of the float-tuned model on the same samples (e.g.
            ``deploy_model(...)["lava_float_pred"]``) for ``qat_vs_float_prediction_agreement``.
        lava_check: as in :func:`deploy_model`: None runs every sample on Lava; ``N >= 0``
            compares the training forward with the bit-exact fixed-point emulator on every
            sample (``qat_bit_exact``) and runs only ``N`` samples on Lava as a check
            (``qat_lava_check_match``: fraction of equal spikes over every layer).

    Returns a JSON-serialisable dict: ``qat_torch_acc`` (the training forward's accuracy),
    ``qat_lava_fixed_acc``, ``qat_bit_exact`` (every layer's spikes equal),
    ``qat_train_deploy_agreement`` (fraction of equal predictions, 1.0 when bit-exact),
    ``qat_lava_fixed_spikes``, ``qat_lava_fixed_seconds`` and, with ``float_pred``,
    ``qat_vs_float_prediction_agreement``; ``qat_status`` is ``"ok"`` or says why it failed.
    """
    x = np.asarray(x)
    y = np.asarray(y, dtype=np.int64)
    if x.ndim != 2 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(
            f"deploy_qat_model: x must be [B, n_in] with B = len(y) >= 1, got {x.shape}"
        )
    row: dict = {"qat_status": "not run"}
    try:
        _, info = load_model(path)
        if info.quantized is None or not isinstance(info.meta.get("qat"), dict):
            raise ValueError(f"{path} was not written by QATNetwork.save")
        qat = QATNetwork.load(path)
        with torch.no_grad():
            _, recs = qat.forward_static(torch.as_tensor(x, dtype=torch.float64), T, record=True)
        trained = [r["spikes"].numpy() for r in recs]
        xs = np.ascontiguousarray(np.broadcast_to(x.astype(np.float64)[None], (T, *x.shape)))
        if lava_check is None:
            lava = _timed_run(row, "qat_lava_fixed_seconds", info.quantized, xs, "fixed", timeout,
                              record=True)  # fmt: skip
            lv = [np.asarray(layer["spikes"]) for layer in lava.layers]
        else:  # reference mode: the bit-exact emulator on every sample, Lava on a few
            emu = run_fixed(info.quantized, torch.as_tensor(xs), record=True)
            lv = [np.asarray(s) for s in emu.numpy_layer_spikes()]
            check = check_indices(len(y), lava_check) if lava_check else None
            if check is not None:
                lava = _timed_run(row, "qat_lava_fixed_seconds", info.quantized, xs[:, check],
                                  "fixed", timeout, record=True)  # fmt: skip
                row["qat_lava_check_match"] = float(np.mean(np.concatenate([
                    (np.asarray(a["spikes"]) == b[:, check]).ravel()
                    for a, b in zip(lava.layers, lv, strict=True)])))  # fmt: skip
        pt = population_predictions(trained[-1], n_classes)
        pl = population_predictions(lv[-1], n_classes)
        row["qat_torch_acc"] = _acc(pt, y)
        row["qat_lava_fixed_acc"] = _acc(pl, y)
        row["qat_bit_exact"] = all(np.array_equal(a, b) for a, b in zip(trained, lv, strict=True))
        row["qat_train_deploy_agreement"] = float(np.mean(pt == pl))
        row["qat_lava_fixed_spikes"] = int(lv[-1].sum())
        if float_pred is not None:
            row["qat_vs_float_prediction_agreement"] = float(np.mean(pl == np.asarray(float_pred)))
        row["qat_status"] = "ok"
    except Exception as exc:  # noqa: BLE001 - report the reason, keep the unit's other results
        msg = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        row["qat_status"] = f"unavailable ({msg})"
    return row

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
) -> dict:
    """Run ``net`` on Lava (float, and fixed point if ``fixed``) for static inputs ``x [B, 160]``.

    Args:
        net: a trained ``NTNetwork`` (any tuning method; spiking biases included).
        x: binary inputs ``[B, n_in]`` (held for ``T`` steps); y: labels ``[B]``.
        fixed: also quantise and run the Loihi fixed-point network.
        timeout: seconds per Lava run (default: proportional to the steps).
        save_spikes: optional ``.npz`` path for the Lava output spikes of ``keep`` samples
            spread over ``x`` (``lava_float`` ``[T, k, n_out]`` uint8, ``lava_fixed`` if run,
            ``y``, predictions) for plotting.

    Returns a JSON-serialisable dict (see the module docstring).
    """
    x = np.asarray(x)
    y = np.asarray(y, dtype=np.int64)
    if x.ndim != 2 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(f"deploy_model: x must be [B, n_in] with B = len(y) >= 1, got {x.shape}")
    B = x.shape[0]
    row: dict = {"n_samples": int(B), "T": int(T)}
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
    t0 = time.perf_counter()
    lava = run_network(spec, xs, "float", timeout=timeout)
    row["lava_float_seconds"] = round(time.perf_counter() - t0, 2)
    lf = np.asarray(lava.spikes)
    pf = population_predictions(lf, n_classes)
    row["lava_float_acc"] = _acc(pf, y)
    row["float_output_match"] = float(np.mean(lf == out64))
    row["float_prediction_agreement"] = float(np.mean(pf == p64))
    row["float_prediction_agreement_f32"] = float(np.mean(pf == p32))
    row["lava_float_spikes"] = int(lf.sum())
    row["lava_float_pred"] = pf.astype(int).tolist()
    row["lava_steps"] = int(lava.steps)
    # samples kept for plots: spread over the test part (neighbours are copies of one trial)
    sel = np.unique(np.linspace(0, B - 1, min(int(keep), B)).round().astype(np.int64))
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
            fspec, qrep = quantize(spec)
            row["quant_max_rel_error"] = float(qrep.max_rel_error)
            row["quant_clipped"] = int(qrep.n_clipped)
            row["quant_zeroed"] = int(qrep.n_zeroed)
            t0 = time.perf_counter()
            lfx = np.asarray(run_network(fspec, xs, "fixed", timeout=timeout).spikes)
            row["lava_fixed_seconds"] = round(time.perf_counter() - t0, 2)
            emu = run_fixed(fspec, torch.as_tensor(xs)).output.numpy()
            px = population_predictions(lfx, n_classes)
            row["lava_fixed_acc"] = _acc(px, y)
            row["fixed_emulator_match"] = float(np.mean(lfx == emu))
            row["fixed_vs_float_output_match"] = float(np.mean(lfx == lf))
            row["fixed_vs_float_prediction_agreement"] = float(np.mean(px == pf))
            row["lava_fixed_spikes"] = int(lfx.sum())
            row["fixed_status"] = "ok"
            arrays["lava_fixed"] = lfx[:, sel].astype(np.uint8)
            arrays["pred_fixed"] = px[sel]
        except Exception as exc:  # noqa: BLE001 - report the reason, keep the float results
            msg = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            row["fixed_status"] = f"unavailable ({msg})"
    if save_spikes is not None:
        _save_npz(Path(save_spikes), **arrays)
    return row


def deploy_qat_model(
    path,
    x,
    y,
    *,
    T: int = 25,
    n_classes: int = 2,
    timeout: float | None = None,
    float_pred=None,
) -> dict:
    """Deploy a QAT-tuned model file on Lava fixed point and compare it with its training forward.

    Args:
        path: a model file written by :meth:`lava_nt.qat.QATNetwork.save`.
        x: binary inputs ``[B, n_in]`` (held for ``T`` steps); y: labels ``[B]``.
        float_pred: optional predictions of the float-tuned model on the same samples (e.g.
            ``deploy_model(...)["lava_float_pred"]``) for ``qat_vs_float_prediction_agreement``.

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
        t0 = time.perf_counter()
        lava = run_network(info.quantized, xs, "fixed", timeout=timeout, record=True)
        row["qat_lava_fixed_seconds"] = round(time.perf_counter() - t0, 2)
        lv = [np.asarray(layer["spikes"]) for layer in lava.layers]
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

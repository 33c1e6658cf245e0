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

from lava_nt.converters.lava_graph import run_network, run_networks
from lava_nt.converters.model_file import load_model
from lava_nt.converters.quantize import quantize
from lava_nt.decode import predictions
from lava_nt.io import atomic_write
from lava_nt.nn.fixed_emulator import run_fixed
from lava_nt.nn.network import NTNetwork
from lava_nt.qat import QATNetwork

__all__ = ["LavaChecks", "deploy_model", "deploy_qat_model", "population_predictions"]


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


class LavaChecks:
    """The reference mode's Lava check runs, collected and run together in ONE Lava runtime.

    In reference mode (``lava_check=N``) a deployment runs Lava only on ``N`` samples per model
    as a check, so a check run is mostly Lava's start-up (build, compile, fork, stop). The float
    and fixed-point checks of :func:`deploy_model` and the QAT check of :func:`deploy_qat_model`
    add their runs here instead (``checks=``) and :meth:`run` runs them side by side on one
    source (:func:`~lava_nt.converters.lava_graph.run_networks`; each network's result equals
    its own run). If that shared run fails, every check runs alone, so a failure is reported
    by the check it belongs to (``fixed_status`` / ``qat_status``) as before.
    """

    def __init__(self, timeout: float | None = None):
        self.timeout = timeout
        self._jobs: list[tuple] = []

    def add(self, spec, precision: str, x, *, record: bool = False, done, fail) -> None:
        """Queue a run of ``spec`` on ``x [T, B, n_in]``; ``done(result)`` gets its
        :class:`~lava_nt.converters.lava_graph.LavaRunResult`, ``fail(exc)`` the exception."""
        self._jobs.append((spec, precision, np.asarray(x), bool(record), done, fail))

    def __len__(self) -> int:
        return len(self._jobs)

    def run(self) -> dict:
        """Run the queued checks; returns ``{"lava_check_seconds": wall seconds of all of them,
        "lava_check_runtimes": Lava runtimes started}`` (``{}`` when nothing was queued)."""
        jobs, self._jobs = self._jobs, []
        if not jobs:
            return {}
        t0 = time.perf_counter()
        results = None
        if len(jobs) > 1 and all(np.array_equal(j[2], jobs[0][2]) for j in jobs[1:]):
            try:
                results = run_networks([j[:2] + (j[3],) for j in jobs], jobs[0][2],
                                       timeout=self.timeout)  # fmt: skip
            except Exception:  # noqa: BLE001 - run each alone: the failure becomes its check's
                results = None
        runtimes = 1 if results is not None else 0
        for i, (spec, precision, x, record, done, fail) in enumerate(jobs):
            if results is not None:
                done(results[i])
                continue
            runtimes += 1
            try:
                res = run_network(spec, x, precision, timeout=self.timeout, record=record)
            except Exception as exc:  # noqa: BLE001 - the check's own handler reports it
                fail(exc)
            else:
                done(res)
        seconds = round(time.perf_counter() - t0, 2)
        return {"lava_check_seconds": seconds, "lava_check_runtimes": runtimes}


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
    checks: LavaChecks | None = None,
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
        checks: reference mode only: a :class:`LavaChecks` that collects the float and fixed
            check runs for the caller to run (with others, e.g. :func:`deploy_qat_model`'s) in
            one Lava runtime; without it both run here in one runtime and ``lava_check_seconds``
            records their time.

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
    local = LavaChecks(timeout) if check is not None and checks is None else None
    checks = local if local is not None else checks
    if reference:
        row["lava_check_samples"] = 0 if check is None else int(check.size)
        lf = out64
        if check is not None:

            def float_done(res, ref=out64[:, check]):
                row["lava_check_float_match"] = float(np.mean(np.asarray(res.spikes) == ref))

            checks.add(spec, "float", xs[:, check], done=float_done, fail=_reraise)
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
                          check, sel, quantized, checks)  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - report the reason, keep the float results
            row["fixed_status"] = _unavailable(exc)
    if local is not None:
        row.update(local.run())
    if save_spikes is not None:
        _save_npz(Path(save_spikes), **arrays)
    return row


def _reraise(exc: BaseException):
    raise exc


def _unavailable(exc: BaseException) -> str:
    return "unavailable ({})".format(f"{type(exc).__name__}: {exc}".splitlines()[0][:300])


def _deploy_fixed(row, arrays, spec, xs, y, lf, pf, n_classes, timeout, reference, check, sel,
                  quantized=None, checks=None):  # fmt: skip
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

            def fixed_done(res, ref=emu[:, check]):
                row["lava_check_fixed_match"] = float(np.mean(np.asarray(res.spikes) == ref))

            def fixed_fail(exc):
                row["fixed_status"] = _unavailable(exc)

            checks.add(fspec, "fixed", xs[:, check], done=fixed_done, fail=fixed_fail)
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
    checks: LavaChecks | None = None,
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
        checks: reference mode only: a :class:`LavaChecks` to queue the check run on (run by
            the caller, with :func:`deploy_model`'s, in one Lava runtime); without it the check
            runs here (``lava_check_seconds``).

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
    local = None
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
                local = LavaChecks(timeout) if checks is None else None

                def qat_done(lava, lv=lv):
                    row["qat_lava_check_match"] = float(np.mean(np.concatenate([
                        (np.asarray(a["spikes"]) == b[:, check]).ravel()
                        for a, b in zip(lava.layers, lv, strict=True)])))  # fmt: skip

                def qat_fail(exc):
                    row["qat_status"] = _unavailable(exc)

                queue = local if local is not None else checks
                queue.add(info.quantized, "fixed", xs[:, check], record=True,
                          done=qat_done, fail=qat_fail)  # fmt: skip
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
        if local is not None:
            row.update(local.run())
    except Exception as exc:  # noqa: BLE001 - report the reason, keep the unit's other results
        row["qat_status"] = _unavailable(exc)
    return row

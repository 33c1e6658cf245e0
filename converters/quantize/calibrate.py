"""Calibrated post-training quantisation: per-layer choices made on calibration data to maximise
agreement with the float network.

:func:`calibrate_quantize` starts from :func:`~lava_nt.converters.quantize.quantize` and, layer
by layer (first to last), tries a few candidate quantisations of the layer and keeps the one
whose fixed-point spikes agree best with the float network's on the calibration inputs (a few
hundred samples), given the already chosen fixed-point layers before it:

* **clip level / scale**: the largest weights may be clipped so that the 8-bit mantissa resolves
  the bulk of the weights more finely: clip level ``c`` (the largest ``|W|`` or a high quantile of
  ``|W|``) maps to mantissa 127, i.e. the voltage scale becomes ``S = S_0 max|W| / c`` at the
  default exponent. A candidate whose other registers would clip, or whose current ``u`` (with the
  clipped weights) would come within a factor :data:`U_HEADROOM` of the 24-bit wrap on the
  calibration data, is skipped;
* **rounding**: round to nearest, or *error feedback* (the weights of a neuron are rounded one
  input at a time and each rounding error is spread over the inputs not yet rounded, weighted
  by the inputs' correlations on the calibration data: the least-squares choice of
  ``round(W) s`` for the observed input spikes ``s``, as in GPTQ);
* **leak compensation**: the 12-bit decays ``dv``, ``du`` round (``dv = 0.1`` becomes 410/4096),
  which shifts every steady-state voltage by the same factor; the threshold register is scaled by
  ``(dv / dv_q) (du / du_q)`` to cancel it (or left as it is)

(the leak compensation is tried on the best of the other candidates), and always applies
**bias-shift correction**: the mean drive error of each neuron on the
calibration data (``mean_t,n (W_q - W) s``, divided by ``du`` for a current that accumulates) is
subtracted from its bias before the bias register is rounded (13-bit mantissa with its exponent,
far finer than a weight), removing the systematic part of the weight rounding.

The layer objective is the fraction of equal ``(t, sample, neuron)`` spikes; at the last layer the
prediction agreement (population code, ``n_classes``) comes first, spike agreement breaks ties.
The result is a fixed-point spec and a :class:`~lava_nt.converters.quantize.QuantReport` whose
``calibration`` entry records, per layer, every candidate tried with its calibration agreement,
what was chosen and why (:func:`calibration_lines` renders it); the report's ``summary()``
includes it. The fixed-point network runs like any other (emulator = Lava fixed, bit for bit).

Spiking-bias populations' own registers are quantised as :func:`quantize` does (their layers
still get the candidate search); networks with a readout or graded input are refused (use
:func:`quantize`). The error feedback is regularised (a damping of the input correlations equal
to their mean diagonal): with a few hundred samples, least squares on the calibration inputs
alone would fit them and generalise worse than nearest rounding.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from lava_nt.converters.quantize.network import quantize
from lava_nt.converters.quantize.registers import (
    K_MAX,
    QuantizationError,
    _per_neuron,
    _round,
    _scalar,
    _stats,
)
from lava_nt.converters.quantize.report import calibration_lines
from lava_nt.decode import predictions
from lava_nt.network import LayerSpec, NetworkSpec
from lava_nt.spec.fixed import DECAY_UNITY, UV_MAX
from lava_nt.spec.validation import ParameterError

__all__ = ["U_HEADROOM", "calibrate_quantize", "calibration_lines"]

#: Candidate clip levels: the largest ``|W|`` and these quantiles of ``|W|``.
CLIP_QUANTILES = (0.9999, 0.999, 0.995)
#: A candidate scale must keep the calibration data's largest ``|u|`` this factor below the wrap.
U_HEADROOM = 2.0
#: Calibration samples used at most (evenly spread over the given ones).
MAX_SAMPLES = 512


@dataclass
class _Candidate:
    clip: str
    clip_value: float
    scale: float
    rounding: str
    leak: bool
    weight_exp: int
    mant: np.ndarray
    bias_shift: np.ndarray  # float units, subtracted from the bias


def _float_records(spec: NetworkSpec, xs: np.ndarray) -> list[np.ndarray]:
    # lazy: torch only on the calibration path; quantize itself is numpy-only (used without torch)
    import torch

    from lava_nt.nn.network import NTNetwork  # lazy: torch, as above

    net = NTNetwork.from_spec(spec, dtype=torch.float64)
    with torch.no_grad():
        _, recs = net(torch.as_tensor(xs, dtype=torch.float64), record=True)
    return [r["spikes"].numpy() for r in recs]


def _fixed_layer_spikes(layer: LayerSpec, n_in: int, s_in: np.ndarray) -> np.ndarray:
    import torch  # lazy: torch only on the calibration path (see _float_records)

    from lava_nt.nn.fixed_emulator import emulate_fixed  # lazy: torch, as above

    one = NetworkSpec(n_in, [layer], fixed=True)
    return emulate_fixed(one, torch.as_tensor(s_in)).numpy().astype(np.float64)


def _error_feedback(W: np.ndarray, X: np.ndarray, step: float, damp: float = 1.0) -> np.ndarray:
    """Integer mantissa index ``k`` (|k| <= 127) of ``W / step`` minimising ``|(k step - W) X^T|``
    over the calibration inputs ``X`` [rows, n_in], column by column with error feedback."""
    W = W.astype(np.float64).copy()
    d = W.shape[1]
    H = X.T @ X
    diag = np.diag(H).copy()
    dead = diag == 0
    H[dead, dead] = 1.0
    H += damp * max(float(np.mean(np.diag(H))), 1e-12) * np.eye(d)
    try:
        U = np.linalg.cholesky(np.linalg.inv(H)).T  # upper factor of H^-1
    except np.linalg.LinAlgError:
        return np.clip(_round(W / step), -K_MAX, K_MAX)
    K = np.zeros_like(W)
    for j in range(d):
        k = np.clip(_round(W[:, j] / step), -K_MAX, K_MAX)
        K[:, j] = k
        err = (W[:, j] - k * step) / U[j, j]
        if j + 1 < d:
            W[:, j + 1 :] -= np.outer(err, U[j, j + 1 :])
    return K


def _max_u(W: np.ndarray, du: float, s_in: np.ndarray) -> float:
    """Largest ``|u|`` (float units) of ``u = (1 - du) u + W s`` over the calibration input."""
    a = s_in @ W.T  # [T, N, n]
    if du >= 1.0:
        return float(np.abs(a).max()) if a.size else 0.0
    u = np.zeros(a.shape[1:])
    top = 0.0
    for t in range(a.shape[0]):
        u = (1.0 - du) * u + a[t]
        top = max(top, float(np.abs(u).max()))
    return top


def _candidates(k, ls: LayerSpec, S0: float, e0: int, s_in: np.ndarray) -> list[_Candidate]:
    W = np.asarray(ls.weight, dtype=np.float64)
    p = ls.neuron
    du = _scalar(p.du)
    absw = np.abs(W).ravel()
    wmax = float(absw.max()) if absw.size else 0.0
    levels = [("max |W|", wmax)]
    for q in CLIP_QUANTILES:
        c = float(np.quantile(absw, q)) if absw.size else 0.0
        if c > 0 and c < wmax * (1 - 1e-9) and all(abs(c - v) > 1e-12 * wmax for _, v in levels):
            levels.append((f"|W| quantile {q:g}", c))
    X = s_in.reshape(-1, s_in.shape[-1])
    out = []
    for name, c in levels:
        if not c > 0:
            continue
        S = S0 * wmax / c
        if S != S0 and _max_u(np.clip(W, -c, c), du, s_in) * S * U_HEADROOM > UV_MAX:
            continue
        step = 2.0 ** (7 + e0) / S
        for rounding in ("nearest", "error feedback"):
            if rounding == "nearest":
                kk = np.clip(_round(W / step), -K_MAX, K_MAX)
            else:
                kk = _error_feedback(W, X, step)
            Wq = kk * step
            shift = (s_in.reshape(-1, W.shape[1]) @ (Wq - W).T).mean(0)
            if du < 1.0:
                shift = shift / du
            out.append(_Candidate(name, c, S, rounding, False, e0, (2 * kk).astype(np.int64),
                                  shift))  # fmt: skip
    return out


def _leak_factor(p, fixed_p) -> float:
    """``(dv / dv_q) (du / du_q)``: the threshold factor that cancels the decays' rounding."""
    dv, du = _scalar(p.dv), _scalar(p.du)
    dv_q = int(fixed_p.dv) / DECAY_UNITY
    du_q = (int(fixed_p.du) + 1) / DECAY_UNITY
    f = 1.0
    if dv > 0 and dv_q > 0:
        f *= dv / dv_q
    if du > 0 and du_q > 0:
        f *= du / du_q
    return f


def _build_layer(k, spec, cand: _Candidate, bias_exp, fixed_default):
    """``(fixed LayerSpec, LayerQuant)`` of one candidate: the float layer with its bias shifted
    (and threshold scaled for the leak) quantised at the candidate's scale, weights replaced."""
    ls = spec.layers[k]
    p = ls.neuron
    n = ls.n
    b = _per_neuron(p.bias, n) - cand.bias_shift
    vth = _scalar(p.vth)
    if cand.leak:
        vth *= _leak_factor(p, fixed_default.layers[k].neuron)
    neuron = p._replace(bias=b, vth=np.float64(vth))
    layer = LayerSpec(weight=ls.weight, neuron=neuron, spiking_bias=ls.spiking_bias, delay=ls.delay)
    one = NetworkSpec(int(np.asarray(ls.weight).shape[1]), [layer])
    q, rep = quantize(one, scales=[cand.scale], bias_exp=bias_exp)
    fl = q.layers[0]
    lq = rep.layers[0]
    lq.index = k
    others = [tq for name, tq in lq.tensors.items() if name != "weight" and tq.n_clipped]
    if others:
        return None, None
    W = np.asarray(ls.weight, dtype=np.float64)
    step = 2.0 ** (7 + cand.weight_exp) / cand.scale
    deq = cand.mant / 2 * step
    clipped = np.abs(W) / step >= K_MAX + 0.5
    lq.tensors["weight"] = _stats("weight", W, deq, clipped, np.sign(W) * K_MAX * step)
    lq.weight_exp = int(cand.weight_exp)
    lq.warnings = [w for w in lq.warnings if "weight" not in w]
    out = LayerSpec(weight=cand.mant, neuron=fl.neuron, spiking_bias=fl.spiking_bias,
                    weight_exp=int(cand.weight_exp), delay=ls.delay)  # fmt: skip
    return out, lq


def _predictions(out: np.ndarray, n_classes: int) -> np.ndarray:
    return predictions(out, n_classes)


def calibrate_quantize(
    spec: NetworkSpec,
    x,
    *,
    n_classes: int | None = None,
    bias_exp: str | int = "neuron",
    max_samples: int = MAX_SAMPLES,
):
    """Quantise ``spec`` for Lava with per-layer choices calibrated on ``x`` (module docstring).

    Args:
        spec: a float :class:`~lava_nt.network.NetworkSpec` (spiking input).
        x: calibration input spikes ``[T, N, n_in]`` (0/1), e.g. a few hundred training samples.
        n_classes: the population code's classes: the last layer maximises the agreement of the
            predictions (None: spike agreement only).
        bias_exp: as in :func:`~lava_nt.converters.quantize.quantize`.
        max_samples: use at most this many samples (evenly spread over ``x``).

    Returns:
        ``(fixed_spec, report)``; ``report.calibration`` holds what was tried and chosen.
    """
    xs = _calibration_input(spec, x, n_classes, max_samples)
    ref = _float_records(spec, xs)
    default, drep = quantize(spec, bias_exp=bias_exp)
    layers, lqs, info = [], [], []
    s_fixed = xs
    n_prev = spec.n_in
    last = len(spec.layers) - 1
    for k, ls in enumerate(spec.layers):
        classes = n_classes if k == last else None
        s_float_in = xs if k == 0 else ref[k - 1]
        fl, lq, s, entry = _calibrate_layer(k, spec, default, drep.layers[k], bias_exp, n_prev,
                                            s_fixed, s_float_in, ref[k], classes)  # fmt: skip
        entry["samples"] = int(xs.shape[1])
        info.append(entry)
        layers.append(fl)
        lqs.append(lq)
        s_fixed = s
        n_prev = ls.n
    fixed = NetworkSpec(spec.n_in, layers, fixed=True)
    drep.layers = lqs
    drep.calibration = {"samples": int(xs.shape[1]), "n_classes": n_classes, "layers": info}
    return fixed, drep


def _calibration_input(spec: NetworkSpec, x, n_classes, max_samples: int) -> np.ndarray:
    """The calibration spikes ``[T, N, n_in]`` as float64, at most ``max_samples`` samples
    (evenly spread); raises for a fixed spec, a readout, graded input or malformed ``x``."""
    if not isinstance(spec, NetworkSpec) or spec.fixed:
        raise ParameterError("calibrate_quantize: expected a float NetworkSpec")
    if spec.readout is not None or spec.input != "spikes":
        raise QuantizationError(
            "calibrate_quantize: networks with a readout or graded input are not calibrated; "
            "use quantize()"
        )
    for k, ls in enumerate(spec.layers):
        if any(np.size(getattr(ls.neuron, d)) != 1 for d in ("du", "dv")):
            raise QuantizationError(
                f"calibrate_quantize: layer {k} has per-neuron decays, which the calibrated "
                "search (its leak compensation scales the one threshold) does not handle; use "
                "quantize()"
            )
    xs = np.asarray(x, dtype=np.float64)
    if xs.ndim != 3 or xs.shape[-1] != spec.n_in or xs.shape[1] == 0:
        raise ParameterError(
            f"calibrate_quantize: calibration input must be spikes [T, N, {spec.n_in}], got "
            f"{xs.shape}"
        )
    if not np.all((xs == 0) | (xs == 1)):
        raise ParameterError("calibrate_quantize: calibration input must be spikes (0 or 1)")
    if n_classes is not None and spec.n_out % n_classes:
        raise ParameterError(f"{spec.n_out} output neurons do not split into {n_classes} classes")
    N = xs.shape[1]
    if N > max_samples:
        idx = np.unique(np.linspace(0, N - 1, max_samples).round().astype(np.int64))
        xs = xs[:, idx]
    return xs


def _agreement(s: np.ndarray, ref: np.ndarray, n_classes) -> tuple[float | None, float]:
    """``(prediction agreement or None, spike agreement)`` of fixed spikes ``s`` with ``ref``."""
    match = float(np.mean(s == ref))
    if n_classes is None:
        return None, match
    return float(np.mean(_predictions(s, n_classes) == _predictions(ref, n_classes))), match


def _calibrate_layer(k, spec, default, dl, bias_exp, n_prev, s_fixed, s_float_in, ref, n_classes):
    """``(fixed LayerSpec, LayerQuant, its spikes, report entry)`` of layer ``k``: the candidate
    agreeing best with the float spikes ``ref``, or the default quantisation ``dl`` if none
    agrees better. ``n_classes`` is given at the last layer only."""
    tried = []
    best = None
    default_layer = default.layers[k]
    base = _fixed_layer_spikes(default_layer, n_prev, s_fixed)
    cands = _candidates(k, spec.layers[k], dl.scale, dl.weight_exp, s_float_in)
    leak_tried = False
    while cands:
        cand = cands.pop(0)
        fl, lq = _build_layer(k, spec, cand, bias_exp, default)
        if fl is None:
            continue
        s = _fixed_layer_spikes(fl, n_prev, s_fixed)
        agree, match = _agreement(s, ref, n_classes)
        key = (agree if agree is not None else 0.0, match)
        tried.append({"clip": cand.clip, "scale": cand.scale, "rounding": cand.rounding,
                      "leak_compensation": cand.leak, "spike_agreement": match,
                      "prediction_agreement": agree})  # fmt: skip
        if best is None or key > best[0]:
            best = (key, fl, lq, cand, s)
        if not cands and best is not None and not leak_tried:
            # the leak compensation is tried on the best candidate only
            leak_tried = True
            cands.append(dataclasses.replace(best[3], leak=True))
    d_agree, d_match = _agreement(base, ref, n_classes)
    d_key = (d_agree if d_agree is not None else 0.0, d_match)
    if best is None or best[0] <= d_key:
        fl, lq, s, chosen = default_layer, dl, base, None
        why = "no candidate agreed better than the default quantisation"
    else:
        _, fl, lq, chosen, s = best
        metric = "prediction agreement" if best[0][0] != d_key[0] else "spike agreement"
        why = f"highest {metric} on the calibration data"
    entry = {
        "layer": k, "samples": None,
        "default": {"scale": dl.scale, "weight_exp": dl.weight_exp,
                    "spike_agreement": d_match, "prediction_agreement": d_agree},
        "tried": tried, "why": why,
        "chosen": None if chosen is None else {
            "clip": chosen.clip, "clip_value": chosen.clip_value, "scale": chosen.scale,
            "weight_exp": chosen.weight_exp, "rounding": chosen.rounding,
            "leak_compensation": chosen.leak,
            "mean_abs_bias_shift": float(np.mean(np.abs(chosen.bias_shift))),
            "max_abs_bias_shift": float(np.max(np.abs(chosen.bias_shift))),
        },
        "spike_agreement": float(np.mean(s == ref)),
    }  # fmt: skip
    if n_classes is not None:
        entry["prediction_agreement"] = _agreement(s, ref, n_classes)[0]
    if chosen is not None:
        lq.scale_limit = f"calibrated ({chosen.clip}, {chosen.rounding})"
    return fl, lq, s, entry

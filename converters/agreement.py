"""Agreement of one model across the four engines: torch float, torch fixed-point emulator,
Lava float and Lava fixed point.

:func:`agreement` runs the same input through

* ``torch_float``: :class:`~lava_nt.nn.network.NTNetwork` in float64 (the trained model);
* ``torch_fixed``: :func:`~lava_nt.nn.fixed_emulator.emulate_fixed` on the quantised spec;
* ``lava_float``: :func:`~lava_nt.converters.lava_graph.run_network` (``"float"``);
* ``lava_fixed``: ``run_network`` on the quantised spec (``"fixed"``);

and reports, for every pair, the output and per-layer spike-match rates (fraction of equal
``(t, sample, neuron)`` entries), spike counts, prediction agreement (population-coded class
decisions) and, with labels, each engine's accuracy. Engines with the same arithmetic must
agree exactly (``torch_float``/``lava_float`` up to float rounding, ``torch_fixed``/``lava_fixed``
bit for bit); the float/fixed pairs measure the quantisation.
"""

from __future__ import annotations

import json
import numbers
import time
from dataclasses import dataclass, field

import numpy as np

from lava_nt.converters.lava_graph import run_network
from lava_nt.converters.model_file import resolve_model
from lava_nt.converters.quantize import QuantReport, _jsonable, quantize
from lava_nt.decode import (  # predictions re-exported: its home is lava_nt.decode
    check_labels,
    output_classes,
    predictions,
)
from lava_nt.network import NetworkSpec
from lava_nt.spec.validation import ParameterError

__all__ = ["ENGINES", "AgreementReport", "agreement", "as_spike_input", "predictions"]

ENGINES = ("torch_float", "torch_fixed", "lava_float", "lava_fixed")
PAIRS = (
    ("torch_float", "lava_float"),
    ("torch_fixed", "lava_fixed"),
    ("torch_float", "torch_fixed"),
    ("lava_float", "lava_fixed"),
    ("torch_float", "lava_fixed"),
)


def as_spike_input(x, T: int | None = None, n_in: int | None = None) -> np.ndarray:
    """``x`` as binary float spikes ``[T, B, n_in]``: a ``[T, B, n_in]`` array as it is, or a
    static ``[B, n_in]`` input held for ``T`` steps."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim == 2:
        if T is None or isinstance(T, bool) or not isinstance(T, numbers.Integral) or T < 1:
            raise ParameterError(
                f"a static input [B, n_in] needs the number of steps T, an integer >= 1 (got {T!r})"
            )
        x = np.broadcast_to(x[None], (int(T),) + x.shape)
    if x.ndim != 3:
        raise ParameterError(f"input must be [T, B, n_in] or static [B, n_in], got {x.shape}")
    if n_in is not None and x.shape[-1] != n_in:
        raise ParameterError(f"input has width {x.shape[-1]}, the network expects {n_in}")
    xf = x.astype(np.float64)
    if not np.all((xf == 0) | (xf == 1)):
        raise ParameterError("input must hold binary spikes (0 or 1)")
    return np.ascontiguousarray(xf)


@dataclass
class AgreementReport:
    """Result of :func:`agreement`.

    Attributes:
        engines: per engine ``{"accuracy" (None without labels), "spikes" (output spike count),
            "layer_spikes": [...], "rate" (output firing rate)}``.
        pairs: per ``"a vs b"`` ``{"output_match", "layer_match": [...], "prediction_agreement",
            "identical" (bool)}``.
        n_samples, T, sizes, n_classes: the run.
        quantization: summary of the quantisation used for the fixed-point engines.
        timing: seconds per engine.
    """

    engines: dict = field(default_factory=dict)
    pairs: dict = field(default_factory=dict)
    n_samples: int = 0
    T: int = 0
    sizes: list = field(default_factory=list)
    n_classes: int = 2
    quantization: dict = field(default_factory=dict)
    timing: dict = field(default_factory=dict)

    def pair(self, a: str, b: str) -> dict:
        key = f"{a} vs {b}"
        if key not in self.pairs:
            key = f"{b} vs {a}"
        return self.pairs[key]

    def to_dict(self) -> dict:
        return _jsonable(
            {
                "n_samples": self.n_samples,
                "T": self.T,
                "sizes": self.sizes,
                "n_classes": self.n_classes,
                "engines": self.engines,
                "pairs": self.pairs,
                "quantization": self.quantization,
                "timing": self.timing,
            }
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    def to_markdown(self) -> str:
        lines = [
            f"## Engine agreement: network {self.sizes}, {self.n_samples} samples x {self.T} "
            f"steps, {self.n_classes} classes",
            "",
            "| engine | accuracy | output spikes | spikes per layer |",
            "|---|---|---|---|",
        ]
        for name, e in self.engines.items():
            acc = "-" if e.get("accuracy") is None else f"{100 * e['accuracy']:.2f}%"
            lines.append(f"| {name} | {acc} | {e['spikes']} | {e['layer_spikes']} |")
        lines += [
            "",
            "| pair | output spike match | per-layer match | prediction agreement |",
            "|---|---|---|---|",
        ]
        for name, p in self.pairs.items():
            layers = ", ".join(f"{100 * v:.3f}%" for v in p["layer_match"])
            lines.append(
                f"| {name} | {100 * p['output_match']:.3f}% | {layers} | "
                f"{100 * p['prediction_agreement']:.2f}% |"
            )
        q = self.quantization
        if q:
            lines += [
                "",
                f"Quantisation: max error {q.get('max_rel_range_error', 0):.3g} of a tensor's "
                f"range (max relative error {q.get('max_rel_error', 0):.3g}), "
                f"{q.get('n_clipped', 0)} clipped, {q.get('n_zeroed', 0)} rounded to zero; "
                f"scales {q.get('scales')}.",
            ]
        return "\n".join(lines)

    __str__ = to_markdown


def _resolve(model_or_spec, quantized):
    """``(float spec or None, torch net or None, fixed spec, quant report or None, classes or
    None)``; ``classes`` is what the model says about its output coding (a model file's or an
    ``NTNetwork``'s ``n_classes``)."""
    m = resolve_model(model_or_spec, "agreement")
    obj, info, net, classes = m.spec, m.info, m.net, m.n_classes
    if obj.fixed:
        return None, None, obj, None, classes
    report = None
    if quantized is not None:
        if isinstance(quantized, tuple):
            fixed, report = quantized
        else:
            fixed = quantized
    elif info is not None and info.quantized is not None:
        fixed, report = info.quantized, info.quant_report
    else:
        fixed, report = quantize(obj)
    if not isinstance(fixed, NetworkSpec) or not fixed.fixed:
        raise ParameterError("agreement: 'quantized' must be a fixed-point NetworkSpec")
    if report is not None and not isinstance(report, QuantReport):
        report = None
    return obj, net, fixed, report, classes


def _run_engine(engine: str, fspec, net, qspec, xs: np.ndarray, timeout) -> list[np.ndarray]:
    """Every layer's spikes ``[T, B, n]`` of one engine on input ``xs``."""
    # the numpy-only lava_nt.hardware imports this module (as_spike_input): torch stays out
    # lazy: torch only when the engines run
    import torch

    from lava_nt.nn.fixed_emulator import run_fixed  # lazy: torch, as above
    from lava_nt.nn.network import NTNetwork  # lazy: torch, as above

    if engine == "torch_float":
        tnet = NTNetwork.from_spec(fspec, dtype=torch.float64) if net is None else net
        with torch.no_grad():
            xt = torch.as_tensor(xs, dtype=next(tnet.parameters()).dtype)
            return tnet.run(xt, record=True).numpy_layer_spikes()
    if engine == "torch_fixed":
        return run_fixed(qspec, torch.as_tensor(xs), record=True).numpy_layer_spikes()
    if engine == "lava_float":
        return run_network(fspec, xs, "float", timeout=timeout, record=True).numpy_layer_spikes()
    return run_network(qspec, xs, "fixed", timeout=timeout, record=True).numpy_layer_spikes()


def _known_engines(engines) -> tuple[str, ...]:
    engines = tuple(engines)
    for e in engines:
        if e not in ENGINES:
            raise ParameterError(f"agreement: unknown engine {e!r}; engines: {ENGINES}")
    return engines


def _runnable_engines(engines: tuple[str, ...], float_spec_given: bool) -> tuple[str, ...]:
    """The engines that can run: only the fixed ones for a fixed-point spec."""
    if float_spec_given:
        return engines
    engines = tuple(e for e in engines if e.endswith("fixed"))
    if not engines:
        raise ParameterError("agreement: a fixed-point spec runs only on the fixed engines")
    return engines


def _classes(given, known, y, n_out: int) -> int:
    """The class count of :func:`agreement`: :func:`lava_nt.decode.output_classes` (``given``,
    else the model's; unknown is an error), except that without labels and without any count
    every output neuron counts as its own class."""
    if given is None and known is None and y is None:
        return int(n_out)
    return output_classes(given, known, "agreement")


def _check_labels(y, B: int):
    if y is None:
        return None
    y = np.asarray(y.detach().cpu().numpy() if hasattr(y, "detach") else y)
    if y.shape != (B,) or not np.issubdtype(y.dtype, np.integer):
        raise ParameterError(f"agreement: y must hold {B} integer labels, got {y.shape}")
    return y


def _pair_summary(la: list, lb: list, pa: np.ndarray, pb: np.ndarray) -> dict:
    match = [float(np.mean(sa == sb)) for sa, sb in zip(la, lb, strict=True)]
    return {
        "output_match": match[-1],
        "layer_match": match,
        "prediction_agreement": float(np.mean(pa == pb)),
        "identical": all(m == 1.0 for m in match),
    }


def _quantization_summary(qrep) -> dict:
    if qrep is None:
        return {}
    return {
        "scales": [lq.scale for lq in qrep.layers],
        "max_rel_error": qrep.max_rel_error,
        "max_rel_range_error": qrep.max_rel_range_error,
        "n_clipped": qrep.n_clipped,
        "n_zeroed": qrep.n_zeroed,
        "exact": qrep.exact,
    }


def agreement(
    model_or_spec,
    x,
    y=None,
    n_classes: int | None = None,
    *,
    T: int | None = None,
    quantized=None,
    engines=ENGINES,
    timeout: float | None = None,
) -> AgreementReport:
    """Run ``model_or_spec`` on every engine and compare (see the module docstring).

    Args:
        model_or_spec: an ``NTNetwork``, a float ``NetworkSpec`` (quantised here unless
            ``quantized`` is given), a fixed ``NetworkSpec`` (fixed engines only) or the path of
            a model file (its attached quantised spec is used if present).
        x: binary spikes ``[T, B, n_in]`` or a static ``[B, n_in]`` input (then pass ``T``).
        y: optional integer labels ``[B]`` (accuracy per engine).
        n_classes: classes of the population code (``n_out`` must be a multiple); predictions
            are :func:`lava_nt.decode.predictions` (ties to the lower class). Default: the
            model's (model file, ``NTNetwork.n_classes``, readout units); when the model does not
            say, labels ``y`` make it an error, and without labels every output neuron counts
            as its own class (prediction agreement = agreement of the most active neuron).
        quantized: a fixed spec or ``(fixed spec, QuantReport)`` to use for the fixed engines.
        engines: the subset of :data:`ENGINES` to run.
        timeout: per Lava run (default: generous, proportional to the steps).
    """
    engines = _known_engines(engines)
    fspec, net, qspec, qrep, known = _resolve(model_or_spec, quantized)
    engines = _runnable_engines(engines, fspec is not None)
    spec_any = fspec if fspec is not None else qspec
    if spec_any.readout is not None or spec_any.graded:
        what = "an integrator readout" if spec_any.readout is not None else "real-valued input"
        raise ParameterError(
            f"agreement: the network has {what}; compare its engines one at a time with "
            "lava-nt evaluate MODEL --data D.npz --engine lava-float|lava-fixed (it decides by "
            "the readout values and encodes graded input for fixed point)"
        )
    xs = as_spike_input(x, T, spec_any.n_in)
    Tn, B, _ = xs.shape
    y = _check_labels(y, B)
    n_classes = _classes(n_classes, known, y, spec_any.n_out)
    if y is not None:
        check_labels(y, n_classes, "agreement")
    outs: dict[str, list[np.ndarray]] = {}
    timing = {}
    for e in engines:
        t0 = time.perf_counter()
        outs[e] = _run_engine(e, fspec, net, qspec, xs, timeout)
        timing[e] = time.perf_counter() - t0
    rep = AgreementReport(
        n_samples=B, T=Tn, sizes=list(spec_any.sizes), n_classes=int(n_classes), timing=timing
    )
    preds = {}
    for e, layers in outs.items():
        out = layers[-1]
        preds[e] = predictions(out, n_classes)
        rep.engines[e] = {
            "accuracy": None if y is None else float(np.mean(preds[e] == y)),
            "spikes": int(out.sum()),
            "layer_spikes": [int(s.sum()) for s in layers],
            "rate": float(out.mean()),
        }
    for a, b in PAIRS:
        if a in outs and b in outs:
            rep.pairs[f"{a} vs {b}"] = _pair_summary(outs[a], outs[b], preds[a], preds[b])
    rep.quantization = _quantization_summary(qrep)
    return rep

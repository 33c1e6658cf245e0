"""Agreement of one model across the four engines: torch float, torch fixed-point emulator,
Lava float and Lava fixed point.

:func:`agreement` runs the same input through

* ``torch_float``: :class:`~lava_nt.nn.network.NTNetwork` in float64 (the trained model);
* ``torch_fixed``: :func:`~lava_nt.nn.fixed_emulator.emulate_fixed` on the quantised spec;
* ``lava_float``: :func:`~lava_nt.converters.lava_graph.run_network` (``"float"``);
* ``lava_fixed``: ``run_network`` on the quantised spec (``"fixed"``);

and reports, for every pair, the output and per-layer spike-match rates (fraction of equal
``(t, sample, neuron)`` entries), spike counts, prediction agreement and, with labels, each
engine's accuracy. Engines with the same arithmetic must agree exactly (``torch_float``/
``lava_float`` up to float rounding, ``torch_fixed``/``lava_fixed`` bit for bit); the float/fixed
pairs measure the quantisation.

Decisions are :func:`lava_nt.decode.output_predictions` of the output: population-coded spike
counts, or, for a network that ends in an integrator readout, the readout's values (its voltage
trace reduced over the window as the readout says: ``"last"``, ``"mean"`` or ``"max"``). Readout
values are compared between engines of the same precision: the fixed-point pair must be equal
value for value, the float pair within :data:`FLOAT_READOUT_TOLERANCE` (relative to the largest
value); float and fixed values are in other units (fixed: integer voltage units), so those pairs
compare decisions only.

Real-valued (graded) input: the float engines take the data ``x`` as they are, the fixed-point
engines the integers ``round(x * input_scale)`` (:mod:`lava_nt.converters.quantize.scale`, the
rule ``lava-nt evaluate`` uses): the scale of the quantisation report (attached or given), or,
when the network is quantised here, the power of two that puts the data's largest magnitude into
the 8-bit range.
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
from lava_nt.converters.quantize.scale import fixed_point_input, graded_input_scale
from lava_nt.decode import (  # predictions re-exported: its home is lava_nt.decode
    check_labels,
    output_classes,
    output_predictions,
    predictions,
)
from lava_nt.network import NetworkSpec, check_network_input
from lava_nt.spec.readout import reduce_readout
from lava_nt.spec.validation import ParameterError

__all__ = [
    "ENGINES",
    "FLOAT_READOUT_TOLERANCE",
    "AgreementReport",
    "agreement",
    "as_network_input",
    "as_spike_input",
    "predictions",
]

#: Largest difference between the readout values of the two float64 engines (torch, Lava float),
#: relative to the largest value (at least 1): they run the same operations, so they differ by
#: float rounding only.
FLOAT_READOUT_TOLERANCE = 1e-9

ENGINES = ("torch_float", "torch_fixed", "lava_float", "lava_fixed")
PAIRS = (
    ("torch_float", "lava_float"),
    ("torch_fixed", "lava_fixed"),
    ("torch_float", "torch_fixed"),
    ("lava_float", "lava_fixed"),
    ("torch_float", "lava_fixed"),
)


def _held(x, T) -> np.ndarray:
    """``x`` as a numpy array; a static ``[B, n_in]`` input held for ``T`` steps (checked)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim == 2:
        if T is None or isinstance(T, bool) or not isinstance(T, numbers.Integral) or T < 1:
            raise ParameterError(
                f"a static input [B, n_in] needs the number of steps T, an integer >= 1 (got {T!r})"
            )
        x = np.broadcast_to(x[None], (int(T),) + x.shape)
    return x


def as_spike_input(x, T: int | None = None, n_in: int | None = None) -> np.ndarray:
    """``x`` as binary float spikes ``[T, B, n_in]``: a ``[T, B, n_in]`` array as it is, or a
    static ``[B, n_in]`` input held for ``T`` steps."""
    x = _held(x, T)
    if x.ndim != 3:
        raise ParameterError(f"input must be [T, B, n_in] or static [B, n_in], got {x.shape}")
    if n_in is not None and x.shape[-1] != n_in:
        raise ParameterError(f"input has width {x.shape[-1]}, the network expects {n_in}")
    xf = x.astype(np.float64)
    if not np.all((xf == 0) | (xf == 1)):
        raise ParameterError("input must hold binary spikes (0 or 1)")
    return np.ascontiguousarray(xf)


def as_network_input(spec: NetworkSpec, x, T: int | None = None) -> np.ndarray:
    """``x`` as the input ``[T, B, n_in]`` (float64) of ``spec``: binary spikes
    (:func:`as_spike_input`) for a spiking network; for a graded-input network any finite values
    (integers within the graded-spike payload for a fixed-point spec), a static ``[B, n_in]``
    input held for ``T`` steps."""
    if not spec.graded:
        return as_spike_input(x, T, spec.n_in)
    x = _held(x, T)
    return np.ascontiguousarray(check_network_input(spec, x, "agreement"))


@dataclass
class AgreementReport:
    """Result of :func:`agreement`.

    Attributes:
        engines: per engine ``{"accuracy" (None without labels), "spikes" (spike count of the
            last spiking layer), "layer_spikes": [...], "rate" (its firing rate)}``.
        pairs: per ``"a vs b"`` ``{"output_match", "layer_match": [...], "prediction_agreement",
            "identical" (bool)}``; for a readout network ``output_match`` is the fraction of
            equal readout-trace entries (None for a float/fixed pair: other units) and the
            same-precision pairs add ``"readout_max_abs_difference"`` and ``"readout_agree"``
            (fixed: equal; float: within :data:`FLOAT_READOUT_TOLERANCE`).
        n_samples, T, sizes, n_classes: the run.
        readout: ``{"n", "reduce"}`` of the network's readout ({} without one).
        readout_values: per engine the readout values ``[N, n_classes]`` (the decisions' scores;
            fixed point in integer units), empty without a readout.
        predictions: per engine the predicted classes ``[N]``.
        input_scale: graded input: the fixed engines took ``round(x * input_scale)`` (None for
            spike input).
        quantization: summary of the quantisation used for the fixed-point engines.
        timing: seconds per engine.
    """

    engines: dict = field(default_factory=dict)
    pairs: dict = field(default_factory=dict)
    n_samples: int = 0
    T: int = 0
    sizes: list = field(default_factory=list)
    n_classes: int = 2
    readout: dict = field(default_factory=dict)
    readout_values: dict = field(default_factory=dict)
    predictions: dict = field(default_factory=dict)
    input_scale: float | None = None
    quantization: dict = field(default_factory=dict)
    timing: dict = field(default_factory=dict)

    def pair(self, a: str, b: str) -> dict:
        key = f"{a} vs {b}"
        if key not in self.pairs:
            key = f"{b} vs {a}"
        return self.pairs[key]

    def to_dict(self) -> dict:
        out = {
            "n_samples": self.n_samples,
            "T": self.T,
            "sizes": self.sizes,
            "n_classes": self.n_classes,
            "engines": self.engines,
            "pairs": self.pairs,
            "quantization": self.quantization,
            "timing": self.timing,
        }
        if self.readout:
            out["readout"] = self.readout
            out["readout_values"] = {e: np.asarray(v).tolist() for e, v in
                                     self.readout_values.items()}  # fmt: skip
        if self.input_scale is not None:
            out["input_scale"] = self.input_scale
        return _jsonable(out)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    def to_markdown(self) -> str:
        what = f"readout of {self.readout['n']} units" if self.readout else "output spikes"
        lines = [
            f"## Engine agreement: network {self.sizes}, {self.n_samples} samples x {self.T} "
            f"steps, {self.n_classes} classes ({what})",
            "",
            "| engine | accuracy | last-layer spikes | spikes per layer |",
            "|---|---|---|---|",
        ]
        for name, e in self.engines.items():
            acc = "-" if e.get("accuracy") is None else f"{100 * e['accuracy']:.2f}%"
            lines.append(f"| {name} | {acc} | {e['spikes']} | {e['layer_spikes']} |")
        head = "| pair | output spike match | per-layer match | prediction agreement |"
        if self.readout:
            head = "| pair | readout values | per-layer match | prediction agreement |"
        lines += ["", head, "|---|---|---|---|"]
        for name, p in self.pairs.items():
            layers = ", ".join(f"{100 * v:.3f}%" for v in p["layer_match"])
            lines.append(
                f"| {name} | {_output_cell(p, bool(self.readout))} | {layers} | "
                f"{100 * p['prediction_agreement']:.2f}% |"
            )
        if self.input_scale is not None:
            lines += ["", f"Graded input: the fixed-point engines took round(x * "
                          f"{self.input_scale:g})."]  # fmt: skip
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


def _output_cell(p: dict, readout: bool) -> str:
    if not readout:
        return f"{100 * p['output_match']:.3f}%"
    if p["output_match"] is None:
        return "other units (float vs fixed)"
    diff = p["readout_max_abs_difference"]
    return f"{100 * p['output_match']:.3f}% equal, max abs diff {diff:.3g}"


def _resolve(model_or_spec, quantized):
    """``(float spec or None, torch net or None, fixed spec or None, quant report or None,
    classes or None)``; ``classes`` is what the model says about its output coding (a model
    file's or an ``NTNetwork``'s ``n_classes``). The fixed spec is None when the float model is
    to be quantised here (:func:`_quantize_here`: it needs the data for graded input)."""
    m = resolve_model(model_or_spec, "agreement")
    obj, info, net, classes = m.spec, m.info, m.net, m.n_classes
    if obj.fixed:
        return None, None, obj, None, classes
    fixed = report = None
    if quantized is not None:
        if isinstance(quantized, tuple):
            fixed, report = quantized
        else:
            fixed = quantized
        if not isinstance(fixed, NetworkSpec) or not fixed.fixed:
            raise ParameterError("agreement: 'quantized' must be a fixed-point NetworkSpec")
    elif info is not None and info.quantized is not None:
        fixed, report = info.quantized, info.quant_report
    if report is not None and not isinstance(report, QuantReport):
        report = None
    return obj, net, fixed, report, classes


def _quantize_here(fspec: NetworkSpec, xs: np.ndarray):
    """``quantize`` of the float spec; graded input gets the scale the data call for
    (:func:`~lava_nt.converters.quantize.scale.graded_input_scale`)."""
    scale = graded_input_scale(fspec, xs)
    return quantize(fspec) if scale is None else quantize(fspec, input_scale=scale)


def _run_engine(engine: str, fspec, net, qspec, xs: dict, timeout):
    """``(every layer's spikes [T, B, n], output [T, B, n_out])`` of one engine; ``xs`` holds
    the float engines' input (``"float"``) and the fixed ones' (``"fixed"``)."""
    # the numpy-only lava_nt.hardware imports this module (as_spike_input): torch stays out
    # lazy: torch only when the engines run
    import torch

    from lava_nt.nn.fixed_emulator import run_fixed  # lazy: torch, as above
    from lava_nt.nn.network import NTNetwork  # lazy: torch, as above

    if engine == "torch_float":
        tnet = NTNetwork.from_spec(fspec, dtype=torch.float64) if net is None else net
        with torch.no_grad():
            xt = torch.as_tensor(xs["float"], dtype=next(tnet.parameters()).dtype)
            res = tnet.run(xt, record=True)
    elif engine == "torch_fixed":
        res = run_fixed(qspec, torch.as_tensor(xs["fixed"]), record=True)
    elif engine == "lava_float":
        res = run_network(fspec, xs["float"], "float", timeout=timeout, record=True)
    else:
        res = run_network(qspec, xs["fixed"], "fixed", timeout=timeout, record=True)
    return res.numpy_layer_spikes(), res.numpy_output()


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
    every output neuron (readout unit) counts as its own class."""
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


def _precision(engine: str) -> str:
    return engine.rpartition("_")[2]


def _pair_summary(a: str, b: str, runs: dict, preds: dict, readout: bool) -> dict:
    (la, oa), (lb, ob) = runs[a], runs[b]
    match = [float(np.mean(sa == sb)) for sa, sb in zip(la, lb, strict=True)]
    out = {
        "output_match": match[-1],
        "layer_match": match,
        "prediction_agreement": float(np.mean(preds[a] == preds[b])),
    }
    if not readout:
        out["identical"] = all(m == 1.0 for m in match)
        return out
    if _precision(a) != _precision(b):  # integer and float readout values: other units
        out.update(output_match=None, identical=False)
        return out
    diff = float(np.max(np.abs(oa - ob), initial=0.0))
    out["output_match"] = float(np.mean(oa == ob))
    out["readout_max_abs_difference"] = diff
    if _precision(a) == "fixed":
        out["readout_agree"] = diff == 0.0
    else:
        scale = max(1.0, float(np.max(np.abs(oa), initial=0.0)))
        out["readout_agree"] = diff <= FLOAT_READOUT_TOLERANCE * scale
    out["identical"] = out["output_match"] == 1.0 and all(m == 1.0 for m in match)
    return out


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


def _engine_summary(layers: list, pred, y) -> dict:
    last = layers[-1]
    return {
        "accuracy": None if y is None else float(np.mean(pred == y)),
        "spikes": int(last.sum()),
        "layer_spikes": [int(s.sum()) for s in layers],
        "rate": float(last.mean()),
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
        x: binary spikes ``[T, B, n_in]`` or a static ``[B, n_in]`` input (then pass ``T``); for
            a network built for graded input, real values (the float engines take them as
            they are, the fixed ones ``round(x * input_scale)``; a fixed-point spec alone takes
            integers).
        y: optional integer labels ``[B]`` (accuracy per engine).
        n_classes: classes of the population code (``n_out`` must be a multiple; a readout has
            one unit per class); predictions are :func:`lava_nt.decode.output_predictions`
            (ties to the lower class). Default: the model's (model file, ``NTNetwork.n_classes``,
            readout units); when the model does not say, labels ``y`` make it an error, and
            without labels every output neuron counts as its own class (prediction agreement =
            agreement of the most active neuron, or of the largest readout value).
        quantized: a fixed spec or ``(fixed spec, QuantReport)`` to use for the fixed engines
            (graded input: the report's ``input_scale``, 1 without a report).
        engines: the subset of :data:`ENGINES` to run.
        timeout: per Lava run (default: generous, proportional to the steps).
    """
    engines = _known_engines(engines)
    fspec, net, qspec, qrep, known = _resolve(model_or_spec, quantized)
    engines = _runnable_engines(engines, fspec is not None)
    spec_any = fspec if fspec is not None else qspec
    xs = as_network_input(spec_any, x, T)
    any_fixed = any(_precision(e) == "fixed" for e in engines)
    if qspec is None and any_fixed:
        qspec, qrep = _quantize_here(fspec, xs)
    inputs = {"float": xs, "fixed": xs}
    if fspec is not None:
        inputs["fixed"] = fixed_point_input(fspec, qrep, xs)
    input_scale = None  # a fixed-point spec alone takes the integers it is given: scale 1
    if spec_any.graded and any_fixed:
        input_scale = float(getattr(qrep, "input_scale", None) or 1.0) if fspec is not None else 1.0
    Tn, B, _ = xs.shape
    y = _check_labels(y, B)
    ro = spec_any.readout
    if known is None and ro is not None:
        known = int(ro.n)  # a readout has one unit per class
    n_classes = _classes(n_classes, known, y, spec_any.n_out)
    if y is not None:
        check_labels(y, n_classes, "agreement")
    reduce = None if ro is None else ro.reduce
    runs: dict[str, tuple[list[np.ndarray], np.ndarray]] = {}
    timing = {}
    for e in engines:
        t0 = time.perf_counter()
        runs[e] = _run_engine(e, fspec, net, qspec, inputs, timeout)
        timing[e] = time.perf_counter() - t0
    rep = AgreementReport(
        n_samples=B, T=Tn, sizes=list(spec_any.sizes), n_classes=int(n_classes), timing=timing,
        readout={} if ro is None else {"n": int(ro.n), "reduce": reduce},
        input_scale=input_scale,
    )  # fmt: skip
    for e, (layers, output) in runs.items():
        rep.predictions[e] = output_predictions(output, n_classes, reduce)
        if ro is not None:
            rep.readout_values[e] = reduce_readout(output, reduce)
        rep.engines[e] = _engine_summary(layers, rep.predictions[e], y)
    for a, b in PAIRS:
        if a in runs and b in runs:
            rep.pairs[f"{a} vs {b}"] = _pair_summary(a, b, runs, rep.predictions, ro is not None)
    rep.quantization = _quantization_summary(qrep)
    return rep

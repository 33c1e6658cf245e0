"""The quantisation report: per-layer scales, exponents and rounding / clipping statistics."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from lava_nt.io import to_jsonable


# ---- report ---------------------------------------------------------------------------------
@dataclass
class TensorQuant:
    """Rounding statistics of one quantised tensor (errors in float units).

    ``max_rel_error`` / ``mean_rel_error`` are over the nonzero entries (``|q - x| / |x|``);
    ``max_rel_range_error`` is ``max |q - x| / max |x|``. ``n_zeroed`` counts nonzero values that
    became 0; ``n_clipped`` values outside the representable range (``worst_clipped`` is the
    value furthest outside, ``clip_limit`` what it became).
    """

    name: str
    size: int
    max_abs_error: float = 0.0
    max_rel_error: float = 0.0
    mean_rel_error: float = 0.0
    max_rel_range_error: float = 0.0
    n_zeroed: int = 0
    n_clipped: int = 0
    worst_clipped: float | None = None
    clip_limit: float | None = None

    @property
    def exact(self) -> bool:
        return self.max_abs_error == 0.0 and self.n_clipped == 0


def _decays(r) -> str:
    """A decay register for the report: ``123``, or ``per-neuron 17..4095`` for a list."""
    if isinstance(r, list | tuple):
        return f"per-neuron {min(r)}..{max(r)}" if r else "-"
    return str(r)


@dataclass
class LayerQuant:
    """What :func:`quantize` chose for one layer (and its spiking bias, if any)."""

    index: int
    scale: float
    scale_limit: str
    weight_exp: int
    bias_exp: list[int]
    vth_mant: int
    du: int | list[int]  # one register per layer, or a list with one per neuron
    dv: int | list[int]
    tensors: dict[str, TensorQuant] = field(default_factory=dict)
    spiking_bias: dict | None = None  # scale, scale_limit, w_in_exp, vth_mant, du, dv, dc, w_b_exp
    warnings: list[str] = field(default_factory=list)


@dataclass
class QuantReport:
    """Per-layer scales, exponents and rounding / clipping statistics of a quantisation."""

    layers: list[LayerQuant]
    fold_gains: bool = False
    target: str = "lava"
    bias_exp_mode: str = "neuron"
    warnings: list[str] = field(default_factory=list)
    #: the readout's scale and registers (``du`` = i_decay, ``dv`` = v_decay), None without one
    readout: LayerQuant | None = None
    #: graded input: the fixed-point network takes ``round(x * input_scale)``
    input_scale: float = 1.0
    #: what the calibrated quantiser tried and chose per layer (:mod:`.calibrate`), else None
    calibration: dict | None = None

    # ---- summaries --------------------------------------------------------------------------
    def tensors(self):
        """``(layer index, TensorQuant)`` for every tensor of every layer."""
        for lq in self.layers + ([self.readout] if self.readout is not None else []):
            for tq in lq.tensors.values():
                yield lq.index, tq

    @property
    def exact(self) -> bool:
        """True if every value was represented exactly (nothing rounded or clipped)."""
        return all(tq.exact for _, tq in self.tensors())

    @property
    def n_clipped(self) -> int:
        return sum(tq.n_clipped for _, tq in self.tensors())

    @property
    def n_zeroed(self) -> int:
        return sum(tq.n_zeroed for _, tq in self.tensors())

    @property
    def max_rel_error(self) -> float:
        """Largest ``|q - x| / |x|`` over all nonzero values (1.0 if any value became 0)."""
        return max((tq.max_rel_error for _, tq in self.tensors()), default=0.0)

    @property
    def max_rel_range_error(self) -> float:
        """Largest ``|q - x| / max|x|`` of any tensor (rounding against the tensor's range)."""
        return max((tq.max_rel_range_error for _, tq in self.tensors()), default=0.0)

    def clipped(self) -> list[tuple[int, str, int, float | None, float | None]]:
        """Every tensor with clipped values: ``(layer, tensor, count, worst, limit)``."""
        return [
            (k, tq.name, tq.n_clipped, tq.worst_clipped, tq.clip_limit)
            for k, tq in self.tensors()
            if tq.n_clipped
        ]

    # ---- serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        """A JSON-serialisable dict (inverse: :meth:`from_dict`)."""
        return _jsonable(asdict(self))

    @classmethod
    def from_dict(cls, d: dict) -> QuantReport:
        layers = []
        for ld in d["layers"]:
            ld = dict(ld)
            ld["tensors"] = {k: TensorQuant(**v) for k, v in ld.get("tensors", {}).items()}
            layers.append(LayerQuant(**ld))
        rest = {k: v for k, v in d.items() if k not in ("layers", "readout")}
        readout = None
        if d.get("readout") is not None:
            rd = dict(d["readout"])
            rd["tensors"] = {k: TensorQuant(**v) for k, v in rd.get("tensors", {}).items()}
            readout = LayerQuant(**rd)
        return cls(layers=layers, readout=readout, **rest)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    def to_markdown(self) -> str:
        lines = [
            f"## Quantisation report (target {self.target}, gains "
            f"{'folded' if self.fold_gains else 'kept'}, bias_exp {self.bias_exp_mode})",
            "",
            "| layer | scale S | limited by | weight_exp | bias_exp | vth | du | dv |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for lq in self.layers:
            be = f"{min(lq.bias_exp)}..{max(lq.bias_exp)}" if lq.bias_exp else "-"
            lines.append(
                f"| {lq.index} | {lq.scale:g} | {lq.scale_limit} | {lq.weight_exp} | {be} | "
                f"{lq.vth_mant} | {_decays(lq.du)} | {_decays(lq.dv)} |"
            )
            sb = lq.spiking_bias
            if sb:
                lines.append(
                    f"| {lq.index} (spiking bias) | {sb['scale']:g} | {sb['scale_limit']} | "
                    f"{sb['w_in_exp']} | - | {sb['vth_mant']} | {sb['du']} | {sb['dv']} |"
                )
        lines += [
            "",
            "| layer | tensor | size | max rel err | mean rel err | max err / range | "
            "zeroed | clipped (worst -> limit) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for k, tq in self.tensors():
            clip = "0"
            if tq.n_clipped:
                clip = f"{tq.n_clipped} ({tq.worst_clipped:.6g} -> {tq.clip_limit:.6g})"
            lines.append(
                f"| {k} | {tq.name} | {tq.size} | {tq.max_rel_error:.3g} | "
                f"{tq.mean_rel_error:.3g} | {tq.max_rel_range_error:.3g} | {tq.n_zeroed} | {clip} |"
            )
        warns = list(self.warnings) + [w for lq in self.layers for w in lq.warnings]
        if warns:
            lines += ["", "Warnings:", ""] + [f"- {w}" for w in warns]
        return "\n".join(lines)

    def summary(self) -> str:
        """A few lines: scales, worst errors, clipped / zeroed counts."""
        out = [
            f"quantised {len(self.layers)} layers for {self.target} "
            f"(gains {'folded' if self.fold_gains else 'kept'}): max error "
            f"{self.max_rel_range_error:.3g} of a tensor's range, {self.n_clipped} clipped, "
            f"{self.n_zeroed} rounded to zero" + (" (exact)" if self.exact else "")
        ]
        for lq in self.layers:
            out.append(
                f"  layer {lq.index}: S={lq.scale:g} ({lq.scale_limit}), weight_exp={lq.weight_exp}"
                f", vth={lq.vth_mant}, du={_decays(lq.du)}, dv={_decays(lq.dv)}"
            )
        for w in list(self.warnings) + [w for lq in self.layers for w in lq.warnings]:
            out.append(f"  warning: {w}")
        if self.calibration:
            out += calibration_lines(self)
        return "\n".join(out)

    __str__ = summary


def _jsonable(x):
    """JSON form of a report (non-finite floats as strings: strict JSON)."""
    return to_jsonable(x, nonfinite="str")


def calibration_lines(report) -> list[str]:
    """Human-readable lines of ``report.calibration`` (empty without calibration)."""
    cal = getattr(report, "calibration", None)
    if not cal:
        return []
    out = [f"calibrated on {cal['samples']} samples (agreement with the float network):"]
    for e in cal["layers"]:
        d = e["default"]
        line = f"  layer {e['layer']}: "
        c = e["chosen"]
        if c is None:
            line += f"default kept (S={d['scale']:g})"
        else:
            line += (
                f"S={c['scale']:g} (default {d['scale']:g}), clip at {c['clip']}, "
                f"{c['rounding']} rounding, leak compensation "
                f"{'on' if c['leak_compensation'] else 'off'}"
                f", bias shift up to {c['max_abs_bias_shift']:.3g}"
            )
        line += (
            f"; spike agreement {100 * d['spike_agreement']:.2f}% -> "
            f"{100 * e['spike_agreement']:.2f}%"
        )
        if e.get("prediction_agreement") is not None:
            line += (
                f", predictions {100 * d['prediction_agreement']:.1f}% -> "
                f"{100 * e['prediction_agreement']:.1f}%"
            )
        out.append(line + f" ({e['why']}; {len(e['tried'])} candidates)")
    return out

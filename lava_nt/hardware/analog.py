"""The paper's analog neuromodulation model: NT1 gains as synapse supply voltages.

JLPEA 2022 (Rogers et al., "Neuromodulatory tuning ...", §5.2.1; the same text is in Rogers'
2024 thesis) tunes a synapse by its supply voltage ``V_DD`` (0.5-1.0 V; the neuron core stays at
1 V). The synapse current comes from a current mirror whose reference branch has a resistive
load ``R_S``::

    (14)  I   = beta/2 * (V_GS - V_th)^2         (NMOS in saturation)
    (15)  V_G = V_DD - I * R_S                    (gate = V_GS: the source is grounded)
    (16)  I(V_DD) = (a x + 1 - sqrt(1 + 2 a x)) / (a R_S),   x = V_DD - V_th,  a = beta R_S
                  = beta x^2 / (a x + 1 + sqrt(1 + 2 a x))    (the form used here: stable, and
                                                               beta x^2 / 2 at R_S = 0)

and ``I = 0`` for ``V_DD <= V_th``. The paper prints (16) as
``(sqrt(4 k R_S x + 1) + 2 k R_S x + 1) / (2 k R_S^2)`` (garbled in the text extraction), which is
the solution of (14)-(15) written with ``k = beta/2`` (i.e. (14) without the 1/2) and with a
*minus* sign in front of the square root: the plus root has ``V_GS < V_th``, outside saturation.
:meth:`MirrorModel.current_paper_form` evaluates the printed form (minus root) for comparison.
``I(V_DD)`` is strictly increasing above ``V_th``; its inverse is closed-form::

    V_DD(I) = V_th + sqrt(2 I / beta) + I R_S

The paper relates the analog knob to the digital one by a factor ``k`` on the synapse current
("kIW ... If I W_b = k W then the behaviour of the two implementations is identical"): here an
NT1 gain ``g`` (``v += g (u + b)``) is that factor, ``g = I(V_DD) / I(V_ref)``, so ``V_ref``
(default 0.75 V, mid-range) is the supply of an untuned synapse (``g = 1``). The reachable gains
are ``[I(V_min), I(V_max)] / I(V_ref)``; gains outside raise :class:`AnalogRangeError` or are
clipped (``out_of_range="clip"``, counted in the report).

**Parameters.** The paper gives the supply range (0.5-1.0 V; Fig. 4 shows 550 mV and 750 mV),
but no values of ``beta``, ``R_S`` or ``V_th``. The defaults here (``beta`` = 200 uA/V^2,
``R_S`` = 100 kOhm, ``V_th`` = 0.35 V, a typical 28 nm NMOS) are *our assumptions*, exposed as
:class:`MirrorModel` fields; only ``beta R_S`` and ``V_th`` shape the gain curve. The paper's
measured neuron (28 nm CMOS, post-layout) is its reference point, not ours: 1.08 pJ/spike and
598 um^2 in total (132 um^2 core; Table 9).

Power domains (:func:`power_domains`): neurons that share a supply get one voltage, the one of
their mean gain (``domain_value="mean_gain"``) or the mean of their voltages; volumetric groups
(a layer's spiking-bias groups) are the natural domains. Voltages are then quantised to a DAC of
``dac_bits`` bits spanning ``[V_min, V_max]`` (:func:`quantize_voltage`), mapped back to gains and
the network is re-evaluated (:func:`lava_nt.hardware.analog_accuracy.analog_accuracy`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from lava_nt.network import LayerSpec, NetworkSpec
from lava_nt.spec.validation import ParameterError

__all__ = [
    "DOMAIN_MODES",
    "AnalogMapping",
    "AnalogRangeError",
    "LayerAnalog",
    "MirrorModel",
    "PAPER_REFERENCE",
    "dac_levels",
    "map_gains",
    "power_domains",
    "quantize_voltage",
]

DOMAIN_MODES = ("auto", "neuron", "layer", "volumetric")
OUT_OF_RANGE = ("error", "clip")
DOMAIN_VALUES = ("mean_gain", "mean_voltage")

#: The paper's measured neuron (JLPEA 2022 Table 9): its reference points, not ours.
PAPER_REFERENCE = {
    "process_nm": 28,
    "energy_per_spike_pj": 1.08,
    "area_um2_total": 598,
    "area_um2_core": 132,
    "max_spike_rate_hz": 3.3e6,
    "supply_range_v": [0.5, 1.0],
    "source": "Rogers et al., JLPEA 12(4):59, 2022, §5.2 and Table 9 (post-layout simulation "
    "of their analog neuron in TSMC 28 nm CMOS)",
}


class AnalogRangeError(ValueError):
    """A gain cannot be produced by a supply voltage in ``[V_min, V_max]``."""


@dataclass(frozen=True)
class MirrorModel:
    """Synapse current vs supply voltage (eq. 14-16, see the module docstring).

    Attributes:
        beta: transconductance parameter of eq. (14), A/V^2 (``I = beta/2 (V_GS - V_th)^2``).
        r_s: resistive load of the mirror's reference branch, ohm (>= 0).
        v_th: NMOS threshold voltage, V (must be below ``v_min``).
        v_min, v_max: supply range, V (paper: 0.5-1.0).
        v_ref: supply of unit gain (an untuned synapse), in ``[v_min, v_max]``.
    """

    beta: float = 200e-6
    r_s: float = 100e3
    v_th: float = 0.35
    v_min: float = 0.5
    v_max: float = 1.0
    v_ref: float = 0.75

    def __post_init__(self):
        vals = (self.beta, self.r_s, self.v_th, self.v_min, self.v_max, self.v_ref)
        if not all(np.isfinite(v) for v in vals):
            raise ParameterError("MirrorModel: parameters must be finite")
        if self.beta <= 0:
            raise ParameterError(f"MirrorModel: beta must be > 0, got {self.beta}")
        if self.r_s < 0:
            raise ParameterError(f"MirrorModel: r_s must be >= 0, got {self.r_s}")
        if not self.v_th < self.v_min < self.v_max:
            raise ParameterError(
                "MirrorModel: need v_th < v_min < v_max (the current must be positive and "
                f"monotone over the range), got v_th={self.v_th}, v_min={self.v_min}, "
                f"v_max={self.v_max}"
            )
        if not self.v_min <= self.v_ref <= self.v_max:
            raise ParameterError(
                f"MirrorModel: v_ref={self.v_ref} must be in [v_min, v_max] = "
                f"[{self.v_min}, {self.v_max}]"
            )

    # ---- the equation ------------------------------------------------------------------------
    def current(self, vdd):
        """Synapse current ``I(V_DD)`` in amperes (eq. 16; 0 at or below ``v_th``)."""
        x = np.maximum(np.asarray(vdd, dtype=np.float64) - self.v_th, 0.0)
        ax = self.beta * self.r_s * x
        return self.beta * x * x / (ax + 1.0 + np.sqrt(1.0 + 2.0 * ax))

    def current_paper_form(self, vdd):
        """Eq. (16) as printed, ``(2 k R x + 1 - sqrt(4 k R x + 1)) / (2 k R^2)`` with
        ``k = beta/2`` and the physical (minus) root; needs ``r_s > 0``."""
        if self.r_s <= 0:
            raise ParameterError("current_paper_form: the printed eq. (16) needs r_s > 0")
        x = np.maximum(np.asarray(vdd, dtype=np.float64) - self.v_th, 0.0)
        k, r = self.beta / 2.0, self.r_s
        return (2 * k * r * x + 1 - np.sqrt(4 * k * r * x + 1)) / (2 * k * r * r)

    def supply(self, current):
        """Inverse of :meth:`current`: ``V_DD = V_th + sqrt(2 I / beta) + I R_S`` (``I >= 0``)."""
        i = np.asarray(current, dtype=np.float64)
        if np.any(i < 0) or not np.all(np.isfinite(i)):
            raise AnalogRangeError("supply: currents must be finite and >= 0")
        return self.v_th + np.sqrt(2.0 * i / self.beta) + i * self.r_s

    @property
    def i_ref(self) -> float:
        return float(self.current(self.v_ref))

    def gain(self, vdd):
        """Gain ``I(V_DD) / I(V_ref)`` of a synapse supplied with ``vdd``."""
        return self.current(vdd) / self.i_ref

    @property
    def gain_range(self) -> tuple[float, float]:
        """Smallest and largest gain reachable in ``[v_min, v_max]``."""
        return float(self.gain(self.v_min)), float(self.gain(self.v_max))

    def supply_for_gain(self, g, out_of_range: str = "error"):
        """Supply voltages producing gains ``g``.

        ``out_of_range="error"`` raises :class:`AnalogRangeError` for a gain outside
        :attr:`gain_range` (naming how many, the worst and the range); ``"clip"`` clips to the
        range. Returns ``(voltages, clipped mask)``.
        """
        if out_of_range not in OUT_OF_RANGE:
            raise ParameterError(
                f"out_of_range must be one of {OUT_OF_RANGE}, got {out_of_range!r}"
            )
        g = np.asarray(g, dtype=np.float64)
        if not np.all(np.isfinite(g)):
            raise AnalogRangeError("supply_for_gain: gains must be finite")
        lo, hi = self.gain_range
        # a relative tolerance so that the range ends themselves round-trip
        tol = 1e-12 * max(1.0, hi)
        bad = (g < lo - tol) | (g > hi + tol)
        if np.any(bad) and out_of_range == "error":
            worst = g[bad][np.argmax(np.abs(g[bad] - np.clip(g[bad], lo, hi)))]
            raise AnalogRangeError(
                f"{int(bad.sum())} of {g.size} gains are outside the range reachable with "
                f"V_DD in [{self.v_min}, {self.v_max}] V: [{lo:.4g}, {hi:.4g}] (worst {worst:.4g}; "
                f"V_ref = {self.v_ref} V has gain 1). Widen the supply range, move v_ref, or "
                "use out_of_range='clip'"
            )
        gc = np.clip(g, lo, hi)
        v = np.clip(self.supply(gc * self.i_ref), self.v_min, self.v_max)
        return v, bad

    def to_dict(self) -> dict:
        lo, hi = self.gain_range
        return {
            "beta_A_per_V2": self.beta,
            "r_s_ohm": self.r_s,
            "v_th_V": self.v_th,
            "v_min_V": self.v_min,
            "v_max_V": self.v_max,
            "v_ref_V": self.v_ref,
            "i_ref_A": self.i_ref,
            "gain_range": [lo, hi],
            "parameters_source": "supply range from the paper; beta, r_s, v_th, v_ref are "
            "assumptions (the paper does not publish them)",
        }


# ---- DAC -------------------------------------------------------------------------------------
def _check_bits(bits) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int | np.integer) or not 1 <= bits <= 24:
        raise ParameterError(f"dac_bits must be an integer in 1..24, got {bits!r}")
    return int(bits)


def dac_levels(bits: int, v_min: float = 0.5, v_max: float = 1.0) -> np.ndarray:
    """The ``2**bits`` output levels of a DAC spanning ``[v_min, v_max]`` (both ends included)."""
    bits = _check_bits(bits)
    if not v_min < v_max:
        raise ParameterError(f"dac_levels: need v_min < v_max, got {v_min}, {v_max}")
    return v_min + (v_max - v_min) * np.arange(2**bits) / (2**bits - 1)


def quantize_voltage(v, bits: int, v_min: float = 0.5, v_max: float = 1.0) -> np.ndarray:
    """Nearest DAC level of each voltage (voltages are first clipped to ``[v_min, v_max]``)."""
    bits = _check_bits(bits)
    step = (v_max - v_min) / (2**bits - 1)
    code = np.rint((np.clip(np.asarray(v, np.float64), v_min, v_max) - v_min) / step)
    return v_min + step * code


# ---- power domains ---------------------------------------------------------------------------
def _group_of(ls: LayerSpec) -> np.ndarray | None:
    sb = ls.spiking_bias
    if sb is None or sb.params.group is None:
        return None
    return np.asarray(sb.params.group, dtype=np.int64)


def power_domains(spec: NetworkSpec, domains="auto") -> list[np.ndarray]:
    """Power-domain index of every neuron, per layer (ids ``0..D-1`` within a layer).

    ``domains``:
        ``"auto"``: a layer's volumetric groups (spiking bias with groups) where it has them,
        otherwise one domain per neuron (the paper: one adjustable supply per synapse);
        ``"volumetric"``: volumetric groups where available, otherwise one domain per layer;
        ``"neuron"``: one per neuron; ``"layer"``: one per layer;
        an int ``G``: contiguous blocks of ``G`` neurons (the last may be smaller);
        a list with one integer array ``(n,)`` per layer: explicit.
    """
    out = []
    if isinstance(domains, list | tuple):
        if len(domains) != len(spec.layers):
            raise ParameterError(f"power_domains: need {len(spec.layers)} arrays, one per layer")
        for k, (ls, d) in enumerate(zip(spec.layers, domains, strict=True)):
            d = np.asarray(d)
            if d.shape != (ls.n,) or not np.issubdtype(d.dtype, np.integer) or d.min() < 0:
                raise ParameterError(
                    f"power_domains: layer {k} needs {ls.n} non-negative integer domain ids"
                )
            _, d = np.unique(d, return_inverse=True)
            out.append(d.astype(np.int64))
        return out
    if isinstance(domains, int | np.integer) and not isinstance(domains, bool):
        if domains < 1:
            raise ParameterError(f"power_domains: a group size must be >= 1, got {domains}")
        return [np.arange(ls.n) // int(domains) for ls in spec.layers]
    if domains not in DOMAIN_MODES:
        raise ParameterError(
            f"power_domains: domains must be one of {DOMAIN_MODES}, a group size or a list of "
            f"arrays, got {domains!r}"
        )
    for ls in spec.layers:
        g = _group_of(ls) if domains in ("auto", "volumetric") else None
        if g is not None:
            _, g = np.unique(g, return_inverse=True)
            out.append(g.astype(np.int64))
        elif domains == "neuron" or (domains == "auto"):
            out.append(np.arange(ls.n))
        else:
            out.append(np.zeros(ls.n, np.int64))
    return out


# ---- mapping ---------------------------------------------------------------------------------
@dataclass
class LayerAnalog:
    """The analog mapping of one layer.

    ``gains``: tuned gains ``(n,)``; ``domain``: domain id per neuron; ``domain_gain``: the gain
    each domain aims for (before clipping); ``voltage``: its supply voltage (continuous, after
    clipping); ``dac_voltage``: after DAC quantisation; ``clipped``: domains whose gain was out of
    range. Per neuron: ``gain_domain`` (domain target), ``gain_voltage`` (clipped, continuous
    voltage) and ``gain_dac`` (after the DAC).
    """

    index: int
    gains: np.ndarray
    domain: np.ndarray
    domain_gain: np.ndarray
    voltage: np.ndarray
    dac_voltage: np.ndarray
    clipped: np.ndarray
    gain_domain: np.ndarray
    gain_voltage: np.ndarray
    gain_dac: np.ndarray

    @property
    def n_domains(self) -> int:
        return int(self.domain_gain.size)

    def errors(self) -> dict:
        """Max / mean absolute gain error of every stage against the tuned gains."""
        out = {}
        for name in ("gain_domain", "gain_voltage", "gain_dac"):
            e = np.abs(getattr(self, name) - self.gains)
            out[name.replace("gain_", "")] = {"max": float(e.max()), "mean": float(e.mean())}
        return out


@dataclass
class AnalogMapping:
    """Result of :func:`map_gains`."""

    mirror: MirrorModel
    domains: str
    domain_value: str
    dac_bits: int | None
    out_of_range: str
    layers: list[LayerAnalog] = field(default_factory=list)

    @property
    def n_clipped(self) -> int:
        return int(sum(la.clipped.sum() for la in self.layers))

    @property
    def n_domains(self) -> int:
        return sum(la.n_domains for la in self.layers)

    def gains(self, stage: str) -> list[np.ndarray]:
        """Per-layer gains of a stage: ``"tuned"``, ``"domain"``, ``"voltage"`` or ``"dac"``."""
        if stage not in ("tuned", "domain", "voltage", "dac"):
            raise ParameterError(f"unknown stage {stage!r}")
        name = "gains" if stage == "tuned" else f"gain_{stage}"
        return [getattr(la, name) for la in self.layers]

    def spec_with(self, spec: NetworkSpec, stage: str = "dac") -> NetworkSpec:
        """A copy of ``spec`` whose NT1 gains are those of ``stage``."""
        layers = []
        for ls, g in zip(spec.layers, self.gains(stage), strict=True):
            layers.append(replace(ls, neuron=ls.neuron._replace(gain=np.array(g, np.float64))))
        return NetworkSpec(spec.n_in, layers, fixed=False)

    def to_dict(self) -> dict:
        layers = []
        for la in self.layers:
            layers.append(
                {
                    "index": la.index,
                    "n": int(la.gains.size),
                    "domains": la.n_domains,
                    "clipped_domains": int(la.clipped.sum()),
                    "gain_min": float(la.gains.min()),
                    "gain_max": float(la.gains.max()),
                    "voltage_min": float(la.voltage.min()),
                    "voltage_max": float(la.voltage.max()),
                    "dac_levels_used": int(np.unique(la.dac_voltage).size),
                    "errors": la.errors(),
                }
            )
        return {
            "mirror": self.mirror.to_dict(),
            "domains": self.domains,
            "domain_value": self.domain_value,
            "dac_bits": self.dac_bits,
            "out_of_range": self.out_of_range,
            "n_domains": self.n_domains,
            "n_clipped": self.n_clipped,
            "layers": layers,
            "paper_reference": PAPER_REFERENCE,
        }


def _gains(spec: NetworkSpec) -> list[np.ndarray]:
    if not isinstance(spec, NetworkSpec):
        raise ParameterError(f"expected a NetworkSpec, got {type(spec).__name__}")
    if spec.fixed:
        raise ParameterError(
            "the analog mapping needs the float network (its NT1 gains), not a fixed-point spec"
        )
    return [
        np.broadcast_to(np.asarray(ls.neuron.gain, np.float64), (ls.n,)).copy()
        for ls in spec.layers
    ]


def map_gains(
    spec: NetworkSpec,
    mirror: MirrorModel | None = None,
    *,
    domains="auto",
    dac_bits: int | None = 6,
    out_of_range: str = "clip",
    domain_value: str = "mean_gain",
) -> AnalogMapping:
    """Map every NT1 gain of ``spec`` to a supply voltage (see the module docstring).

    Args:
        spec: a float :class:`~lava_nt.network.NetworkSpec` (e.g. a tuned NT1 model).
        mirror: the synapse model (default :class:`MirrorModel`).
        domains: power domains, see :func:`power_domains`.
        dac_bits: DAC resolution (None: continuous voltages).
        out_of_range: ``"clip"`` (count them) or ``"error"`` (:class:`AnalogRangeError`).
        domain_value: ``"mean_gain"`` (a domain gets the voltage of its members' mean gain) or
            ``"mean_voltage"`` (the mean of their voltages; members must be in range or clipped).
    """
    mirror = mirror or MirrorModel()
    if domain_value not in DOMAIN_VALUES:
        raise ParameterError(f"domain_value must be one of {DOMAIN_VALUES}, got {domain_value!r}")
    if out_of_range not in OUT_OF_RANGE:
        raise ParameterError(f"out_of_range must be one of {OUT_OF_RANGE}, got {out_of_range!r}")
    if dac_bits is not None:
        _check_bits(dac_bits)
    gains = _gains(spec)
    doms = power_domains(spec, domains)
    label = domains if isinstance(domains, str) else (
        f"blocks of {int(domains)}" if isinstance(domains, int | np.integer) else "explicit"
    )  # fmt: skip
    out = AnalogMapping(mirror, str(label), domain_value, dac_bits, out_of_range)
    for k, (g, d) in enumerate(zip(gains, doms, strict=True)):
        nd = int(d.max()) + 1
        cnt = np.bincount(d, minlength=nd)
        if domain_value == "mean_gain":
            dg = np.bincount(d, weights=g, minlength=nd) / cnt
            try:
                v, clipped = mirror.supply_for_gain(dg, out_of_range)
            except AnalogRangeError as exc:
                raise AnalogRangeError(f"layer {k}: {exc}") from None
        else:
            try:
                vn, bad = mirror.supply_for_gain(g, out_of_range)
            except AnalogRangeError as exc:
                raise AnalogRangeError(f"layer {k}: {exc}") from None
            v = np.bincount(d, weights=vn, minlength=nd) / cnt
            clipped = np.bincount(d, weights=bad.astype(float), minlength=nd) > 0
            dg = mirror.gain(v)
        vq = v if dac_bits is None else quantize_voltage(v, dac_bits, mirror.v_min, mirror.v_max)
        out.layers.append(
            LayerAnalog(
                index=k,
                gains=g,
                domain=d,
                domain_gain=dg,
                voltage=v,
                dac_voltage=vq,
                clipped=np.asarray(clipped, bool),
                gain_domain=dg[d],
                gain_voltage=mirror.gain(v)[d],
                gain_dac=mirror.gain(vq)[d],
            )
        )
    return out

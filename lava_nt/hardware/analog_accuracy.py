"""Accuracy of a tuned network after the analog mapping of :mod:`lava_nt.hardware.analog`.

:func:`analog_accuracy` re-evaluates the network (numpy reference) with the gains each stage
leaves: the tuned gains, one value per power domain, the supply voltage (clipped to the
reachable range) and the DAC-quantised voltage; :func:`plot_analog` draws the mapping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lava_nt.converters.agreement import as_spike_input
from lava_nt.converters.model_file import resolve_model
from lava_nt.decode import check_labels, output_classes, predictions
from lava_nt.hardware.analog import (
    PAPER_REFERENCE,
    AnalogMapping,
    MirrorModel,
    dac_levels,
    map_gains,
)
from lava_nt.network import reference_run
from lava_nt.spec.validation import ParameterError

__all__ = ["AnalogAccuracy", "analog_accuracy", "plot_analog"]


@dataclass
class AnalogAccuracy:
    """Result of :func:`analog_accuracy`: accuracy of the tuned network and after each stage."""

    mapping: AnalogMapping
    accuracy: dict  # stage -> accuracy ("tuned", "domain", "voltage", "dac")
    agreement: dict  # stage -> prediction agreement with the tuned network
    n_samples: int
    T: int
    n_classes: int
    data: str = ""
    spike_match: dict = field(default_factory=dict)  # stage -> output spikes equal to tuned

    def to_dict(self) -> dict:
        return {
            "data": self.data,
            "output_spike_match_with_tuned": dict(self.spike_match),
            "n_samples": self.n_samples,
            "T": self.T,
            "n_classes": self.n_classes,
            "accuracy": dict(self.accuracy),
            "prediction_agreement_with_tuned": dict(self.agreement),
            "mapping": self.mapping.to_dict(),
        }

    def to_markdown(self) -> str:
        m = self.mapping
        mi = m.mirror
        lo, hi = mi.gain_range
        dac = "continuous" if m.dac_bits is None else f"{m.dac_bits}-bit DAC"
        lines = [
            f"## Analog NT1 (JLPEA 2022 eq. 14-16): supply {mi.v_min}-{mi.v_max} V, "
            f"V_ref {mi.v_ref} V (gain 1), reachable gains [{lo:.3f}, {hi:.3f}], {dac}",
            "",
            f"Domains: {m.domains} ({m.n_domains} in all, value {m.domain_value}); "
            f"{m.n_clipped} domains clipped ({m.out_of_range}). Data: {self.data} "
            f"({self.n_samples} samples x {self.T} steps).",
            "",
            "| stage | accuracy | decisions as tuned | output spikes as tuned | max gain error "
            "| mean gain error |",
            "|---|---|---|---|---|---|",
        ]
        for stage in ("tuned", "domain", "voltage", "dac"):
            if stage not in self.accuracy:
                continue
            if stage == "tuned":
                emax = emean = 0.0
            else:
                errs = [la.errors()[stage] for la in m.layers]
                emax = max(e["max"] for e in errs)
                n = [la.gains.size for la in m.layers]
                emean = sum(e["mean"] * k for e, k in zip(errs, n, strict=True)) / sum(n)
            acc = self.accuracy[stage]
            lines.append(
                f"| {_STAGES[stage]} | {'-' if acc is None else f'{100 * acc:.2f}%'} | "
                f"{100 * self.agreement[stage]:.2f}% | {100 * self.spike_match[stage]:.2f}% | "
                f"{emax:.4g} | {emean:.4g} |"
            )
        pr = PAPER_REFERENCE
        lines += [
            "",
            f"Paper's reference points (its measured neuron, not ours): {pr['energy_per_spike_pj']}"
            f" pJ/spike, {pr['area_um2_total']} um^2 in {pr['process_nm']} nm.",
        ]
        return "\n".join(lines)

    __str__ = to_markdown


_STAGES = {
    "tuned": "tuned gains",
    "domain": "domain mean gain",
    "voltage": "supply voltage (clipped)",
    "dac": "DAC-quantised voltage",
}


def analog_accuracy(
    model,
    x,
    y,
    *,
    n_classes: int | None = None,
    T: int | None = None,
    mirror: MirrorModel | None = None,
    domains="auto",
    dac_bits: int | None = 6,
    out_of_range: str = "clip",
    domain_value: str = "mean_gain",
    data_label: str = "given inputs",
) -> AnalogAccuracy:
    """Accuracy of ``model`` with its tuned gains and after the analog mapping.

    Stages: ``tuned`` (as trained), ``domain`` (each neuron gets its power domain's gain),
    ``voltage`` (that gain produced by a continuous supply voltage, clipped to the range) and
    ``dac`` (the voltage quantised to ``dac_bits``; skipped when ``dac_bits`` is None). The
    network is run with the numpy reference engine (float64).

    Args:
        model: a model file path, a float :class:`~lava_nt.network.NetworkSpec` or an
            :class:`~lava_nt.nn.network.NTNetwork`.
        x: input spikes ``[T, B, n_in]`` or static ``[B, n_in]`` (then ``T`` is required).
        y: integer labels ``[B]``.
        n_classes: output classes (population coding); default: the model's (model file,
            ``NTNetwork.n_classes``); an error when the model does not say.
        mirror, domains, dac_bits, out_of_range, domain_value: see :func:`map_gains`.
    """

    m = resolve_model(model, "analog_accuracy")
    spec, nc = m.spec, m.n_classes
    n_classes = output_classes(n_classes, nc, "analog_accuracy")
    xs = as_spike_input(x, T, spec.n_in)
    y = np.asarray(y)
    if y.shape != (xs.shape[1],):
        raise ParameterError(f"analog_accuracy: y must have shape ({xs.shape[1]},), got {y.shape}")
    check_labels(y, n_classes, "analog_accuracy")
    mapping = map_gains(
        spec,
        mirror,
        domains=domains,
        dac_bits=dac_bits,
        out_of_range=out_of_range,
        domain_value=domain_value,
    )
    stages = ["tuned", "domain", "voltage"] + (["dac"] if dac_bits is not None else [])
    acc, agree, match = {}, {}, {}
    ref_pred = ref_out = None
    for stage in stages:
        s = spec if stage == "tuned" else mapping.spec_with(spec, stage)
        out = reference_run(s, xs)
        pred = predictions(out, n_classes)
        if ref_pred is None:
            ref_pred, ref_out = pred, out
        acc[stage] = float(np.mean(pred == y))
        agree[stage] = float(np.mean(pred == ref_pred))
        match[stage] = float(np.mean(out == ref_out))
    return AnalogAccuracy(
        mapping, acc, agree, int(xs.shape[1]), int(xs.shape[0]), n_classes, data_label, match
    )


# ---- plot ------------------------------------------------------------------------------------
def plot_analog(mapping: AnalogMapping, path, title: str | None = None) -> Path:
    """PNG: (a) the current-voltage curve with the supply range, the unit-gain point and every
    domain's voltage on the curve (continuous and DAC-quantised); (b) the tuned-gain
    distribution against the reachable range and the DAC's gain levels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    mi = mapping.mirror
    path = Path(path)
    fig = Figure(figsize=(10, 4.2), dpi=110)
    FigureCanvasAgg(fig)
    ax, bx = fig.subplots(1, 2)
    v = np.linspace(mi.v_th, mi.v_max + 0.05, 400)
    ax.plot(v, mi.current(v) * 1e6, color="k", lw=1.5, label="eq. 16: I(V_DD)")
    ax.axvspan(mi.v_min, mi.v_max, color="tab:blue", alpha=0.08, label="supply range")
    ax.axvline(mi.v_ref, color="tab:gray", ls=":", lw=1, label=f"V_ref = {mi.v_ref} V (gain 1)")
    vc = np.concatenate([la.voltage for la in mapping.layers])
    vq = np.concatenate([la.dac_voltage for la in mapping.layers])
    ax.plot(vc, mi.current(vc) * 1e6, "o", ms=4, alpha=0.5, color="tab:orange",
            label="domain voltages (tuned gains)")  # fmt: skip
    if mapping.dac_bits is not None:
        ax.plot(vq, mi.current(vq) * 1e6, "x", ms=6, color="tab:red",
                label=f"{mapping.dac_bits}-bit DAC")  # fmt: skip
    ax.set_xlabel("synapse supply V_DD (V)")
    ax.set_ylabel("synapse current (uA)")
    sec = ax.secondary_yaxis(
        "right", functions=(lambda i: i * 1e-6 / mi.i_ref, lambda g: g * mi.i_ref * 1e6)
    )
    sec.set_ylabel("gain I / I(V_ref)")
    ax.set_title("(a) current mirror with resistive load")
    ax.legend(fontsize=7, loc="upper left")
    g = np.concatenate([la.gains for la in mapping.layers])
    lo, hi = mi.gain_range
    bx.hist(g, bins=min(60, max(10, g.size // 20)), color="tab:orange", alpha=0.8,
            label="tuned NT1 gains")  # fmt: skip
    bx.axvspan(lo, hi, color="tab:blue", alpha=0.08, label=f"reachable [{lo:.2f}, {hi:.2f}]")
    if mapping.dac_bits is not None and mapping.dac_bits <= 6:
        for gl in mi.gain(dac_levels(mapping.dac_bits, mi.v_min, mi.v_max)):
            bx.axvline(gl, color="tab:red", lw=0.5, alpha=0.5)
        bx.plot([], [], color="tab:red", lw=0.5, label="DAC gain levels")
    bx.set_xlabel("gain g")
    bx.set_ylabel("neurons")
    bx.set_title("(b) tuned gains mapped onto the curve")
    bx.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path

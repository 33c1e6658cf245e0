"""One hardware report for a model: resources, core mapping, activity and energy.

:func:`hardware_report` combines :mod:`lava_nt.hardware.resources` (counts, bit widths from the
quantised spec, the Loihi 1 and Loihi 2 mappings) and, given input data,
:mod:`lava_nt.hardware.energy` (spikes and synaptic operations per inference from a run, energy
per inference from Davies et al. 2018 Table 2). :class:`HardwareReport` renders as markdown
tables (``to_markdown``) and JSON (``to_dict`` / ``to_json``). ``lava-nt report MODEL`` prints it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from lava_nt.converters.agreement import as_spike_input
from lava_nt.converters.model_file import resolve_model
from lava_nt.converters.quantize import QuantizationError, quantize
from lava_nt.decode import output_classes
from lava_nt.hardware.cores import Mapping, apply_mapping, map_to_cores
from lava_nt.hardware.energy import LOIHI1_TABLE2, Activity, EnergyFigures, energy_estimate
from lava_nt.hardware.energy import measure_activity as _measure
from lava_nt.hardware.resources import (
    LOIHI1,
    LOIHI2,
    ChipLimits,
    NetworkResources,
    count_resources,
)
from lava_nt.io import to_jsonable
from lava_nt.network import NetworkSpec
from lava_nt.spec.validation import ParameterError

__all__ = ["HardwareReport", "hardware_report"]


@dataclass
class HardwareReport:
    """Result of :func:`hardware_report` (one entry per chip in ``resources`` / ``mappings``)."""

    model: str
    sizes: list[int]
    bits_source: str
    resources: dict[str, NetworkResources]
    mappings: dict[str, Mapping]
    activity: Activity | None = None
    energy: dict | None = None
    data: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def primary(self) -> str:
        return next(iter(self.resources))

    def to_dict(self) -> dict:
        return _jsonable(
            {
                "model": self.model,
                "sizes": self.sizes,
                "bits_source": self.bits_source,
                "figures_note": "limits and energies are published figures, not measurements",
                "chips": {
                    name: {
                        "resources": self.resources[name].to_dict(),
                        "mapping": self.mappings[name].to_dict(),
                    }
                    for name in self.resources
                },
                "data": self.data or None,
                "activity": None if self.activity is None else self.activity.to_dict(),
                "energy": self.energy,
                "notes": list(self.notes),
            }
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    # ---- tables -----------------------------------------------------------------------------
    def to_markdown(self) -> str:
        name = self.primary
        res, mp = self.resources[name], self.mappings[name]
        chip = res.chip
        lines = [
            f"# Hardware report: {self.model}, network {self.sizes}",
            "",
            _limits_line(chip),
            f"Bit widths: {self.bits_source}.",
            "",
            f"## Resources per layer ({chip.name} mapping)",
            "",
            "| layer | neurons (+bias) | compartments | synapses | W / W_in / bias syn. | "
            "fan-in max | fan-out max | weight bits | bias bits | cores | synaptic memory |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for lr in res.layers:
            wb = _b(lr.weight_bits)
            if lr.bias_neurons:
                wb += f" (W_in {_b(lr.w_in_bits)}, w_b {_b(lr.w_b_bits)})"
            bb = _b(lr.bias_bits)
            if lr.bias_exp is not None:
                bb += f" (exp {lr.bias_exp[0]}..{lr.bias_exp[1]})"
            lines.append(
                f"| {lr.index} | {lr.n} (+{lr.bias_neurons}) | {lr.compartments:,} | "
                f"{lr.synapses:,} | {lr.weight_synapses:,} / {lr.w_in_synapses:,} / "
                f"{lr.bias_synapses:,} | {lr.fan_in_max:,} | {lr.fan_out_max:,} | {wb} | {bb} | "
                f"{lr.cores} | {_kb(lr.memory_bits)} |"
            )
        t = res.totals()
        lines.append(
            f"| **total** | {t['n']:,} (+{t['bias_neurons']:,}) | {t['compartments']:,} | "
            f"{t['synapses']:,} | {t['weight_synapses']:,} / {t['w_in_synapses']:,} / "
            f"{t['bias_synapses']:,} | | | | | {t['cores']} | {_kb(t['memory_bits'])} |"
        )
        pk = mp.peak()
        lines += [
            "",
            f"**{chip.name}: {mp.n_cores} cores** ({mp.n_chips} chip(s) of {chip.cores}; "
            f"{'fits one chip' if mp.fits else 'does NOT fit one chip without violations'}). "
            f"Peak per core: {pk['compartments']:,}/{chip.compartments_per_core:,} compartments, "
            + (
                f"{_kb(pk['memory_bits'])}/{_kb(chip.synaptic_memory_bits)} synaptic memory, "
                if chip.synaptic_memory_bits
                else ""
            )
            + f"{pk['input_axons']:,}/{_lim(chip.input_axons_per_core)} input axons, "
            f"{pk['output_axons']:,}/{_lim(chip.output_axons_per_core)} output axons.",
        ]
        for v in mp.violations:
            lines.append(f"- violation: {v}")
        for v in mp.notes:
            lines.append(f"- note: {v}")
        for other in list(self.resources)[1:]:
            o, om = self.resources[other], self.mappings[other]
            lines += [
                "",
                f"**{o.chip.name}: {om.n_cores} cores** ({o.compartments:,} compartments; "
                f"limits {o.chip.compartments_per_core:,} compartments and "
                f"{_lim(o.chip.synapses_per_core)} synapses per core = {o.chip.note}).",
            ]
            for v in om.violations:
                lines.append(f"- violation: {v}")
        if self.activity is not None:
            lines += ["", *self._activity_lines()]
        if self.energy is not None:
            lines += ["", *self._energy_lines()]
        if self.notes:
            lines += ["", "Notes:", ""] + [f"- {n}" for n in self.notes]
        return "\n".join(lines)

    __str__ = to_markdown

    def _activity_lines(self) -> list[str]:
        a = self.activity
        acc = "" if a.accuracy is None else f"; accuracy {100 * a.accuracy:.2f}%"
        lines = [
            f"## Activity per inference ({self.data}: {a.n_samples} samples x {a.T} steps, "
            f"{a.engine}{acc})",
            "",
            "| layer | spikes | bias-neuron spikes | firing rate | "
            "synaptic ops (W / W_in / bias) |",
            "|---|---|---|---|---|",
            f"| input | {a.input_spikes:,.1f} | | | |",
        ]
        for la in a.layers:
            lines.append(
                f"| {la.index} | {la.spikes:,.1f} | {la.bias_spikes:,.1f} | {la.rate:.4f} | "
                f"{la.synops:,.1f} ({la.weight_synops:,.1f} / {la.w_in_synops:,.1f} / "
                f"{la.bias_synops:,.1f}) |"
            )
        lines.append(f"| **total** | {a.spikes:,.1f} (on chip) | | | {a.synops:,.1f} |")
        return lines

    def _energy_lines(self) -> list[str]:
        e = self.energy
        f = e["figures"]
        n_upd = sum(r["neuron_updates"] for r in e["layers"])
        n_spk = sum(r["spikes"] for r in e["layers"])
        n_syn = sum(r["synops"] for r in e["layers"])
        return [
            f"## Energy per inference estimate ({f['label']}; {f['source']})",
            "",
            "| component | count per inference | energy per op | energy |",
            "|---|---|---|---|",
            f"| synaptic spike ops | {n_syn:,.1f} | {f['synaptic_op_pj']} pJ (min) | "
            f"{_nj(e['synops_pj'])} |",
            f"| neuron updates (compartments x T) | {n_upd:,} | "
            f"{f['neuron_update_active_pj']} pJ active ({f['neuron_update_inactive_pj']} inactive)"
            f" | {_nj(e['neuron_updates_pj'])} |",
            f"| spikes (within tile) | {n_spk:,.1f} | {f['spike_within_tile_pj']} pJ | "
            f"{_nj(e['spikes_pj'])} |",
            f"| synaptic updates (learning) | 0 | {f['synaptic_update_pj']} pJ | 0 |",
            f"| **total** | | | **{_nj(e['total_pj'])}** (lower bound {_nj(e['total_low_pj'])}) |",
            "",
            "Not included: tile hops (3.0/4.0 pJ per hop), barrier synchronisation, static power, "
            "host I/O. These are pre-silicon Loihi 1 figures, not measurements and not Loihi 2.",
        ]


def _b(x) -> str:
    return "-" if x is None else str(x)


def _lim(x) -> str:
    return "-" if x is None else f"{x:,}"


def _kb(bits) -> str:
    if bits is None:
        return "-"
    return f"{bits / 8 / 1024:,.1f} KB"


def _nj(pj: float) -> str:
    return f"{pj / 1000:,.2f} nJ"


def _limits_line(chip: ChipLimits) -> str:
    return (
        f"Limits used ({chip.note}): {chip.name}: {chip.cores} cores per chip, "
        f"{chip.compartments_per_core:,} compartments, "
        + (
            f"{_kb(chip.synaptic_memory_bits)} synaptic memory, "
            if chip.synaptic_memory_bits
            else ""
        )
        + f"{_lim(chip.input_axons_per_core)} input and {_lim(chip.output_axons_per_core)} output "
        f"axons per core, weights of at most {_lim(chip.max_weight_bits)} bits. Sources: "
        + "; ".join(chip.sources)
        + "."
    )


def _jsonable(x):
    """JSON form of a report (non-finite floats as null: strict JSON)."""
    return to_jsonable(x, nonfinite="null")


def hardware_report(
    model,
    x=None,
    y=None,
    *,
    T: int | None = None,
    n_classes: int | None = None,
    precision: str = "float",
    quantized: NetworkSpec | None = None,
    chips: tuple[ChipLimits, ...] = (LOIHI1, LOIHI2),
    figures: EnergyFigures = LOIHI1_TABLE2,
    data_label: str = "given inputs",
) -> HardwareReport:
    """Resources, core mappings and (with ``x``) activity and energy of one model.

    Args:
        model: a model file path, a :class:`~lava_nt.network.NetworkSpec` or an ``NTNetwork``.
        x: optional input spikes ``[T, B, n_in]`` (or static ``[B, n_in]`` with ``T``).
        y: optional integer labels ``[B]`` (the report then includes the accuracy).
        n_classes: output classes (population coding); default: the model file's (or the
            network's); needed with labels ``y`` when the model does not say.
        precision: run the ``"float"`` network or its quantised ``"fixed"`` twin for the
            activity.
        quantized: a fixed-point spec for the bit widths (default: the one attached to the model
            file, else ``quantize(spec)`` now; a fixed-point model is its own).
        chips: chip models; the first is the main table, Loihi 1 by default.
        figures: per-operation energies (default: Davies et al. 2018 Table 2).
    """
    if precision not in ("float", "fixed"):
        raise ParameterError(f"precision must be 'float' or 'fixed', got {precision!r}")
    m = resolve_model(model, "hardware_report")
    spec, info, label, classes = m.spec, m.info, m.label, m.n_classes
    notes = []
    fixed, source = quantized, "given"
    if fixed is None and spec.fixed:
        fixed, source = spec, "the model (fixed point)"
    elif fixed is None and info is not None and info.quantized is not None:
        fixed, source = info.quantized, "the quantised network attached to the model file"
    elif fixed is None:
        try:
            fixed, _ = quantize(spec)
            source = "quantize(spec) now (lava target, default options; nothing attached)"
        except QuantizationError as exc:
            source = f"unavailable (quantisation failed: {exc}); memory assumes 8-bit weights"
            notes.append(f"quantisation failed: {exc}")
    resources, mappings = {}, {}
    for chip in chips:
        res = count_resources(spec, fixed, chip)
        res.bits_source = source
        bits = [
            {"weight_bits": lr.weight_bits, "w_in_bits": lr.w_in_bits, "w_b_bits": lr.w_b_bits}
            for lr in res.layers
        ]
        mp = map_to_cores(spec, chip, bits)
        resources[chip.name] = apply_mapping(res, mp)
        mappings[chip.name] = mp
    notes.append(
        "synapse counts are the nonzero weights of the model as saved (weights the quantiser "
        "rounds to zero are still counted); masked W_in entries are excluded"
    )
    if any(ls.spiking_bias is not None for ls in spec.layers):
        if chips[0].aux_bias_compartments:
            notes.append(
                f"{chips[0].name}: layers with a spiking bias count one auxiliary compartment per "
                "target neuron for the leaking bias current"
            )
    if not spec.fixed and any(np.any(np.asarray(ls.neuron.gain) != 1) for ls in spec.layers):
        notes.append(
            "per-neuron NT1 gains are not native to Loihi 1's neuron model: deploy them folded "
            "into the weight rows (quantize(fold_gains=True)) or with a microcoded Loihi 2 neuron"
        )
    rep = HardwareReport(
        model=label,
        sizes=list(spec.sizes),
        bits_source=source,
        resources=resources,
        mappings=mappings,
        notes=notes,
    )
    if x is not None:
        xs = as_spike_input(x, T, spec.n_in)
        run = spec
        if precision == "fixed":
            if fixed is None:
                raise ParameterError("precision='fixed' needs a quantised network")
            run = fixed
        nc = n_classes or classes
        if y is not None:
            nc = output_classes(nc, None, "hardware_report")
        act = _measure(run, xs, y, nc)
        act.output = None
        rep.activity = act
        rep.data = data_label
        rep.energy = energy_estimate(act, resources[LOIHI1.name], figures) if (
            LOIHI1.name in resources
        ) else energy_estimate(act, count_resources(spec, fixed, LOIHI1), figures)  # fmt: skip
    return rep

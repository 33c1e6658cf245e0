"""Mapping a lava-nt network onto Loihi cores: a deliberately simple, documented model.

1. layers are placed in order and a core never holds two layers (as NengoLoihi's one block per
   core; conservative). A layer's units are its bias neurons, then its target neurons (each with
   its auxiliary compartment), packed greedily in index order;
2. a unit is added to the current core unless that would exceed a per-core limit of the chip:
   compartments, synaptic memory (bits, see
   :func:`~lava_nt.hardware.resources.synapse_memory_bits`), input axons (one per
   presynaptic source and synapse set that has a synapse in the core) or, for Loihi 2, the
   synapse count; then a new core is opened;
3. synapses are stored at the destination core; each presynaptic neuron needs one output axon per
   destination core (checked against the output-axon limit after placement);
4. network inputs come from the host and take no cores. A single unit that exceeds a limit on its
   own gets a core of its own and is reported as a violation.

Synaptic memory per core is counted by
:func:`lava_nt.hardware.resources.synapse_memory_bits`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from lava_nt.hardware.resources import (
    DEFAULT_WEIGHT_BITS,
    LOIHI1,
    ChipLimits,
    NetworkResources,
    layer_structure,
    synapse_memory_bits,
)
from lava_nt.network import NetworkSpec
from lava_nt.spec.validation import ParameterError

__all__ = ["CoreUse", "Mapping", "apply_mapping", "map_to_cores"]


@dataclass
class CoreUse:
    """One core: which units of which layer it holds and what it uses.

    ``targets`` / ``bias`` are ``[start, stop)`` index ranges of the layer's target neurons and
    bias neurons on this core (None if it holds none).
    """

    layer: int
    targets: list[int] | None = None
    bias: list[int] | None = None
    compartments: int = 0
    synapses: int = 0
    memory_bits: int = 0
    input_axons: int = 0
    output_axons: int = 0


@dataclass
class Mapping:
    """Result of :func:`map_to_cores`."""

    chip: ChipLimits
    cores: list[CoreUse] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def n_cores(self) -> int:
        return len(self.cores)

    @property
    def n_chips(self) -> int:
        return max(1, math.ceil(self.n_cores / self.chip.cores))

    @property
    def fits(self) -> bool:
        """Fits one chip without violating a per-core limit."""
        return self.n_cores <= self.chip.cores and not self.violations

    def layer_cores(self, k: int) -> int:
        return sum(1 for c in self.cores if c.layer == k)

    def layer_memory(self, k: int) -> int:
        return sum(c.memory_bits for c in self.cores if c.layer == k)

    def peak(self) -> dict:
        """Largest per-core use of every resource."""
        keys = ("compartments", "synapses", "memory_bits", "input_axons", "output_axons")
        return {k: max((getattr(c, k) for c in self.cores), default=0) for k in keys}

    def to_dict(self) -> dict:
        return {
            "chip": self.chip.name,
            "limits": self.chip.to_dict(),
            "n_cores": self.n_cores,
            "n_chips": self.n_chips,
            "fits_one_chip": self.fits,
            "peak_per_core": self.peak(),
            "violations": list(self.violations),
            "notes": list(self.notes),
            "cores": [asdict(c) for c in self.cores],
        }


def _layer_bits(bits: dict | None) -> tuple[int, int, int]:
    bits = bits or {}

    def pick(key, default):
        v = bits.get(key)
        return default if v is None else max(1, int(v))

    return (
        pick("weight_bits", DEFAULT_WEIGHT_BITS),
        pick("w_in_bits", DEFAULT_WEIGHT_BITS),
        pick("w_b_bits", DEFAULT_WEIGHT_BITS),
    )


class _Core:
    """Accumulator of one core while packing (counts per source and synapse set)."""

    def __init__(self, layer: int, n_prev: int, m: int, wbits: tuple, chip: ChipLimits):
        self.use = CoreUse(layer)
        self.c_w = np.zeros(n_prev, np.int64)
        self.c_win = np.zeros(n_prev, np.int64)
        self.c_b = np.zeros(m, np.int64)
        self.wbits = wbits
        self.chip = chip
        self.empty = True

    def _delta(self, counts, idx, w) -> int:
        if not idx.size:
            return 0
        x = self.chip.index_bits
        old = synapse_memory_bits(counts[idx], w, x)
        return int(np.sum(synapse_memory_bits(counts[idx] + 1, w, x) - old))

    def try_add(self, comps: int, sets: list[tuple[str, np.ndarray]], force: bool) -> bool:
        """Add a unit (``sets``: (counter name, source indices) pairs) unless a limit breaks."""
        u, chip = self.use, self.chip
        arrays = {"w": (self.c_w, 0), "win": (self.c_win, 1), "b": (self.c_b, 2)}
        mem = u.memory_bits
        new_axons = 0
        syn = 0
        for name, idx in sets:
            counts, wi = arrays[name]
            mem += self._delta(counts, idx, self.wbits[wi])
            new_axons += int(np.count_nonzero(counts[idx] == 0))
            syn += idx.size
        comp = u.compartments + comps
        ok = (
            comp <= chip.compartments_per_core
            and (chip.synaptic_memory_bits is None or mem <= chip.synaptic_memory_bits)
            and (chip.synapses_per_core is None or u.synapses + syn <= chip.synapses_per_core)
            and (
                chip.input_axons_per_core is None
                or u.input_axons + new_axons <= chip.input_axons_per_core
            )
        )
        if not ok and not (force and self.empty):
            return False
        for name, idx in sets:
            arrays[name][0][idx] += 1
        u.compartments, u.memory_bits = comp, mem
        u.synapses += syn
        u.input_axons += new_axons
        self.empty = False
        return True


def map_to_cores(
    spec: NetworkSpec, chip: ChipLimits = LOIHI1, bits: list[dict] | None = None
) -> Mapping:
    """Map ``spec`` onto cores of ``chip`` (the model of the module docstring).

    Args:
        spec: the network (float or fixed; only its nonzero structure matters).
        chip: :data:`LOIHI1` (default) or :data:`LOIHI2` or your own :class:`ChipLimits`.
        bits: per layer ``{"weight_bits", "w_in_bits", "w_b_bits"}`` (e.g. from
            :func:`count_resources` on the quantised spec); missing values default to
            :data:`DEFAULT_WEIGHT_BITS`. Widths above ``chip.max_weight_bits`` are a violation.
    """
    structs = layer_structure(spec)
    if bits is not None and len(bits) != len(structs):
        raise ParameterError(f"map_to_cores: 'bits' needs {len(structs)} entries")
    mapping = Mapping(chip)
    core_of = []  # per layer: (core index of each target, core index of each bias neuron)
    for k, st in enumerate(structs):
        wbits = _layer_bits(bits[k] if bits else None)
        wmax = chip.max_weight_bits
        if wmax is not None:
            for what, w in zip(("W", "W_in", "w_b"), wbits, strict=True):
                if w <= wmax or (what == "W_in" and not st.m) or (what == "w_b" and not st.m):
                    continue
                if what == "w_b":
                    mapping.notes.append(
                        f"layer {k}: the bias weights w_b use {w} bits; {chip.name} synapses "
                        f"hold at most {wmax}, so w_b must be re-quantised (precision loss); "
                        f"memory counted at {wmax} bits"
                    )
                else:
                    mapping.violations.append(
                        f"layer {k}: {what} needs {w} bits, {chip.name} stores at most {wmax}"
                    )
            wbits = tuple(min(w, wmax) for w in wbits)
        n_prev = st.w_nz.shape[1]
        t_core = np.zeros(st.n, np.int64)
        b_core = np.zeros(st.m, np.int64)
        per_target = 2 if (st.m and chip.aux_bias_compartments) else 1
        units = [("b", j) for j in range(st.m)] + [("t", i) for i in range(st.n)]
        core = _Core(k, n_prev, st.m, wbits, chip)
        cores = [core]
        for kind, i in units:
            if kind == "b":
                comps, sets = 1, [("win", np.flatnonzero(st.win_nz[i]))]
            else:
                comps, sets = per_target, [("w", np.flatnonzero(st.w_nz[i]))]
                if st.m and st.bias_syn[i]:
                    sets.append(("b", np.array([st.group[i]])))
            if not core.try_add(comps, sets, force=False):
                added = False
                if not core.empty:
                    core = _Core(k, n_prev, st.m, wbits, chip)
                    cores.append(core)
                    added = core.try_add(comps, sets, force=False)
                if not added:
                    core.try_add(comps, sets, force=True)
                    what = "bias neuron" if kind == "b" else "neuron"
                    mapping.violations.append(
                        f"layer {k} {what} {i} alone exceeds a per-core limit of {chip.name}"
                    )
            ci = len(mapping.cores) + len(cores) - 1
            attr = "bias" if kind == "b" else "targets"
            rng = getattr(core.use, attr)
            if rng is None:
                setattr(core.use, attr, [i, i + 1])
            else:
                rng[1] = i + 1
            (b_core if kind == "b" else t_core)[i] = ci
        mapping.cores.extend(c.use for c in cores)
        core_of.append((t_core, b_core))
    _output_axons(mapping, structs, core_of)
    _check_limits(mapping)
    return mapping


def _output_axons(mapping: Mapping, structs, core_of) -> None:
    """One output axon per (presynaptic neuron, destination core)."""
    n_cores = mapping.n_cores
    for k, st in enumerate(structs):
        t_core, b_core = core_of[k]
        # bias neurons of layer k -> cores of their targets in layer k
        if st.m:
            dest = np.zeros((st.m, n_cores), bool)
            tgt = np.flatnonzero(st.bias_syn)
            dest[st.group[tgt], t_core[tgt]] = True
            for j, n_out in enumerate(dest.sum(1)):
                mapping.cores[b_core[j]].output_axons += int(n_out)
        # targets of layer k -> cores of layer k + 1
        if k + 1 < len(structs):
            nx = structs[k + 1]
            nt_core, nb_core = core_of[k + 1]
            dest = np.zeros((st.n, n_cores), bool)
            rows, cols = np.nonzero(nx.w_nz)
            dest[cols, nt_core[rows]] = True
            if nx.m:
                rows, cols = np.nonzero(nx.win_nz)
                dest[cols, nb_core[rows]] = True
            for i, n_out in enumerate(dest.sum(1)):
                mapping.cores[t_core[i]].output_axons += int(n_out)


def _check_limits(mapping: Mapping) -> None:
    chip = mapping.chip
    lim = chip.output_axons_per_core
    for ci, c in enumerate(mapping.cores):
        if lim is not None and c.output_axons > lim:
            mapping.violations.append(
                f"core {ci} (layer {c.layer}): {c.output_axons} output axons > {lim}"
            )
    if mapping.n_cores > chip.cores:
        mapping.violations.append(
            f"{mapping.n_cores} cores needed, one {chip.name} chip has {chip.cores}"
        )


def apply_mapping(res: NetworkResources, mapping: Mapping) -> NetworkResources:
    """Fill ``cores`` and ``memory_bits`` of every layer of ``res`` from ``mapping``."""
    for lr in res.layers:
        lr.cores = mapping.layer_cores(lr.index)
        lr.memory_bits = mapping.layer_memory(lr.index)
    return res

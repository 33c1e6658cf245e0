"""Loihi resources of a lava-nt network: counts, bit widths and a mapping onto cores.

Counts (per layer ``k`` of a :class:`~lava_nt.network.NetworkSpec`, then in total):

* **neurons**: the layer's ``n`` NTLIF neurons plus the ``m`` spiking-bias neurons serving it;
* **compartments**: neurons, plus (Loihi 1 only, ``ChipLimits.aux_bias_compartments``) one
  auxiliary compartment per target neuron of a layer with a spiking bias. Loihi 1 has binary
  spikes and a fixed neuron model, so the leaking bias current ``C`` (retention factor
  ``c_retention``, its own time constant) needs a dendritic compartment of its own next to each
  target soma; on Loihi 2 a microcoded neuron keeps it as state;
* **synapses**: nonzero entries of ``W`` (``n x n_prev``), of the spiking bias' ``W_in``
  (``m x n_prev``; masked entries are zero, so they are excluded) and one bias synapse per target
  neuron whose bias neuron has a nonzero ``w_b`` (bias neuron -> its group);
* **bit widths** from the quantised (fixed-point) spec: the signed width actually used by the
  weight mantissas (after Lava's mixed-sign LSB drop, with common trailing zero bits moved into
  the exponent), the bias mantissa (register: 13 bits signed, exponent 0..7), the gain mantissa
  (12 bits signed) and the bias weight ``w_b`` mantissa (13 bits signed).

Synaptic memory (Loihi 1): the synapses one input axon reaches in a core are stored as runs of at
most 64 entries, each entry ``weight bits + 10 index bits`` (a compartment of a 1,024-compartment
core), each run with a 10-bit header and rounded up to 64-bit words. This follows the layout that
NengoLoihi uses to check Loihi 1 synaptic memory (``nengo_loihi/block.py``,
``SynapseConfig.bits_per_axon`` with sparse index compression; limit ``MAX_SYNAPSE_BITS`` =
1,048,576 bits = 128 KB per core). It is an estimate, not Intel's compiler.

The mapping onto cores is in :mod:`lava_nt.hardware.cores`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from lava_nt.network import NetworkSpec
from lava_nt.spec.fixed import WEIGHT_BITS
from lava_nt.spec.fixed import dense_effective_weights as _dense_effective
from lava_nt.spec.validation import ParameterError

__all__ = [
    "DEFAULT_WEIGHT_BITS",
    "LOIHI1",
    "LOIHI2",
    "SYN_HEADER_BITS",
    "SYN_RUN",
    "SYN_WORD_BITS",
    "ChipLimits",
    "LayerResources",
    "NetworkResources",
    "count_resources",
    "layer_structure",
    "signed_bits",
    "synapse_memory_bits",
    "weight_bits",
]

#: Synapse-memory layout (Loihi 1, after NengoLoihi): entries per run, header bits, word bits.
SYN_RUN = 64
SYN_HEADER_BITS = 10
SYN_WORD_BITS = 64
#: Weight bits assumed when no quantised spec is available (Lava ``Dense`` ``num_weight_bits``).
DEFAULT_WEIGHT_BITS = WEIGHT_BITS


@dataclass(frozen=True)
class ChipLimits:
    """Published per-chip and per-core limits (None = not checked).

    Attributes:
        name: chip name.
        cores: neuromorphic cores per chip.
        compartments_per_core: neuron compartments per core.
        synaptic_memory_bits: synaptic memory per core in bits.
        synapses_per_core: a synapse-count limit per core (used when memory is not modelled).
        input_axons_per_core, output_axons_per_core: fan-in / fan-out axon limits per core.
        max_weight_bits: widest synaptic weight.
        index_bits: compartment-index bits of a sparse synapse entry.
        aux_bias_compartments: a layer with a spiking bias needs one auxiliary compartment per
            target neuron for the leaking bias current (see the module docstring).
        sources: where the figures come from.
        note: caveats.
    """

    name: str
    cores: int
    compartments_per_core: int
    synaptic_memory_bits: int | None
    synapses_per_core: int | None
    input_axons_per_core: int | None
    output_axons_per_core: int | None
    max_weight_bits: int | None
    index_bits: int
    aux_bias_compartments: bool
    sources: tuple[str, ...]
    note: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sources"] = list(self.sources)
        return d


#: Loihi 1 (Davies et al. 2018): published figures, not measurements of ours.
LOIHI1 = ChipLimits(
    name="Loihi 1",
    cores=128,
    compartments_per_core=1024,
    synaptic_memory_bits=128 * 1024 * 8,  # 128 KB = 1,048,576 bits
    synapses_per_core=None,
    input_axons_per_core=4096,
    output_axons_per_core=4096,
    max_weight_bits=9,
    index_bits=10,  # log2(1024 compartments)
    aux_bias_compartments=True,
    sources=(
        "M. Davies et al., 'Loihi: A Neuromorphic Manycore Processor with On-Chip Learning', "
        "IEEE Micro 38(1):82-99, 2018: 128 neuromorphic cores, 1,024 compartments and 128 KB "
        "synaptic memory per core, 4,096 fan-in / fan-out axons per core, weights of 1-9 bits",
        "NengoLoihi (nengo_loihi/block.py): MAX_COMPARTMENTS = 1024, MAX_IN_AXONS = "
        "MAX_OUT_AXONS = 4096, MAX_SYNAPSE_BITS = 1,048,576; synapse-memory layout",
    ),
    note="published figures (paper and NengoLoihi's checks), not measurements",
)

#: Loihi 2 (Intel's Loihi 2 technology brief): chip totals divided by the 128 neuro-cores.
LOIHI2 = ChipLimits(
    name="Loihi 2",
    cores=128,
    compartments_per_core=1_000_000 // 128,  # 7,812: 'up to 1 million neurons' per chip / 128
    synaptic_memory_bits=None,  # memory per core is allocated flexibly: not modelled
    synapses_per_core=120_000_000 // 128,  # 937,500: 'up to 120 million synapses' / 128
    input_axons_per_core=None,
    output_axons_per_core=None,
    max_weight_bits=None,
    index_bits=13,
    aux_bias_compartments=False,
    sources=(
        "Intel Labs, 'Taking Neuromorphic Computing to the Next Level with Loihi 2' "
        "(technology brief, 2021): 128 neuro-cores, up to 1 million neurons and 120 million "
        "synapses per chip, microcode-programmable neurons, graded spikes",
        "Orchard et al. 2021, arXiv 2111.03746",
    ),
    note="chip totals / 128 cores: averages, not per-core limits (Loihi 2 allocates core "
    "memory flexibly between neuron state and synapses); published figures, not measurements",
)


# ---- bit widths ------------------------------------------------------------------------------
def signed_bits(values) -> int:
    """Bits of the two's-complement-free sign-magnitude width that holds ``values``:
    ``ceil(log2(max|v| + 1))`` plus a sign bit if any value is negative (0 for all zeros)."""
    v = np.asarray(values, dtype=np.int64).ravel()
    if v.size == 0 or not np.any(v):
        return 0
    mag = int(np.max(np.abs(v)))
    return int(mag).bit_length() + int(np.any(v < 0))


def weight_bits(mantissas, effective: bool = True) -> int:
    """Signed width used by Dense weight mantissas: Lava's effective integer weights (8-bit
    clip, mixed-sign LSB drop) with the trailing zero bits all nonzero weights share moved into
    the exponent (they cost no synaptic memory)."""
    w = np.asarray(mantissas)
    if w.size == 0 or not np.any(w):
        return 0
    w = _dense_effective(w) if effective else np.asarray(w, dtype=np.int64)
    nz = np.abs(w[w != 0])
    if nz.size == 0:
        return 0
    tz = min(int(x & -x).bit_length() - 1 for x in np.unique(nz).tolist())
    return signed_bits(w >> tz)


# ---- structure -------------------------------------------------------------------------------
@dataclass
class _Struct:
    """Connectivity of one layer (booleans), independent of the number format."""

    w_nz: np.ndarray  # (n, n_prev)
    win_nz: np.ndarray | None  # (m, n_prev)
    group: np.ndarray | None  # (n,) target -> bias neuron
    bias_syn: np.ndarray | None  # (n,) target has a nonzero bias synapse

    @property
    def n(self) -> int:
        return self.w_nz.shape[0]

    @property
    def m(self) -> int:
        return 0 if self.win_nz is None else self.win_nz.shape[0]


def layer_structure(spec: NetworkSpec) -> list[_Struct]:
    """Per layer: nonzero masks of ``W`` and ``W_in``, the group map and the bias synapses."""
    if not isinstance(spec, NetworkSpec):
        raise ParameterError(f"expected a NetworkSpec, got {type(spec).__name__}")
    out = []
    for ls in spec.layers:
        w_nz = np.asarray(ls.weight) != 0
        sb = ls.spiking_bias
        if sb is None:
            out.append(_Struct(w_nz, None, None, None))
            continue
        win_nz = np.asarray(sb.w_in) != 0
        if sb.mask is not None:
            win_nz &= np.asarray(sb.mask, dtype=bool)
        m, n = sb.m, ls.n
        group = sb.params.group
        group = np.arange(n) if group is None else np.asarray(group, dtype=np.int64)
        wb = sb.params.w_b_mant if spec.fixed else sb.params.w_b
        wb = np.broadcast_to(np.asarray(wb, dtype=np.float64), (m,))
        out.append(_Struct(w_nz, win_nz, group, wb[group] != 0))
    return out


# ---- counts ----------------------------------------------------------------------------------
@dataclass
class LayerResources:
    """Resources of one layer (see the module docstring for the definitions).

    ``*_bits`` are None when no quantised spec was available. ``fan_in_max`` is the largest
    number of synapses into one neuron (bias synapse included); ``fan_out_max`` the largest number
    of synapses one presynaptic source (input or previous layer neuron) has into this layer.
    """

    index: int
    n: int
    bias_neurons: int
    aux_compartments: int
    compartments: int
    neurons: int
    synapses: int
    weight_synapses: int
    w_in_synapses: int
    bias_synapses: int
    fan_in_max: int
    fan_out_max: int
    weight_bits: int | None = None
    w_in_bits: int | None = None
    bias_bits: int | None = None
    bias_exp: list[int] | None = None
    gain_bits: int | None = None
    w_b_bits: int | None = None
    cores: int = 0
    memory_bits: int = 0


@dataclass
class NetworkResources:
    """Per-layer :class:`LayerResources` and totals for one chip model."""

    chip: ChipLimits
    sizes: list[int]
    layers: list[LayerResources]
    bits_source: str = ""

    @property
    def neurons(self) -> int:
        return sum(lr.neurons for lr in self.layers)

    @property
    def compartments(self) -> int:
        return sum(lr.compartments for lr in self.layers)

    @property
    def synapses(self) -> int:
        return sum(lr.synapses for lr in self.layers)

    def totals(self) -> dict:
        keys = (
            *("n", "bias_neurons", "aux_compartments", "compartments", "neurons", "synapses"),
            *("weight_synapses", "w_in_synapses", "bias_synapses", "cores", "memory_bits"),
        )
        return {k: int(sum(getattr(lr, k) for lr in self.layers)) for k in keys}

    def to_dict(self) -> dict:
        return {
            "chip": self.chip.name,
            "sizes": list(self.sizes),
            "bits_source": self.bits_source,
            "layers": [asdict(lr) for lr in self.layers],
            "total": self.totals(),
        }


def _bits_of(fixed: NetworkSpec | None, k: int) -> dict:
    if fixed is None:
        return {}
    ls = fixed.layers[k]
    p = ls.neuron
    out = {
        "weight_bits": weight_bits(ls.weight),
        "bias_bits": signed_bits(np.asarray(p.bias_mant)),
        "bias_exp": [int(np.min(p.bias_exp)), int(np.max(p.bias_exp))],
        "gain_bits": signed_bits(np.asarray(p.gain_mant)),
    }
    sb = ls.spiking_bias
    if sb is not None:
        out["w_in_bits"] = weight_bits(sb.w_in)
        out["w_b_bits"] = signed_bits(np.asarray(sb.params.w_b_mant))
    return out


def count_resources(
    spec: NetworkSpec, fixed: NetworkSpec | None = None, chip: ChipLimits = LOIHI1
) -> NetworkResources:
    """Neurons, compartments, synapses, fan-in/out and bit widths per layer.

    Args:
        spec: the network (float or fixed point); the counts come from it.
        fixed: its quantised twin for the bit widths (default: ``spec`` itself if it is fixed
            point; otherwise the bit widths stay None).
        chip: decides whether spiking-bias layers need auxiliary compartments.
    """
    structs = layer_structure(spec)
    if fixed is None and spec.fixed:
        fixed = spec
    if fixed is not None and (not fixed.fixed or fixed.sizes != spec.sizes):
        raise ParameterError(
            "count_resources: 'fixed' must be a fixed-point spec of the same sizes"
        )
    layers = []
    for k, st in enumerate(structs):
        m = st.m
        aux = st.n if (m and chip.aux_bias_compartments) else 0
        w_syn = int(st.w_nz.sum())
        win_syn = int(st.win_nz.sum()) if m else 0
        b_syn = int(st.bias_syn.sum()) if m else 0
        fan_in = st.w_nz.sum(1) + (st.bias_syn if m else 0)
        fan_in_max = int(fan_in.max()) if fan_in.size else 0
        if m:
            fan_in_max = max(fan_in_max, int(st.win_nz.sum(1).max()))
        fan_out = st.w_nz.sum(0) + (st.win_nz.sum(0) if m else 0)
        layers.append(
            LayerResources(
                index=k,
                n=st.n,
                bias_neurons=m,
                aux_compartments=aux,
                compartments=st.n + m + aux,
                neurons=st.n + m,
                synapses=w_syn + win_syn + b_syn,
                weight_synapses=w_syn,
                w_in_synapses=win_syn,
                bias_synapses=b_syn,
                fan_in_max=fan_in_max,
                fan_out_max=int(fan_out.max()) if fan_out.size else 0,
                **_bits_of(fixed, k),
            )
        )
    return NetworkResources(chip, list(spec.sizes), layers)


# ---- synaptic memory -------------------------------------------------------------------------
def synapse_memory_bits(counts, weight_bits: int, index_bits: int = LOIHI1.index_bits):
    """Synaptic-memory bits of input axons reaching ``counts`` synapses each in one core.

    Each axon's synapses are stored as runs of at most :data:`SYN_RUN` entries of
    ``weight_bits + index_bits`` bits, each run with a :data:`SYN_HEADER_BITS`-bit header and
    rounded up to :data:`SYN_WORD_BITS`-bit words. Returns an int64 array shaped like ``counts``.
    """
    c = np.asarray(counts, dtype=np.int64)
    per = int(weight_bits) + int(index_bits)
    full_run = -(-(SYN_RUN * per + SYN_HEADER_BITS) // SYN_WORD_BITS) * SYN_WORD_BITS
    q, r = np.divmod(c, SYN_RUN)
    part = np.where(r > 0, -(-(r * per + SYN_HEADER_BITS) // SYN_WORD_BITS) * SYN_WORD_BITS, 0)
    return q * full_run + part

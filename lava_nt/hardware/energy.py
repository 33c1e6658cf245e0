"""Activity per inference and an energy estimate from published Loihi 1 figures.

:func:`measure_activity` runs the network on real inputs (the numpy reference engine,
:func:`lava_nt.network.reference_run`, float or fixed point) and counts, per inference (one
sample of ``T`` steps, averaged over the samples):

* **spikes** of every layer's neurons and of its spiking-bias neurons (input spikes separately);
* **synaptic operations** of every layer: each presynaptic spike times its fan-out of nonzero
  synapses into that layer (``W`` and ``W_in``; a bias neuron's spike reaches the target neurons
  of its group that it has a nonzero ``w_b`` for).

:func:`energy_estimate` prices them with the per-operation energies of Davies et al. 2018
(IEEE Micro 38(1), Table 2). **These are pre-silicon figures for Loihi 1** (SDF/SPICE
simulation at 0.75 V), not measurements, and not Loihi 2 figures (no per-operation table for
Loihi 2 was found). The model::

    E = synops * E_synop                       (23.6 pJ, "energy per synaptic spike op (min)")
      + compartments * T * E_neuron_update     (81 pJ active; 52 pJ inactive as a lower bound)
      + on-chip spikes * E_spike               (1.7 pJ, "within-tile spike energy")
      + synaptic updates * E_synaptic_update   (120 pJ pairwise STDP; 0 updates at inference)

Every compartment is updated once per time step (Loihi is time-stepped), so the neuron-update
term does not depend on activity; the estimate counts every update at the "active" figure and
also reports the total with the "inactive" figure as a lower bound. Not included: tile hops
(3.0 / 4.0 pJ per hop E-W / N-S: the placement on the mesh is unknown), barrier
synchronisation, static (leakage) power, host I/O of the input spikes.

The reference engine has no Dense delay; Lava adds one step per layer, so a Lava run of the
same ``T`` can show slightly fewer spikes in the deeper layers (``docs/engines.md``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from lava_nt.decode import check_labels, output_classes, predictions
from lava_nt.hardware.resources import NetworkResources, layer_structure
from lava_nt.network import NetworkSpec, reference_run
from lava_nt.spec.validation import ParameterError

__all__ = [
    "LOIHI1_TABLE2",
    "Activity",
    "EnergyFigures",
    "LayerActivity",
    "energy_estimate",
    "measure_activity",
]


@dataclass(frozen=True)
class EnergyFigures:
    """Per-operation energies in picojoules (defaults: Davies et al. 2018, Table 2)."""

    synaptic_op_pj: float = 23.6
    synaptic_update_pj: float = 120.0
    neuron_update_active_pj: float = 81.0
    neuron_update_inactive_pj: float = 52.0
    spike_within_tile_pj: float = 1.7
    tile_hop_ew_pj: float = 3.0
    tile_hop_ns_pj: float = 4.0
    label: str = "pre-silicon Loihi 1 figures (SDF/SPICE simulation at 0.75 V)"
    source: str = (
        "M. Davies et al., 'Loihi: A Neuromorphic Manycore Processor with On-Chip Learning', "
        "IEEE Micro 38(1):82-99, 2018, Table 2"
    )

    def to_dict(self) -> dict:
        return asdict(self)


#: Davies et al. 2018, Table 2: pre-silicon Loihi 1 figures.
LOIHI1_TABLE2 = EnergyFigures()


@dataclass
class LayerActivity:
    """Per-inference activity of one layer (averages over the samples)."""

    index: int
    spikes: float
    bias_spikes: float
    synops: float
    weight_synops: float
    w_in_synops: float
    bias_synops: float
    rate: float  # spikes per neuron per step


@dataclass
class Activity:
    """Result of :func:`measure_activity`."""

    T: int
    n_samples: int
    engine: str
    input_spikes: float
    layers: list[LayerActivity] = field(default_factory=list)
    output: np.ndarray | None = None  # [T, B, n_out] output spikes of the run
    accuracy: float | None = None

    @property
    def spikes(self) -> float:
        """On-chip spikes per inference (layers and bias neurons; inputs excluded)."""
        return float(sum(la.spikes + la.bias_spikes for la in self.layers))

    @property
    def synops(self) -> float:
        return float(sum(la.synops for la in self.layers))

    def to_dict(self) -> dict:
        return {
            "T": self.T,
            "n_samples": self.n_samples,
            "engine": self.engine,
            "accuracy": self.accuracy,
            "input_spikes_per_inference": self.input_spikes,
            "spikes_per_inference": self.spikes,
            "synops_per_inference": self.synops,
            "layers": [asdict(la) for la in self.layers],
        }


def _as_numpy(s) -> np.ndarray:
    if hasattr(s, "detach"):
        s = s.detach().cpu().numpy()
    return np.asarray(s, dtype=np.float64)


def activity_from_spikes(
    spec: NetworkSpec, x, layer_spikes, bias_spikes, engine: str = "given"
) -> Activity:
    """Count spikes and synaptic operations from recorded spikes.

    Args:
        spec: the network that produced them.
        x: input spikes ``[T, B, n_in]``.
        layer_spikes: per layer ``[T, B, n]``.
        bias_spikes: per layer ``[T, B, m]`` or None (layers without a spiking bias).
    """
    x = _as_numpy(x)
    if x.ndim != 3 or x.shape[-1] != spec.n_in:
        raise ParameterError(f"activity: input must be [T, B, {spec.n_in}], got {x.shape}")
    T, B, _ = x.shape
    structs = layer_structure(spec)
    src = x.sum((0, 1)) / B  # spikes per inference of each presynaptic source
    act = Activity(T=T, n_samples=B, engine=engine, input_spikes=float(src.sum()))
    for k, st in enumerate(structs):
        s = _as_numpy(layer_spikes[k])
        per_neuron = s.sum((0, 1)) / B
        w_ops = float(src @ st.w_nz.sum(0))
        win_ops = b_ops = 0.0
        b_spk = 0.0
        if st.m:
            win_ops = float(src @ st.win_nz.sum(0))
            sb = bias_spikes[k] if bias_spikes is not None else None
            if sb is None:
                raise ParameterError(f"activity: layer {k} has a spiking bias but no bias spikes")
            per_bias = _as_numpy(sb).sum((0, 1)) / B
            fan = np.bincount(st.group[st.bias_syn], minlength=st.m)
            b_ops = float(per_bias @ fan)
            b_spk = float(per_bias.sum())
        act.layers.append(
            LayerActivity(
                index=k,
                spikes=float(per_neuron.sum()),
                bias_spikes=b_spk,
                synops=w_ops + win_ops + b_ops,
                weight_synops=w_ops,
                w_in_synops=win_ops,
                bias_synops=b_ops,
                rate=float(per_neuron.sum() / (st.n * T)),
            )
        )
        src = per_neuron
    return act


def measure_activity(
    spec: NetworkSpec,
    x,
    y=None,
    n_classes: int | None = None,
) -> Activity:
    """Run ``spec`` on ``x`` (``[T, B, n_in]`` spikes) with the numpy reference engine and count
    spikes and synaptic operations per inference; with labels ``y`` also the accuracy
    (population-coded argmax over ``n_classes``, which labels then require)."""
    x = _as_numpy(x)
    out, recs = reference_run(spec, x, record=True)
    act = activity_from_spikes(
        spec,
        x,
        [r["spikes"] for r in recs],
        [r["bias_spikes"] for r in recs],
        engine="numpy reference (" + ("fixed point" if spec.fixed else "float") + ")",
    )
    act.output = out
    if y is not None:
        y = np.asarray(y)
        n_classes = output_classes(n_classes, None, "measure_activity")
        check_labels(y, n_classes, "measure_activity")
        pred = predictions(out, n_classes)
        act.accuracy = float(np.mean(pred == y))
    return act


def energy_estimate(
    activity: Activity,
    resources: NetworkResources,
    figures: EnergyFigures = LOIHI1_TABLE2,
) -> dict:
    """Energy per inference (picojoules) from ``activity`` and the compartment counts of
    ``resources`` (see the module docstring). Returns per-layer and total components."""
    if len(activity.layers) != len(resources.layers):
        raise ParameterError("energy_estimate: activity and resources describe different networks")
    T = activity.T
    layers = []
    tot = dict.fromkeys(
        ("synops", "neuron", "neuron_low", "spikes", "learning", "total", "low"), 0.0
    )
    for la, lr in zip(activity.layers, resources.layers, strict=True):
        e_syn = la.synops * figures.synaptic_op_pj
        updates = lr.compartments * T
        e_neu = updates * figures.neuron_update_active_pj
        e_neu_lo = updates * figures.neuron_update_inactive_pj
        e_spk = (la.spikes + la.bias_spikes) * figures.spike_within_tile_pj
        row = {
            "index": la.index,
            "synops": la.synops,
            "neuron_updates": updates,
            "spikes": la.spikes + la.bias_spikes,
            "synops_pj": e_syn,
            "neuron_updates_pj": e_neu,
            "spikes_pj": e_spk,
            "learning_pj": 0.0,
            "total_pj": e_syn + e_neu + e_spk,
            "total_low_pj": e_syn + e_neu_lo + e_spk,
        }
        layers.append(row)
        tot["synops"] += e_syn
        tot["neuron"] += e_neu
        tot["neuron_low"] += e_neu_lo
        tot["spikes"] += e_spk
    tot["total"] = tot["synops"] + tot["neuron"] + tot["spikes"]
    tot["low"] = tot["synops"] + tot["neuron_low"] + tot["spikes"]
    return {
        "figures": figures.to_dict(),
        "T": T,
        "layers": layers,
        "synops_pj": tot["synops"],
        "neuron_updates_pj": tot["neuron"],
        "spikes_pj": tot["spikes"],
        "learning_pj": 0.0,
        "total_pj": tot["total"],
        "total_low_pj": tot["low"],
        "per_step_pj": tot["total"] / T,
        "model": "E = synops*E_synop + compartments*T*E_neuron_update(active; inactive for the "
        "lower bound) + on-chip spikes*E_spike(within tile); no learning, tile hops, barrier "
        "sync, static power or host I/O",
    }

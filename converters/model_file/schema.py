"""The model-file schema: format name, version, recognised keys and :class:`ModelInfo` (what a
file holds besides the network)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lava_nt.network import NetworkSpec

FORMAT = "lava-nt model"
SCHEMA_VERSION = 6
#: Versions this lava-nt reads: 1 (no readout, spike input), 2 (adds ``input`` and the optional
#: ``readout`` group of a network), 3 (the spiking-bias current's retention factor is stored
#: as ``c_retention``, formerly ``alpha``: dataset and trainable flag), 4 (a layer's optional
#: ``delay`` dataset: synaptic delays), 5 (a layer's neuron ``du`` and ``dv`` may hold one
#: value per neuron, shape ``(n,)``, instead of a scalar) and 6 (the layout of 5, arrays stored
#: compactly: narrowest exact dtype, large ones compressed, :mod:`.storage`; the checksum is
#: over the values, which for the float64 / int64 arrays of older files is what it was).
READABLE_VERSIONS = (1, 2, 3, 4, 5, 6)
#: ``meta`` keys that are promoted to their own fields; everything else is free-form.
META_KEYS = ("seed", "data_protocol", "tuning_methods", "n_classes", "population")
TRAINABLE_KINDS = ("weight", "bias", "gain", "w_in", "w_b", "c_retention")
#: Versions 1 and 2 store ``c_retention`` (dataset and trainable flag) under its old name.
LEGACY_C_RETENTION = "alpha"
#: The first version that writes ``c_retention``.
C_RETENTION_VERSION = 3


def c_retention_name(version: int) -> str:
    """The name of the spiking-bias retention factor (dataset and trainable flag) in a file of
    schema ``version``."""
    return "c_retention" if version >= C_RETENTION_VERSION else LEGACY_C_RETENTION


def trainable_kinds(version: int) -> tuple[str, ...]:
    """The trainable-flag keys of a file of schema ``version``."""
    return (*TRAINABLE_KINDS[:-1], c_retention_name(version))


# ---- the layout (docs/model_file.md): every member and attribute a model file may hold ---------
# Attributes: name -> kind (str, int or bool; all scalar). Datasets: name -> (dtype kind "f" float,
# "i" integer or "b" boolean; shape in terms of n_prev = inputs of the layer, n = its neurons,
# m = its bias neurons).
ROOT_ATTRS = {"format": str, "schema_version": int, "checksum": str}
ROOT_GROUPS = ("architecture", "network", "training", "output", "provenance")
OPTIONAL_ROOT_GROUPS = ("quantized",)
ARCHITECTURE_ATTRS = {"n_in": int, "n_layers": int, "fixed": bool, "spiking_bias_layers": str}
NETWORK_ATTRS = {"fixed": bool, "n_in": int, "n_layers": int}
#: Version 2: the kind of input ("spikes" or "graded"); absent in version 1 files (spikes).
NETWORK_INPUT_ATTR = {"input": str}
#: Version 2: the optional non-spiking readout of a network (``n`` units, fed by the last layer).
READOUT_ATTRS = {
    False: {"n": int, "reduce": str},
    True: {"n": int, "reduce": str, "weight_exp": int},
}
READOUT_DATASETS = {
    False: {"weight": ("f", ("n", "n_prev")), "du": ("f", ()), "dv": ("f", ()),
            "bias": ("f", ("n",))},
    True: {"weight": ("i", ("n", "n_prev")), "i_decay": ("i", ()), "v_decay": ("i", ()),
           "bias_mant": ("i", ("n",)), "bias_exp": ("i", ("n",))},
}  # fmt: skip
QUANTIZED_ATTRS = {**NETWORK_ATTRS, "report": str}
TRAINING_ATTRS = {
    "dtype": str,
    "detach_reset": bool,
    "tuning_methods": str,
    "trainable": str,
    "trainable_counts": str,
    "n_trainable": int,
    "surrogate": str,
}
OUTPUT_ATTRS = {"coding": str, "n_classes": int, "population": int}
PROVENANCE_ATTRS = {
    "lava_nt_version": str,
    "created": str,
    "seed": str,
    "data_protocol": str,
    "meta": str,
}
LAYER_ATTRS = {False: {}, True: {"weight_exp": int}}  # by fixed point
#: Version 4: a layer's synaptic delays in steps (``LayerSpec.delay``; absent = no delay).
OPTIONAL_LAYER_DATASETS = {"delay": ("i", ("n", "n_prev"))}
#: The first version that may hold ``delay``.
DELAY_VERSION = 4
NEURON_ATTRS = {"reset": str}
SPIKING_BIAS_ATTRS = {False: {"m": int}, True: {"m": int, "w_in_exp": int}}
_SCALAR = ()
NEURON_DATASETS = {
    False: {"du": ("f", _SCALAR), "dv": ("f", _SCALAR), "vth": ("f", _SCALAR),
            "bias": ("f", ("n",)), "gain": ("f", ("n",))},
    True: {"du": ("i", _SCALAR), "dv": ("i", _SCALAR), "vth": ("i", _SCALAR),
           "bias_mant": ("i", ("n",)), "bias_exp": ("i", ("n",)), "gain_mant": ("i", ("n",))},
}  # fmt: skip
#: Version 5: the neuron datasets that may hold a scalar or one value per neuron ``(n,)``.
PER_NEURON_DECAYS = ("du", "dv")
#: The first version whose neuron ``du`` / ``dv`` may have shape ``(n,)``.
PER_NEURON_DECAY_VERSION = 5
SPIKING_BIAS_DATASETS = {
    False: {"w_in": ("f", ("m", "n_prev")), "du": ("f", _SCALAR), "dv": ("f", _SCALAR),
            "vth": ("f", _SCALAR), "bias": ("f", ("m",)), "w_b": ("f", ("m",)),
            "c_retention": ("f", ("m",))},
    True: {"w_in": ("i", ("m", "n_prev")), "du": ("i", _SCALAR), "dv": ("i", _SCALAR),
           "vth": ("i", _SCALAR), "bias_mant": ("i", ("m",)), "bias_exp": ("i", ("m",)),
           "w_b_mant": ("i", ("m",)), "w_b_exp": ("i", ("m",)), "dc": ("i", ("m",))},
}  # fmt: skip
OPTIONAL_SPIKING_BIAS_DATASETS = {"mask": ("b", ("m", "n_prev")), "group": ("i", ("n",))}


def spiking_bias_datasets(fixed: bool, version: int) -> dict:
    """The required spiking-bias datasets of a file of schema ``version`` (before version 3 the
    float ``c_retention`` is called ``alpha``)."""
    sets = SPIKING_BIAS_DATASETS[fixed]
    if fixed or version >= C_RETENTION_VERSION:
        return sets
    return {(LEGACY_C_RETENTION if k == "c_retention" else k): v for k, v in sets.items()}


@dataclass
class ModelInfo:
    """Everything in a model file besides the network itself.

    Attributes:
        path: the file.
        schema_version: of the file.
        sizes: ``[n_in, n_1, ..., n_out]``.
        fixed: the main network is fixed point.
        dtype: torch dtype name the network was saved from ("float32" / "float64").
        trainable: per layer ``{"weight": bool, "bias": ..., "gain": ..., "w_in", "w_b",
            "c_retention"}`` (which tensors were trainable when saved; the ``alpha`` flag of a
            version 1 or 2 file is read as ``c_retention``).
        tuning_methods: e.g. ``["nt2"]`` (empty if unknown / pretraining).
        trainable_counts: trainable scalars per tensor name; ``n_trainable`` their sum.
        n_classes, population: output coding (``n_out = n_classes * population``).
        surrogate: per layer ``{"name", "alpha", "bias_name", "bias_alpha"}`` (``alpha`` and
            ``bias_alpha``: the surrogate-gradient slopes of the neurons and bias neurons).
        detach_reset: of the neurons.
        seed, data_protocol, created, lava_nt_version: provenance; ``meta`` free-form extras.
        quantized: the attached fixed-point spec (or None); ``quant_report`` its
            :class:`~lava_nt.converters.quantize.QuantReport`.
    """

    path: str
    schema_version: int
    sizes: list[int]
    fixed: bool = False
    dtype: str = "float64"
    trainable: list[dict] = field(default_factory=list)
    tuning_methods: list[str] = field(default_factory=list)
    trainable_counts: dict[str, int] = field(default_factory=dict)
    n_trainable: int = 0
    n_classes: int | None = None
    population: int | None = None
    surrogate: list[dict] = field(default_factory=list)
    detach_reset: bool = True
    seed: int | None = None
    data_protocol: str | None = None
    created: str = ""
    lava_nt_version: str = ""
    meta: dict = field(default_factory=dict)
    quantized: NetworkSpec | None = None
    quant_report: Any = None

"""Neuromodulatory tuning methods: freeze a pretrained network and make only the NT part
trainable, in one call that says what it made trainable.

Methods (combine where it makes sense, e.g. ``["nt1", "nt2"]``):

=======================  ==========================================================================
``tft``                  traditional fine-tuning: every weight and existing bias
``nt1``                  multiplicative gain ``g`` of each layer (v += g (u + b)); identity init
                         (``gain_init="identity"``) or the paper's random uniform
                         (``gain_init="uniform"``, ``gain_range``)
``nt2``                  the existing biases ``b`` (traditional bias tuning)
``additive_bias``        a new additive bias on a network pretrained without one (BitFit-style)
``spiking_bias``         one spiking bias neuron per neuron (m = n) on each layer; input matrix
                         fixed, bias weights ``w_b`` trained
``spiking_bias_sparse``  the same with the input matrices trained on a fixed sparse mask
                         (``sparsity``, default 0.9: 10% of each W_in trained) plus ``w_b``
``volumetric``           ``n / group_size`` bias neurons on ``layers`` (default the first), each
                         driving a contiguous group; W_in ``input_sparsity`` sparse (default 0.85)
                         and trained, plus ``w_b``
=======================  ==========================================================================

:func:`count_trainable` counts trainable scalars, counting only the unmasked entries of masked
input matrices; for the EEG network 160-400-800-100 it reproduces the paper's numbers (465,300 /
1,300 / 1,300 / 1,300 / 47,700 / 1,000; tests prove it).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch

from lava_nt.nn._util import is_trainable, set_tensor
from lava_nt.nn.network import NTNetwork
from lava_nt.nn.spiking_bias import SpikingBias
from lava_nt.spec.validation import ParameterError

METHODS = (
    "tft",
    "nt1",
    "nt2",
    "additive_bias",
    "spiking_bias",
    "spiking_bias_sparse",
    "volumetric",
)
# methods that add spiking-bias populations: at most one of them per call
_SPIKING = ("spiking_bias", "spiking_bias_sparse", "volumetric")


@dataclass
class TuningReport:
    """What :func:`apply_tuning` made trainable (``str(report)`` is a table of it).

    Attributes:
        methods: the NT methods applied, in order (e.g. ``["bias", "gain"]``).
        trainable: trainable scalars per tensor name (``"layers.0.neuron.bias"``: count), after
            tuning; a masked ``W_in`` counts only its unmasked entries.
        total: the sum of ``trainable``.
        added: what was inserted into the network, one line each (e.g. a spiking bias or an
            additive bias on a layer, with its initialisation).
    """

    methods: list[str]
    trainable: dict[str, int] = field(default_factory=dict)  # tensor name -> trainable scalars
    total: int = 0
    added: list[str] = field(default_factory=list)  # what was inserted into the network

    def __str__(self) -> str:
        lines = [f"tuning {'+'.join(self.methods)}: {self.total:,} trainable parameters"]
        lines += [f"  {name:40s} {n:>9,}" for name, n in self.trainable.items()]
        lines += [f"  added: {a}" for a in self.added]
        return "\n".join(lines)


def trainable_counts(net: torch.nn.Module) -> dict[str, int]:
    """Trainable scalars per tensor; a masked ``W_in`` counts only its unmasked entries."""
    counts = {}
    for mod_name, mod in net.named_modules():
        for name, p in mod.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            full = f"{mod_name}.{name}" if mod_name else name
            if isinstance(mod, SpikingBias) and name == "w_in":
                counts[full] = mod.n_trainable_w_in
            else:
                counts[full] = p.numel()
    return counts


def count_trainable(net: torch.nn.Module) -> int:
    """Number of trainable scalars (masked input-matrix entries are not counted)."""
    return sum(trainable_counts(net).values())


def freeze(net: NTNetwork) -> NTNetwork:
    """Make every tensor of the network non-trainable (values kept)."""
    net.set_trainable(
        weight=False, bias=False, gain=False, w_in=False, w_b=False, c_retention=False
    )
    return net


def _layer_indices(net: NTNetwork, layers: Iterable[int] | None, where: str) -> list[int]:
    if layers is None:
        return list(range(len(net.layers)))
    idx = sorted(set(int(i) for i in layers))
    for i in idx:
        if not 0 <= i < len(net.layers):
            raise ParameterError(
                f"{where}: layer {i} does not exist (network has {len(net.layers)})"
            )
    return idx


@dataclass
class _TuningContext:
    """What every method of one :func:`apply_tuning` call shares."""

    where: str  # error prefix, e.g. "apply_tuning(nt1+nt2)"
    idx: list[int]  # the layers to tune
    has_bias: list[bool]  # per layer of the network: it has a (pretrained or trainable) bias
    gen: torch.Generator
    report: TuningReport
    gain_init: str
    gain_range: tuple[float, float]
    sparsity: float
    group_size: int
    input_sparsity: float
    sb_kwargs: dict


def _check_methods(names: list[str]) -> None:
    """Known method names, and only combinations that make sense."""
    if not names:
        raise ParameterError("apply_tuning: no method given")
    for m in names:
        if m not in METHODS:
            close = difflib.get_close_matches(m, METHODS, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ParameterError(f"apply_tuning: unknown method '{m}'.{hint} Methods: {METHODS}")
    if len(set(names) & set(_SPIKING)) > 1:
        raise ParameterError(f"apply_tuning: combine at most one of {_SPIKING}")
    if "nt2" in names and "additive_bias" in names:
        raise ParameterError("apply_tuning: 'nt2' tunes existing biases, 'additive_bias' adds new "
                             "ones; choose one")  # fmt: skip
    if "tft" in names and len(names) > 1:
        raise ParameterError("apply_tuning: 'tft' already trains everything; use it alone")


def _tune_tft(net: NTNetwork, c: _TuningContext, m: str) -> None:
    for i in c.idx:
        net.layers[i].linear.weight.requires_grad_(True)
        if c.has_bias[i]:
            net.layers[i].neuron.set_trainable(bias=True)


def _tune_nt1(net: NTNetwork, c: _TuningContext, m: str) -> None:
    for i in c.idx:
        cell = net.layers[i].neuron
        if c.gain_init == "uniform":
            lo, hi = c.gain_range
            g = torch.empty(cell.gain.shape, dtype=torch.float64)
            g.uniform_(float(lo), float(hi), generator=c.gen)
            set_tensor(cell, "gain", g.to(cell.gain), True)
            c.report.added.append(f"layers.{i}: gain ~ U({lo}, {hi})")
        elif c.gain_init == "identity":
            set_tensor(cell, "gain", torch.ones_like(cell.gain), True)
        else:
            raise ParameterError(f"{c.where}: gain_init must be 'identity' or 'uniform'")


def _tune_nt2(net: NTNetwork, c: _TuningContext, m: str) -> None:
    missing = [i for i in c.idx if not c.has_bias[i]]
    if missing:
        raise ParameterError(
            f"{c.where}: layers {missing} have no biases (pretrained without); "
            "use 'additive_bias' to add new ones"
        )
    for i in c.idx:
        net.layers[i].neuron.set_trainable(bias=True)


def _tune_additive_bias(net: NTNetwork, c: _TuningContext, m: str) -> None:
    present = [i for i in c.idx if c.has_bias[i]]
    if present:
        raise ParameterError(
            f"{c.where}: layers {present} already have biases; tune them with 'nt2'"
        )
    for i in c.idx:
        cell = net.layers[i].neuron
        set_tensor(cell, "bias", torch.zeros_like(cell.bias), True)
        c.report.added.append(f"layers.{i}: additive bias (zero-initialised)")


def _tune_spiking(net: NTNetwork, c: _TuningContext, m: str) -> None:
    """``spiking_bias``, ``spiking_bias_sparse`` and ``volumetric``: add the populations."""
    for i in c.idx:
        layer = net.layers[i]
        if layer.spiking_bias is not None:
            raise ParameterError(f"{c.where}: layer {i} already has a spiking bias")
        ref = layer.linear.weight
        if m == "volumetric":
            if layer.n % c.group_size:
                raise ParameterError(
                    f"{c.where}: group_size {c.group_size} does not divide layer {i} "
                    f"({layer.n} neurons)"
                )
            mcount, sp, w_in_trainable = layer.n // c.group_size, c.input_sparsity, True
        else:
            mcount = layer.n
            sp, w_in_trainable = (c.sparsity, True) if m == "spiking_bias_sparse" else (0.0, False)
        layer.spiking_bias = SpikingBias(
            layer.n_in,
            layer.n,
            m=mcount,
            group="contiguous" if mcount != layer.n else None,
            sparsity=sp,
            generator=c.gen,
            trainable_w_in=w_in_trainable,
            trainable_w_b=True,
            trainable_c_retention=False,
            dtype=ref.dtype,
            device=ref.device,
            **c.sb_kwargs,
        )
        c.report.added.append(
            f"layers.{i}: {mcount} spiking bias neurons"
            + (f", W_in {sp:.0%} sparse" if sp else "")
            + (" (W_in trained)" if w_in_trainable else " (W_in fixed)")
        )


_TUNERS = {
    "tft": _tune_tft,
    "nt1": _tune_nt1,
    "nt2": _tune_nt2,
    "additive_bias": _tune_additive_bias,
    **{m: _tune_spiking for m in _SPIKING},
}


def apply_tuning(
    net: NTNetwork,
    methods: str | Sequence[str],
    *,
    layers: Iterable[int] | None = None,
    gain_init: str = "identity",
    gain_range: tuple[float, float] = (0.0, 1.0),
    sparsity: float = 0.9,
    group_size: int = 10,
    input_sparsity: float = 0.85,
    seed: int = 0,
    spiking_bias_kwargs: dict | None = None,
) -> TuningReport:
    """Freeze ``net`` and make the parts of ``methods`` trainable (in place).

    Args:
        net: a pretrained :class:`~lava_nt.nn.network.NTNetwork`.
        methods: one name or a list (see the module docstring).
        layers: layers to tune (default all; ``volumetric`` defaults to ``[0]``).
        gain_init: NT1 initialisation, ``"identity"`` (g = 1: the tuned network starts equal to
            the pretrained one) or ``"uniform"`` (the paper: g ~ U(gain_range), seeded).
        sparsity: fraction of zeros of the tuned input matrices (``spiking_bias_sparse``).
        group_size: target neurons per bias neuron (``volumetric``); must divide the layer.
        input_sparsity: fraction of zeros of the volumetric input matrix.
        seed: seeds masks and initialisations.
        spiking_bias_kwargs: extra :class:`~lava_nt.nn.spiking_bias.SpikingBias` arguments for
            added populations (bias-neuron dynamics, ``c_retention``, ``w_in_scale`` ...).

    Returns:
        A :class:`TuningReport`. Re-create the optimizer after calling this.
    """
    if not isinstance(net, NTNetwork):
        raise ParameterError("apply_tuning: expected an NTNetwork")
    names = [methods] if isinstance(methods, str) else list(methods)
    _check_methods(names)
    where = f"apply_tuning({'+'.join(names)})"
    gen = torch.Generator().manual_seed(seed)
    report = TuningReport(names)
    sb_kwargs = dict(spiking_bias_kwargs or {})

    default_layers = [0] if "volumetric" in names else None
    idx = _layer_indices(net, layers if layers is not None else default_layers, where)
    # a layer has a bias if it was built with a trainable one or holds nonzero values
    has_bias = [
        is_trainable(layer.neuron, "bias") or bool(layer.neuron.bias.detach().abs().sum() > 0)
        for layer in net.layers
    ]
    freeze(net)
    ctx = _TuningContext(
        where=where,
        idx=idx,
        has_bias=has_bias,
        gen=gen,
        report=report,
        gain_init=gain_init,
        gain_range=gain_range,
        sparsity=sparsity,
        group_size=group_size,
        input_sparsity=input_sparsity,
        sb_kwargs=sb_kwargs,
    )
    for m in names:
        _TUNERS[m](net, ctx, m)
    report.trainable = trainable_counts(net)
    report.total = sum(report.trainable.values())
    return report


def tuned_parameters(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The trainable tensors by name (what a tuning run changes)."""
    return {n: p for n, p in net.named_parameters() if p.requires_grad}


__all__ = [
    "METHODS",
    "TuningReport",
    "apply_tuning",
    "count_trainable",
    "freeze",
    "is_trainable",
    "trainable_counts",
    "tuned_parameters",
]

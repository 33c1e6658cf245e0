"""NTNetwork: a feed-forward stack of :class:`~lava_nt.nn.layer.NTLayer` s, and its conversion
to and from the engine-neutral :class:`lava_nt.network.NetworkSpec`.

``NTNetwork(x [T, B, n_in]) -> spikes [T, B, n_out]`` runs layer by layer (each layer processes all
``T`` steps before the next starts; for a feed-forward network this is the same computation as a
step loop over the whole stack, and the matmuls cover all steps at once). Every sample starts from
a fresh state unless a state is passed, so nothing leaks between calls.

An optional :class:`~lava_nt.nn.readout.Readout` after the last layer makes the output its
voltage trace ``[T, B, n_readout]`` (``values(out)`` reduces it over the window); graded
(real-valued) inputs go through the first layer's matmul like spikes.

With batched parameters (``expand_parameters(k)``: bias / gain / ``w_b`` / ``c_retention`` shaped
``[K, 1, n]``) the input is laid out ``[T, K, B, n_in]`` and the output ``[T, K, B, n_out]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from lava_nt._deprecation import C_RETENTION_RENAME, TRAINABLE_FLAG_RENAMES, renamed_kwargs
from lava_nt.network import LayerSpec, NetworkSpec, SpikingBiasSpec
from lava_nt.nn._util import LayerStack, is_trainable, to_numpy
from lava_nt.nn.layer import NTLayer, NTLayerState
from lava_nt.nn.readout import Readout
from lava_nt.nn.spiking_bias import SpikingBias
from lava_nt.nn.surrogate import DEFAULT_ALPHA, DEFAULT_SURROGATE
from lava_nt.result import RunResult
from lava_nt.spec.ntlif import NTLIFParameters
from lava_nt.spec.validation import ParameterError

__all__ = ["NTNetwork"]


def _decay(t: torch.Tensor):
    """A decay buffer as a spec value: a float for one per layer, a float64 ``(n,)`` array for
    one per neuron."""
    return float(t) if t.numel() == 1 else to_numpy(t).astype(np.float64).reshape(-1)


class NTNetwork(LayerStack, torch.nn.Module):
    """A feed-forward stack of :class:`NTLayer` s.

    Args:
        layers: the layers, input size of each equal to the output size of the previous one.
        readout: optional non-spiking :class:`~lava_nt.nn.readout.Readout` fed by the last layer.
        input: ``"spikes"`` or ``"graded"`` (the kind of data the network was built for).
    """

    def __init__(
        self, layers: Iterable[NTLayer], readout: Readout | None = None, input: str = "spikes"
    ):
        super().__init__()
        layers = list(layers)
        if not layers:
            raise ParameterError("NTNetwork: at least one layer is required")
        for k, layer in enumerate(layers):
            if not isinstance(layer, NTLayer):
                raise ParameterError(f"NTNetwork: layer {k} is not an NTLayer")
            if k and layer.n_in != layers[k - 1].n:
                raise ParameterError(
                    f"NTNetwork: layer {k} expects {layer.n_in} inputs, layer {k - 1} has "
                    f"{layers[k - 1].n} neurons"
                )
        self.layers = torch.nn.ModuleList(layers)
        if readout is not None:
            if not isinstance(readout, Readout):
                raise ParameterError("NTNetwork: 'readout' must be a lava_nt.nn.readout.Readout")
            if readout.n_in != layers[-1].n:
                raise ParameterError(
                    f"NTNetwork: the readout expects {readout.n_in} inputs, the last layer has "
                    f"{layers[-1].n} neurons"
                )
        self.readout = readout
        if input not in ("spikes", "graded"):
            raise ParameterError(f"NTNetwork: 'input' must be 'spikes' or 'graded', got {input!r}")
        self.input = input

    @classmethod
    def from_sizes(cls, sizes: Sequence[int], **layer_kwargs) -> NTNetwork:
        """``NTNetwork([NTLayer(sizes[0], sizes[1], **kw), ...])`` (no spiking biases)."""
        if len(sizes) < 2:
            raise ParameterError("NTNetwork.from_sizes: need at least [n_in, n_out]")
        return cls(
            NTLayer(a, b, **layer_kwargs) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )

    # ---- running --------------------------------------------------------------------------
    def forward(
        self,
        x: torch.Tensor,
        state: list[NTLayerState] | None = None,
        record: bool = False,
        return_state: bool = False,
    ):
        """Run ``x [T, ..., n_in]`` and return the output spikes ``[T, ..., n_out]``.

        With ``record=True`` also a list of per-layer dicts (``spikes``, ``bias_current``,
        ``bias_spikes``, as :func:`lava_nt.network.reference_run`); with ``return_state=True``
        also the list of final :class:`NTLayerState` s. Order: ``(spikes[, records][, states])``.
        ``state`` (a list of per-layer states) continues a previous run; None starts fresh.
        """
        s, recs, states = self._run(x, state, record)
        out: tuple[Any, ...] = (s,)
        if record:
            out += (recs,)
        if return_state:
            out += (states,)
        return out[0] if len(out) == 1 else out

    def run(
        self,
        x: torch.Tensor,
        state: list[NTLayerState] | None = None,
        record: bool = False,
        return_state: bool = False,
    ) -> RunResult:
        """Run ``x [T, ..., n_in]`` like :meth:`forward` and return a
        :class:`~lava_nt.result.RunResult` (the result type of every engine): ``output`` the
        output spikes (or readout trace) ``[T, ..., n_out]``, ``layers`` the per-layer records
        of ``record=True``, ``states`` the final layer states of ``return_state=True``.

        :meth:`forward` keeps returning tensors (a tuple with ``record`` / ``return_state``):
        the training loop, ``torch.compile`` and Norse-style modules expect a module's forward
        to return tensors, and wrappers such as ``FusedNTNetwork`` call it.
        """
        out, recs, states = self._run(x, state, record)
        return RunResult(
            output=out,
            layers=recs if record else [],
            has_readout=self.readout is not None,
            states=states if return_state else None,
        )

    def _run(self, x: torch.Tensor, state, record: bool):
        """``(output, per-layer records, final layer states)`` of ``x [T, ..., n_in]``."""
        if x.shape[-1] != self.n_in:
            raise ParameterError(
                f"NTNetwork: input must be [T, ..., {self.n_in}], got {tuple(x.shape)}"
            )
        s = x
        recs, states = [], []
        for k, layer in enumerate(self.layers):
            s, st, rec = layer.run(s, None if state is None else state[k], record=record)
            recs.append(rec)
            states.append(st)
        if self.readout is not None:
            s = self.readout(s)
        return s, recs, states

    def forward_static(self, x: torch.Tensor, T: int, record: bool = False):
        """Run a static input ``x [..., n_in]`` held for ``T`` steps (as the EEG task's band-power
        spikes): layer 1's synaptic input is computed once instead of ``T`` times. Returns what
        ``forward(x.expand(T, ...), record=record)`` returns."""
        if x.shape[-1] != self.n_in:
            raise ParameterError(
                f"NTNetwork: static input must be [..., {self.n_in}], got {tuple(x.shape)}"
            )
        if isinstance(T, bool) or not isinstance(T, int) or T <= 0:
            raise ParameterError(f"NTNetwork.forward_static: 'T' must be a positive int, got {T!r}")
        recs = []
        s, _, rec = self.layers[0].run(x, None, record=record, T=T)
        recs.append(rec)
        for layer in self.layers[1:]:
            s, _, rec = layer.run(s, None, record=record)
            recs.append(rec)
        if self.readout is not None:
            s = self.readout(s)
        return (s, recs) if record else s

    def step(self, s_in: torch.Tensor, state: list[NTLayerState] | None = None):
        """One tick through all layers: ``(s_out [..., n_out], list of layer states)``."""
        states = []
        s = s_in
        for k, layer in enumerate(self.layers):
            s, st = layer(s, None if state is None else state[k])
            states.append(st)
        return s, states

    # ---- tuning helpers -------------------------------------------------------------------
    @renamed_kwargs(C_RETENTION_RENAME, "NTNetwork.set_trainable")
    def set_trainable(
        self,
        weight: bool | None = None,
        bias: bool | None = None,
        gain: bool | None = None,
        w_in: bool | None = None,
        w_b: bool | None = None,
        c_retention: bool | None = None,
    ) -> NTNetwork:
        """Freeze / unfreeze tensors of every layer (None leaves a kind unchanged). Re-create
        optimizers afterwards. ``alpha=`` is the deprecated name of ``c_retention=``."""
        for layer in self.layers:
            if weight is not None:
                layer.linear.weight.requires_grad_(bool(weight))
            layer.neuron.set_trainable(bias=bias, gain=gain)
            if layer.spiking_bias is not None:
                layer.spiking_bias.set_trainable(w_in=w_in, w_b=w_b, c_retention=c_retention)
        if self.readout is not None and weight is not None:
            self.readout.linear.weight.requires_grad_(bool(weight))
        return self

    def expand_parameters(self, k: int) -> NTNetwork:
        """Copy every layer's bias / gain (and ``w_b`` / ``c_retention``) into ``k`` independent
        sets for batched personalisation (inputs then laid out ``[T, K, B, n_in]``)."""
        for layer in self.layers:
            layer.neuron.expand_parameters(k)
            if layer.spiking_bias is not None:
                layer.spiking_bias.expand_parameters(k)
        return self

    # ---- spec conversion ------------------------------------------------------------------
    @classmethod
    @renamed_kwargs(TRAINABLE_FLAG_RENAMES, "NTNetwork.from_spec")
    def from_spec(
        cls,
        spec: NetworkSpec,
        dtype: torch.dtype = torch.float64,
        *,
        trainable_weight: bool = True,
        trainable_bias: bool = True,
        trainable_gain: bool = False,
        trainable_w_in: bool = False,
        trainable_w_b: bool = True,
        trainable_c_retention: bool = False,
        surrogate: Any = DEFAULT_SURROGATE,
        alpha: float = DEFAULT_ALPHA,
        detach_reset: bool = True,
        device: Any = None,
    ) -> NTNetwork:
        """Build the torch network of a floating-point :class:`~lava_nt.network.NetworkSpec`.

        Values are copied exactly (in ``dtype``; use float64 for bit-equality with
        :func:`lava_nt.network.reference_run`). ``trainable_*`` choose which tensors are
        ``nn.Parameter`` s (the old ``train_*`` names are deprecated); ``surrogate`` / ``alpha``
        set the spike surrogate (and its slope) of all neurons. Synaptic delays are copied
        (frozen, not trained).
        """
        if not isinstance(spec, NetworkSpec):
            raise ParameterError("NTNetwork.from_spec: expected a lava_nt.network.NetworkSpec")
        if spec.fixed:
            raise ParameterError(
                "NTNetwork.from_spec: a fixed-point spec cannot be trained; use "
                "lava_nt.nn.fixed_emulator.emulate_fixed to run it"
            )
        layers = []
        n_prev = spec.n_in
        for ls in spec.layers:
            p = ls.neuron
            sb = None
            if ls.spiking_bias is not None:
                sp = ls.spiking_bias.params
                sb = SpikingBias(
                    n_prev,
                    ls.n,
                    m=ls.spiking_bias.m,
                    group=sp.group,
                    mask=ls.spiking_bias.mask,
                    w_in=np.asarray(ls.spiking_bias.w_in, dtype=np.float64),
                    du=sp.du,
                    dv=sp.dv,
                    vth=sp.vth,
                    bias=sp.bias,
                    w_b=sp.w_b,
                    c_retention=sp.c_retention,
                    trainable_w_in=trainable_w_in,
                    trainable_w_b=trainable_w_b,
                    trainable_c_retention=trainable_c_retention,
                    surrogate=surrogate,
                    surrogate_alpha=alpha,
                    detach_reset=detach_reset,
                    dtype=dtype,
                    device=device,
                )
            layers.append(
                NTLayer(
                    n_prev,
                    ls.n,
                    bias=p.bias,
                    gain=p.gain,
                    spiking_bias=sb,
                    weight=np.asarray(ls.weight, dtype=np.float64),
                    trainable_weight=trainable_weight,
                    trainable_bias=trainable_bias,
                    trainable_gain=trainable_gain,
                    du=p.du,
                    dv=p.dv,
                    vth=p.vth,
                    reset=p.reset,
                    surrogate=surrogate,
                    alpha=alpha,
                    detach_reset=detach_reset,
                    delay=ls.delay,
                    dtype=dtype,
                    device=device,
                )
            )
            n_prev = ls.n
        readout = None
        if spec.readout is not None:
            readout = Readout.from_spec(
                spec.readout, dtype=dtype, device=device, trainable_weight=trainable_weight
            )
        return cls(layers, readout=readout, input=spec.input)

    def to_spec(self, k: int | None = None) -> NetworkSpec:
        """The floating-point :class:`~lava_nt.network.NetworkSpec` of this network (numpy
        float64 copies: weights, biases, gains, decays, thresholds, reset modes, spiking-bias
        ``W_in`` (masked), masks, ``w_b``, ``c_retention`` (clamped to [0, 1]), groups). With
        batched parameters pick set ``k``. Synaptic delays are copied as they are."""
        layers = []
        for idx, layer in enumerate(self.layers):
            cell = layer.neuron
            bias, gain = cell.bias, cell.gain
            if cell.k is not None or (layer.spiking_bias is not None and layer.spiking_bias.k):
                if k is None:
                    raise ParameterError(
                        f"NTNetwork.to_spec: layer {idx} has batched (k) parameters; pass k="
                    )
            if bias.dim() == 3:
                bias = bias[k, 0]
            if gain.dim() == 3:
                gain = gain[k, 0]
            neuron = NTLIFParameters(
                du=_decay(cell.du),
                dv=_decay(cell.dv),
                vth=float(cell.vth),
                bias=to_numpy(bias),
                gain=to_numpy(gain),
                reset_subtract=cell.reset_subtract,
            )
            sbs = None
            sb = layer.spiking_bias
            if sb is not None:
                sbs = SpikingBiasSpec(
                    w_in=to_numpy(sb.effective_w_in()),
                    params=sb.to_parameters(k if sb.k is not None else None),
                    mask=None if sb.mask is None else sb.mask.cpu().numpy().copy(),
                )
            delay = None if layer.delay is None else layer.delay.cpu().numpy().astype(np.int64)
            layers.append(
                LayerSpec(
                    weight=to_numpy(layer.linear.weight),
                    neuron=neuron,
                    spiking_bias=sbs,
                    delay=delay,
                )  # fmt: skip
            )
        readout = self.readout.to_spec() if self.readout is not None else None
        return NetworkSpec(
            n_in=self.n_in, layers=layers, fixed=False, readout=readout, input=self.input
        )

    def trainable_summary(self) -> dict[str, int]:
        """Number of trainable values per kind (masked ``W_in`` entries not counted)."""
        out = {"weight": 0, "bias": 0, "gain": 0, "w_in": 0, "w_b": 0, "c_retention": 0}
        for layer in self.layers:
            if layer.linear.weight.requires_grad:
                out["weight"] += layer.linear.weight.numel()
            for name in ("bias", "gain"):
                if is_trainable(layer.neuron, name):
                    out[name] += getattr(layer.neuron, name).numel()
            sb = layer.spiking_bias
            if sb is not None:
                out["w_in"] += sb.n_trainable_w_in
                for name in ("w_b", "c_retention"):
                    if is_trainable(sb, name):
                        out[name] += getattr(sb, name).numel()
        out["total"] = sum(out.values())
        return out

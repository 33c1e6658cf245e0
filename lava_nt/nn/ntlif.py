"""NTLIF as Norse cells: the bias-modulated LIF neuron with surrogate gradients.

The dynamics are *not* re-implemented here: every step calls
:func:`lava_nt.spec.ntlif.ntlif_step` (the one definition) with a surrogate spike function::

    u[t] = (1 - du) * u[t-1] + a[t]
    v[t] = (1 - dv) * v[t-1] + g * (u[t] + b) + c[t]
    s[t] = v[t] > vth                                   (strict; surrogate gradient in backward)
    v[t] = 0  (reset="zero")  |  v[t] - vth  (reset="subtract")   where s[t]

``a`` is the synaptic input (``W · s_in``), ``c`` an optional graded bias current (spiking bias
neurons), ``b`` the per-neuron bias and ``g`` the per-neuron gain. Time is discrete: one call is
one tick (Norse's ``dt`` is kept for API compatibility and ignored).

Norse style: a pure step function over NamedTuple parameters/state
(:func:`ntlif_feed_forward_step`), wrapped by :class:`NTLIFCell` (a
``norse.torch.module.snn.SNNCell``) whose ``forward(x, state=None, c=None)`` returns
``(z, state)``. Unlike Norse's own cells, the bias and gain are real ``nn.Parameter`` s (or buffers
when frozen) and ``du``/``dv``/``vth`` are buffers, so ``parameters()``, ``state_dict()``,
``.double()`` and ``.to()`` all see them; ``p`` is rebuilt from them on every call. The initial
state is zeros *without* ``requires_grad`` (Norse's ``initial_state`` sets it, which breaks
``torch.compile`` graphs). :class:`NTLIF` runs a whole ``[T, ..., n]`` sequence.

Bias and gain are shaped ``(n,)`` by default; with ``k=K`` (or ``param_shape=(K, 1, n)``) they
hold K independent parameter sets that act on inputs laid out ``[K, B, n]`` (batched
personalisation: K subjects tuned in one pass, gradients identical to K separate runs).
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

# Norse 1.1 decorates its kernels with torch.jit.script at import, and torch >= 2.9 warns that
# torch.jit.script is deprecated (a FutureWarning meant for Norse, not for lava-nt's users):
# silenced for this import only, by its exact message.
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message="`torch.jit.script` is deprecated", category=FutureWarning
    )
    from norse.torch.module.snn import SNNCell

from lava_nt.nn._util import (
    as_tensor,
    is_trainable,
    param_shape_of,
    reject_unknown,
    resolve_dtype,
    resolve_param_shape,
    set_tensor,
)
from lava_nt.nn.surrogate import DEFAULT_ALPHA, DEFAULT_SURROGATE, make_spike_fn
from lava_nt.spec.ntlif import NTLIFParameters, NTLIFState, ntlif_parameters, ntlif_step

__all__ = ["NTLIF", "NTLIFCell", "NTLIFParameters", "NTLIFState", "ntlif_feed_forward_step"]

_CELL_ARGS = (
    "du", "dv", "vth", "reset", "bias", "gain", "trainable_bias", "trainable_gain", "surrogate",
    "alpha", "k", "param_shape", "detach_reset", "dtype", "device",
)  # fmt: skip


def ntlif_feed_forward_step(
    input_tensor: torch.Tensor,
    state: NTLIFState,
    p: NTLIFParameters,
    dt: float = 1.0,
    c: Any = None,
    spike_fn=None,
    detach_reset: bool = True,
) -> tuple[torch.Tensor, NTLIFState]:
    """Norse-signature activation ``(input, state, p, dt) -> (z, state)`` of one NTLIF step.

    Delegates to :func:`lava_nt.spec.ntlif.ntlif_step` with ``a = input_tensor`` and ``c``
    (0 if None). ``dt`` is ignored (one call = one tick). ``spike_fn`` defaults to the SuperSpike
    surrogate with :data:`~lava_nt.nn.surrogate.DEFAULT_ALPHA`.
    """
    if spike_fn is None:
        spike_fn = make_spike_fn(DEFAULT_SURROGATE, DEFAULT_ALPHA)
    return ntlif_step(input_tensor, 0.0 if c is None else c, state, p, spike_fn, detach_reset)


class NTLIFCell(SNNCell):
    """One NTLIF layer of ``n`` neurons, one time step per call (see the module docstring).

    Args:
        n: number of neurons.
        du, dv: current and voltage decay in [0, 1]: a scalar (one per layer) or one value per
            neuron (shape ``(n,)``); ``du = 1``: no current state.
        vth: threshold > 0 (one per layer).
        reset: ``"zero"`` or ``"subtract"``.
        bias: additive bias (scalar, ``(n,)`` or ``[K, 1, n]``); ``None`` = no bias (zeros).
        gain: multiplicative gain (same shapes), default 1.
        trainable_bias: register ``bias`` as an ``nn.Parameter`` (default: True unless
            ``bias is None``); otherwise it is a buffer.
        trainable_gain: register ``gain`` as an ``nn.Parameter`` (default False).
        surrogate: surrogate name for :func:`~lava_nt.nn.surrogate.make_spike_fn` or a callable.
        alpha: surrogate slope.
        k / param_shape: store bias and gain as ``(k, 1, n)`` / ``param_shape``.
        detach_reset: stop the gradient through the reset (forward unaffected).
        dtype, device: of the parameters and buffers (default: torch's default dtype).

    Misspelt or out-of-range arguments raise :class:`~lava_nt.spec.validation.ParameterError`.
    """

    def __init__(
        self,
        n: int,
        du: float = 1.0,
        dv: float = 0.0,
        vth: float = 1.0,
        reset: str = "zero",
        bias: Any = None,
        gain: Any = 1.0,
        trainable_bias: bool | None = None,
        trainable_gain: bool = False,
        surrogate: Any = DEFAULT_SURROGATE,
        alpha: float = DEFAULT_ALPHA,
        k: int | None = None,
        param_shape: tuple[int, ...] | None = None,
        detach_reset: bool = True,
        dtype: torch.dtype | None = None,
        device: Any = None,
        **unknown,
    ):
        where = type(self).__name__
        reject_unknown(unknown, _CELL_ARGS, where)
        super().__init__(ntlif_feed_forward_step, self.initial_state, p=None, dt=1.0)
        b0 = 0.0 if bias is None else bias
        checked = ntlif_parameters(
            n, where, du=du, dv=dv, vth=vth, reset=reset, bias=b0, gain=gain
        )  # raises ParameterError on a wrong name, range or shape
        self.n = int(n)
        dtype = resolve_dtype(dtype)
        shape = resolve_param_shape(self.n, k, param_shape, where)
        if trainable_bias is None:
            trainable_bias = bias is not None
        self.reset_subtract = bool(checked.reset_subtract)
        self.detach_reset = bool(detach_reset)
        self.surrogate = surrogate
        self.alpha = alpha
        self.spike_fn = make_spike_fn(surrogate, alpha)
        for name, val in (("du", du), ("dv", dv), ("vth", vth)):
            self.register_buffer(name, as_tensor(val, dtype, device))
        set_tensor(
            self,
            "bias",
            as_tensor(b0, dtype, device, param_shape_of(b0, self.n, shape)),
            bool(trainable_bias),
        )
        set_tensor(
            self,
            "gain",
            as_tensor(gain, dtype, device, param_shape_of(gain, self.n, shape)),
            bool(trainable_gain),
        )

    # ---- Norse plumbing -------------------------------------------------------------------
    @property
    def p(self) -> NTLIFParameters:
        """The current :class:`NTLIFParameters` (rebuilt from the registered tensors)."""
        return self.neuron_parameters()

    @p.setter
    def p(self, value):  # SNNCell.__init__ assigns p=None; the parameters live in tensors
        if value is not None:
            raise AttributeError("NTLIFCell.p is derived from bias/gain/du/dv/vth; set those")

    def neuron_parameters(self) -> NTLIFParameters:
        return NTLIFParameters(
            du=self.du,
            dv=self.dv,
            vth=self.vth,
            bias=self.bias,
            gain=self.gain,
            reset_subtract=self.reset_subtract,
        )

    @property
    def reset(self) -> str:
        return "subtract" if self.reset_subtract else "zero"

    @property
    def k(self) -> int | None:
        """Number of batched parameter sets (None for plain ``(n,)`` parameters)."""
        for t in (self.bias, self.gain):
            if t.dim() == 3:
                return int(t.shape[0])
        return None

    def initial_state(self, input_tensor: torch.Tensor) -> NTLIFState:
        """Fresh zero state broadcast over the input and parameter shapes (no requires_grad)."""
        shape = torch.broadcast_shapes(input_tensor.shape, self.bias.shape, self.gain.shape)
        dtype = torch.promote_types(input_tensor.dtype, self.vth.dtype)
        z = torch.zeros(shape, dtype=dtype, device=input_tensor.device)
        return NTLIFState(u=z, v=z)

    def forward(self, input_tensor: torch.Tensor, state: NTLIFState | None = None, c=None):
        """One step: ``(z, new_state)`` for synaptic input ``a = input_tensor`` ``[..., n]`` and
        optional bias current ``c`` (same shape). ``state=None`` starts from zeros."""
        if state is None:
            state = self.initial_state(input_tensor)
        return self.activation(
            input_tensor,
            state,
            self.neuron_parameters(),
            self.dt,
            c=c,
            spike_fn=self.spike_fn,
            detach_reset=self.detach_reset,
        )

    # ---- tuning helpers -------------------------------------------------------------------
    def set_trainable(self, bias: bool | None = None, gain: bool | None = None) -> NTLIFCell:
        """Turn bias / gain into trainable ``nn.Parameter`` s or frozen buffers (values kept).
        Re-create optimizers afterwards."""
        if bias is not None:
            set_tensor(self, "bias", self.bias, bool(bias))
        if gain is not None:
            set_tensor(self, "gain", self.gain, bool(gain))
        return self

    def expand_parameters(self, k: int) -> NTLIFCell:
        """Copy ``(n,)`` bias and gain into ``k`` independent sets ``(k, 1, n)`` (batched
        personalisation; trainability kept). Re-create optimizers afterwards."""
        shape = resolve_param_shape(self.n, k, None, type(self).__name__)
        for name in ("bias", "gain"):
            t = getattr(self, name)
            set_tensor(self, name, t.expand(shape).clone(), is_trainable(self, name))
        return self

    def extra_repr(self) -> str:
        bias = "trainable" if is_trainable(self, "bias") else "frozen"
        gain = "trainable" if is_trainable(self, "gain") else "frozen"
        return (
            f"n={self.n}, du={_decay_repr(self.du)}, dv={_decay_repr(self.dv)}, "
            f"vth={float(self.vth):g}, "
            f"reset={self.reset}, bias={bias}{tuple(self.bias.shape)}, "
            f"gain={gain}{tuple(self.gain.shape)}, surrogate={self.surrogate!r}, alpha={self.alpha}"
        )


def _decay_repr(t: torch.Tensor) -> str:
    """``0.5`` for one decay per layer, ``per-neuron(n)`` for one per neuron."""
    return f"{float(t):g}" if t.numel() == 1 else f"per-neuron({t.numel()})"


class NTLIF(NTLIFCell):
    """:class:`NTLIFCell` over a whole sequence: ``forward(x [T, ..., n], state=None, c=None)``
    loops over dim 0 and returns ``(z [T, ..., n], final_state)``. ``c`` is ``None`` or
    ``[T, ..., n]``. Same constructor and parameter names as :class:`NTLIFCell`."""

    def step(self, input_tensor, state=None, c=None):
        """One tick (the :class:`NTLIFCell` forward)."""
        return NTLIFCell.forward(self, input_tensor, state, c)

    def forward(self, input_tensor: torch.Tensor, state: NTLIFState | None = None, c=None):
        if state is None:
            state = self.initial_state(input_tensor[0])
        p = self.neuron_parameters()
        outputs = []
        for t in range(input_tensor.shape[0]):
            z, state = self.activation(
                input_tensor[t],
                state,
                p,
                self.dt,
                c=None if c is None else c[t],
                spike_fn=self.spike_fn,
                detach_reset=self.detach_reset,
            )
            outputs.append(z)
        return torch.stack(outputs), state

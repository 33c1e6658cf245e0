"""Abstracted gradients (Rogers, Yu et al. 2024, the thesis' chapter 3): the backward pass skips
a block of layers through one matrix ``M``.

A block of consecutive layers ``i+1 .. j`` keeps its forward pass. In the backward pass the
gradient reaching the block's output, ``G_out [..., d_j]``, goes to the block's input as::

    G_in = G_out @ M^T            ([..., d_i]; the paper's eq. 1, G_i M = G_j, row-major)

instead of through the block's own backward, and the block's own parameters still get their
ordinary gradient from ``G_out`` (the paper: "the layers abstracted by M are still updated using
backpropagation"): both paths update from the same step. :func:`bridge` joins the two with one
:class:`torch.autograd.Function` whose forward returns the block output (computed from the
*detached* block input) and whose backward returns ``G_out @ M^T`` for the input and ``G_out``
for the block output.

The matrix (``MATRICES``):

* ``"derived"`` (eq. 5): with the batch's block inputs ``L_i [B, d_i]`` and outputs
  ``L_j [B, d_j]`` (rows are samples), ``M = pinv(L_i) @ L_j [d_i, d_j]``, the minimum-norm
  least-squares solution of ``L_i M = L_j``. It is recomputed every batch from the forward
  values and never differentiated through. ``torch.linalg.pinv`` (an SVD) rather than
  ``torch.linalg.lstsq``: it gives the minimum-norm solution also when ``L_i`` is rank deficient
  (a batch smaller than ``d_i``, dead units, neurons that never spike, duplicate samples), on
  every device (``lstsq`` on CUDA has only the full-rank ``gels`` driver, and its CPU default
  ``gelsy`` returns a basic rather than the minimum-norm solution); singular values below
  ``max(B, d_i) * eps * s_max`` count as zero. For a piecewise-linear block without biases
  ``L_j = (dL_j/dL_i) L_i`` for every sample, so when the whole batch shares one linear region
  ``M^T`` is exactly the Jacobian (tests prove it).
* ``"identity"`` (section 3.4, the block identity ``[I 0]``): ``M^T = [I 0] (d_j x d_i)``, i.e.
  ``G_in`` is ``G_out`` zero-padded to ``d_i`` when ``d_i > d_j`` and truncated to its first
  ``d_i`` entries when ``d_i < d_j``; ``M = I`` when the widths agree. No matrix is built.

Spiking layers (:class:`~lava_nt.nn.network.NTNetwork`): a layer's output is a spike train
``[T, B, d]``. ``L`` is the spike count over the ``T`` steps (``[B, d]``: the rate-level map of
the block, which for a block that acts linearly on rates is what eq. 3 asks of ``M``), and the
one ``M`` is applied at every step: ``G_in[t] = G_out[t] @ M^T``. ``M`` does not depend on
whether counts or rates are used (a common scale cancels in ``pinv(c L_i) c L_j``).

:class:`AbstractedNetwork` runs an ``NTNetwork`` (or a
:class:`~lava_nt.nn.fused.FusedNTNetwork`) with blocks abstracted: the network is split at the
block boundaries into consecutive segments that share the network's layers (no copy), each run
as the model runs (the fused path stays fused: a segment is a ``FusedNTNetwork`` of its layers,
whose hand-written backward then starts at the segment's input), and each block's output is
joined to its input by :func:`bridge`. The trainer uses it for the training steps when
:class:`~lava_nt.training.TrainConfig` has ``abstract`` blocks; evaluation runs the plain
network (the forward pass is the same).

Blocks are ``(first, last)`` pairs of 0-based layer indices, inclusive (``(1, 3)`` abstracts
layers 1, 2 and 3: the block's input is layer 0's output). A block must start at layer 1 or
later (a block that starts at the network's input has nothing before it for ``M`` to reach),
end at the last layer at the latest, and blocks may not overlap.
"""

from __future__ import annotations

import torch

from lava_nt.spec.validation import ParameterError

__all__ = [
    "MATRICES",
    "AbstractedNetwork",
    "abstract_block",
    "block_matrix",
    "bridge",
    "check_blocks",
    "derived_matrix",
    "identity_matrix",
]

MATRICES = ("derived", "identity")


def _is_index(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_blocks(blocks, n_layers: int | None = None, where: str = "abstract") -> tuple:
    """``blocks`` as a sorted tuple of ``(first, last)`` int pairs, validated.

    Each block is two 0-based layer indices, ``1 <= first <= last`` (and ``last < n_layers`` when
    the network's layer count is given); blocks may not overlap.

    Raises:
        ParameterError: naming the block and what is wrong with it.
    """
    if isinstance(blocks, str | bytes) or not hasattr(blocks, "__iter__"):
        raise ParameterError(
            f"{where}: expected a list of (first, last) layer blocks, got {blocks!r}"
        )
    out = []
    for b in blocks:
        pair = tuple(b) if isinstance(b, list | tuple) else None
        if pair is None or len(pair) != 2 or not all(_is_index(v) for v in pair):
            raise ParameterError(
                f"{where}: a block is a pair of layer indices (first, last), got {b!r}"
            )
        first, last = pair
        if first < 1:
            raise ParameterError(
                f"{where}: block ({first}, {last}) starts at layer {first}; a block must start at "
                "layer 1 or later (the gradient through M must reach a layer before the block)"
            )
        if last < first:
            raise ParameterError(
                f"{where}: block ({first}, {last}) ends before it starts (first <= last)"
            )
        if n_layers is not None and last >= n_layers:
            raise ParameterError(
                f"{where}: block ({first}, {last}) ends at layer {last}, but the network has "
                f"{n_layers} layers (0..{n_layers - 1})"
            )
        out.append((first, last))
    out.sort()
    for (f0, l0), (f1, l1) in zip(out, out[1:], strict=False):
        if f1 <= l0:
            raise ParameterError(f"{where}: blocks ({f0}, {l0}) and ({f1}, {l1}) overlap")
    return tuple(out)


def check_matrix(matrix, where: str = "abstract_matrix") -> str:
    if matrix not in MATRICES:
        raise ParameterError(f"{where}: must be one of {', '.join(MATRICES)}, got {matrix!r}")
    return matrix


def derived_matrix(l_in: torch.Tensor, l_out: torch.Tensor) -> torch.Tensor:
    """Eq. 5: ``M = pinv(L_in) @ L_out`` ``[d_i, d_j]``, the minimum-norm least-squares solution
    of ``L_in M = L_out`` (rows are the batch's samples; no gradient is kept)."""
    if l_in.ndim != 2 or l_out.ndim != 2 or l_in.shape[0] != l_out.shape[0]:
        raise ParameterError(
            "derived_matrix: L_in [B, d_i] and L_out [B, d_j] need the same rows, got "
            f"{tuple(l_in.shape)} and {tuple(l_out.shape)}"
        )
    with torch.no_grad():
        return torch.linalg.pinv(l_in.detach()) @ l_out.detach().to(l_in.dtype)


def identity_matrix(d_in: int, d_out: int, dtype=None, device=None) -> torch.Tensor:
    """The block identity ``M [d_in, d_out]`` with ``M^T = [I 0]`` (``M = I`` when square)."""
    return torch.eye(d_in, d_out, dtype=dtype, device=device)


def _samples(x: torch.Tensor) -> torch.Tensor:
    """``L [B, d]`` of a layer output: a ``[B, d]`` activation as it is, a spike train
    ``[T, B, d]`` as its counts over the steps."""
    if x.ndim == 2:
        return x
    if x.ndim == 3:
        return x.sum(0)
    raise ParameterError(
        f"abstracted gradients: a block's input and output must be [B, d] or [T, B, d], got "
        f"{tuple(x.shape)} (batched parameter sets [T, K, B, d] are not supported)"
    )


def block_matrix(x: torch.Tensor, y: torch.Tensor, matrix: str) -> torch.Tensor | None:
    """``M`` of one batch: :func:`derived_matrix` of the block input ``x`` and output ``y``
    (spike counts for ``[T, B, d]`` trains), or None for ``"identity"`` (:func:`bridge` then pads
    or truncates)."""
    check_matrix(matrix)
    if matrix == "identity":
        return None
    return derived_matrix(_samples(x), _samples(y))


def _pad_or_truncate(g: torch.Tensor, d_in: int) -> torch.Tensor:
    """``g @ [I 0]`` for ``M^T = [I 0] (d_out x d_in)``: zero-pad or truncate the last dim."""
    d_out = g.shape[-1]
    if d_out >= d_in:
        return g[..., :d_in].contiguous()
    return torch.nn.functional.pad(g, (0, d_in - d_out))


class _Bridge(torch.autograd.Function):
    """forward: the block output; backward: ``G_out @ M^T`` to the input, ``G_out`` to the
    block output."""

    @staticmethod
    def forward(ctx, x, y, m):
        ctx.d_in = x.shape[-1]
        ctx.save_for_backward(m if m is not None else torch.empty(0))
        ctx.identity = m is None
        return y.view_as(y)

    @staticmethod
    def backward(ctx, g):
        (m,) = ctx.saved_tensors
        g_in = None
        if ctx.needs_input_grad[0]:
            g_in = _pad_or_truncate(g, ctx.d_in) if ctx.identity else g @ m.to(g.dtype).T
        return g_in, g, None


def bridge(x: torch.Tensor, y: torch.Tensor, m: torch.Tensor | None) -> torch.Tensor:
    """Join a block's input ``x [..., d_i]`` and its output ``y [..., d_j]`` (computed from
    ``x.detach()``): returns ``y``; its gradient ``G`` goes to ``y`` unchanged and to ``x`` as
    ``G @ m^T`` (``m [d_i, d_j]``), or zero-padded / truncated to ``d_i`` for ``m=None``
    (``M^T = [I 0]``)."""
    if x.shape[:-1] != y.shape[:-1]:
        raise ParameterError(
            f"bridge: block input {tuple(x.shape)} and output {tuple(y.shape)} must agree in "
            "every dimension but the last"
        )
    if m is not None and tuple(m.shape) != (x.shape[-1], y.shape[-1]):
        raise ParameterError(
            f"bridge: M must be [{x.shape[-1]}, {y.shape[-1]}] (d_in x d_out), got {tuple(m.shape)}"
        )
    return _Bridge.apply(x, y, None if m is None else m.detach())


def abstract_block(x: torch.Tensor, block, matrix: str = "derived") -> torch.Tensor:
    """``block(x)`` with its gradient to ``x`` abstracted: the block runs on ``x.detach()``,
    ``M`` is :func:`block_matrix` of the batch, and :func:`bridge` joins the two."""
    y = block(x.detach())
    return bridge(x, y, block_matrix(x.detach(), y.detach(), matrix))


def _segments(n_layers: int, blocks: tuple) -> list[tuple[int, int, bool]]:
    """``(start, stop, is_block)`` covering layers ``0 .. n_layers - 1`` in order."""
    out, at = [], 0
    for first, last in blocks:
        if at < first:
            out.append((at, first, False))
        out.append((first, last + 1, True))
        at = last + 1
    if at < n_layers:
        out.append((at, n_layers, False))
    return out


class AbstractedNetwork(torch.nn.Module):
    """An ``NTNetwork`` or ``FusedNTNetwork`` run with layer blocks abstracted (module docstring):
    the same forward values, ``forward(x [T, B, n_in], record=False)`` and
    ``forward_static(x [B, n_in], T, record=False)`` with the network's return values. A block's
    last layer is recorded as the bridged output, so every gradient that reaches it (the loss's
    and the spike-rate penalty's) crosses the block through ``M``. Shares the network's
    parameters (``self.net``).

    Raises:
        ParameterError: not an (optionally fused) ``NTNetwork``, bad blocks or matrix, or a
            network with batched (per-person) parameters.
    """

    def __init__(self, model, blocks, matrix: str = "derived"):
        super().__init__()
        from lava_nt.nn.fused import FusedNTNetwork  # lazy: nn.fused pulls ctypes/libc setup
        from lava_nt.nn.network import NTNetwork  # lazy: keeps lava_nt.training light

        fused = isinstance(model, FusedNTNetwork)
        net = model.net if fused else model
        if not isinstance(net, NTNetwork):
            raise ParameterError(
                "abstracted gradients: the model must be an NTNetwork or a FusedNTNetwork, got "
                f"{type(model).__name__}"
            )
        for k, layer in enumerate(net.layers):
            if layer.neuron.k is not None or getattr(layer.spiking_bias, "k", None):
                raise ParameterError(
                    f"abstracted gradients: layer {k} has batched (per-person) parameters, "
                    "which are not supported"
                )
        self.blocks = check_blocks(blocks, len(net.layers), "abstracted gradients")
        if not self.blocks:
            raise ParameterError("abstracted gradients: no block given")
        self.matrix = check_matrix(matrix, "abstracted gradients: matrix")
        self.net = net
        self.fused = fused
        parts = []
        for start, stop, is_block in _segments(len(net.layers), self.blocks):
            seg = NTNetwork(list(net.layers[start:stop]), input=net.input if start == 0 else
                            "spikes")  # fmt: skip
            parts.append((FusedNTNetwork(seg) if fused else seg, is_block))
        self._parts = parts  # a plain list: the segments' modules are the network's own
        if hasattr(model, "n_classes"):
            self.n_classes = model.n_classes

    @property
    def n_in(self) -> int:
        return self.net.n_in

    @property
    def readout(self):
        return self.net.readout

    @property
    def input(self) -> str:
        return self.net.input

    def forward(self, x: torch.Tensor, record: bool = False):
        """``x [T, B, n_in]`` -> output ``[T, B, n_out]`` (and the per-layer records)."""
        return self._run(x, None, record)

    def forward_static(self, x: torch.Tensor, T: int, record: bool = False):
        """A static input ``x [B, n_in]`` held for ``T`` steps."""
        return self._run(x, T, record)

    def _run(self, x, T, record):
        s, recs = x, []
        for k, (seg, is_block) in enumerate(self._parts):
            inp = s.detach() if is_block else s
            if k == 0 and T is not None:
                y, rec = seg.forward_static(inp, T, record=True)
            else:
                y, rec = seg(inp, record=True)
            if is_block:  # s: the block's input (the previous segment's output)
                y = bridge(s, y, block_matrix(inp, y.detach(), self.matrix))
                rec = [*rec[:-1], {**rec[-1], "spikes": y}]
            s = y
            recs.extend(rec)
        if self.net.readout is not None:
            s = self.net.readout(s)
        return (s, recs) if record else s

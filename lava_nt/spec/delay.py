"""Synaptic delays of a layer: the one definition (numpy and torch, operators and slicing only).

A layer may carry an integer delay matrix ``D`` (``LayerSpec.delay``, shape ``(n, n_prev)`` like
its weight, values ``0 .. DELAY_MAX``). Its synaptic input is then::

    I_j(t) = sum_i W_ji * x_i(t - D_ji)          x_i(t) = 0 for t < 0

    I_j(t)  current into neuron j at step t (the ``a`` of the NTLIF step)
    W_ji    weight from input i to neuron j
    x_i(t)  input i at step t (a spike of the layer below, or a graded input value)
    D_ji    delay of that synapse in steps (0 = no delay)

Timing: in lava-nt's torch time frame a layer without delay uses ``x(t)`` at step ``t`` (Lava's
``Dense`` adds one step, which the engines map away, see docs/engines.md). Lava's ``DelayDense``
delivers ``x(t)`` over a synapse of delay ``d`` at Lava step ``t + 1 + d``: one step later than
``Dense`` per unit of delay, and exactly ``Dense``'s timing for ``d = 0``. So ``D = 0`` everywhere
is a layer without delay, and a layer's output spikes keep the frame of the layer without delay.
Every sample starts with empty delay lines (nothing from before ``t = 0``, nothing from the
previous sample).

Accumulation order (what makes the engines equal to Lava's ``DelayDense`` models):

* floating point: the synapses are grouped by delay value; a group's current
  ``g_d(t) = sum_{i: D_ji = d} W_ji x_i(t)`` is added into the delay line, and the line adds the
  groups from the largest delay down to 0: ``I(t) = ((0 + g_M(t - M)) + ...) + g_0(t)``;
* fixed point: each group's accumulation is scaled by the weight exponent on its own before it
  enters the line (Lava's bit-accurate ``DelayDense`` shifts ``calc_act`` per delay column)::

      a_j(t) = sum_d dense_fixed_output(sum_{i: D_ji = d} W_eff_ji x_i(t - d), weight_exp)

  with ``W_eff = dense_effective_weights(W)`` taken over the whole matrix (Lava's sign mode,
  clip and truncation see all weights). With a negative exponent (an arithmetic right shift)
  this differs from shifting the total.

``DELAY_MAX = 62``: Loihi 2 stores 6-bit delays (0..63); lava-dl's netx loader clamps larger
delays to 62 (with a warning) and builds every ``DelayDense`` with ``max_delay = 62``.
"""

from __future__ import annotations

import numpy as np

from lava_nt.spec.validation import ParameterError

__all__ = [
    "DELAY_MAX",
    "check_delay",
    "delay_groups",
    "delayed_input",
    "expand_delay",
    "has_delay",
    "max_delay",
]

#: Largest synaptic delay in steps (lava-dl's clamp; Loihi 2's 6-bit field holds 0..63).
DELAY_MAX = 62


def check_delay(delay, n: int, n_prev: int, where: str) -> np.ndarray | None:
    """``delay`` as an int64 ``(n, n_prev)`` matrix of values in ``0..DELAY_MAX`` (None stays None).

    Only the full matrix is accepted here; per-neuron, per-input and scalar delays become one
    with :func:`expand_delay`."""
    if delay is None:
        return None
    if hasattr(delay, "detach"):
        delay = delay.detach().cpu().numpy()
    d = np.asarray(delay)
    if d.shape != (n, n_prev):
        raise ParameterError(
            f"{where}: 'delay' must have the weight's shape ({n}, {n_prev}), got {d.shape} "
            "(expand per-neuron, per-input or scalar delays with "
            "lava_nt.spec.delay.expand_delay)"
        )
    if not (d.dtype == np.bool_ or np.issubdtype(d.dtype, np.number)) or np.iscomplexobj(d):
        raise ParameterError(f"{where}: 'delay' must hold integers, got dtype {d.dtype}")
    df = d.astype(np.float64)
    if not np.all(np.isfinite(df)) or np.any(df != np.round(df)):
        raise ParameterError(f"{where}: 'delay' must hold whole numbers of steps")
    if d.size and (df.min() < 0 or df.max() > DELAY_MAX):
        raise ParameterError(
            f"{where}: 'delay' values must be in 0..{DELAY_MAX} steps, got "
            f"[{int(df.min())}, {int(df.max())}]"
        )
    return df.astype(np.int64)


def expand_delay(delay, n: int, n_prev: int, where: str) -> np.ndarray:
    """A scalar, per-neuron ``(n,)``, per-input ``(n_prev,)`` or full ``(n, n_prev)`` delay as the
    full matrix, by lava-dl's rule (``lava/lib/dl/netx/hdf5.py``): a vector of ``n`` values is
    one delay per output neuron (``D[j, :] = d_j``, checked first, so it wins when
    ``n == n_prev``), a vector of ``n_prev`` values one per input (``D[:, i] = d_i``). Values are
    checked by :func:`check_delay` (no clamping: the netx importer clamps and says so)."""
    d = np.asarray(delay.detach().cpu().numpy() if hasattr(delay, "detach") else delay)
    if d.size == 1 and d.ndim <= 1:
        d = np.full((n, n_prev), d.reshape(-1)[0])
    elif d.ndim == 1 and d.size == n:
        d = np.repeat(d.reshape(-1, 1), n_prev, axis=1)
    elif d.ndim == 1 and d.size == n_prev:
        d = np.repeat(d.reshape(1, -1), n, axis=0)
    elif d.shape != (n, n_prev):
        raise ParameterError(
            f"{where}: a delay of shape {d.shape} fits neither {n} neurons, {n_prev} inputs nor "
            f"the weight ({n}, {n_prev})"
        )
    return check_delay(d, n, n_prev, where)


def has_delay(delay) -> bool:
    """True if ``delay`` (a matrix or None) delays any synapse."""
    return delay is not None and bool(np.any(np.asarray(delay) != 0))


def max_delay(delay) -> int:
    """The largest delay in steps (0 for None)."""
    return 0 if delay is None or np.asarray(delay).size == 0 else int(np.max(delay))


def delay_groups(delay) -> list[tuple[int, np.ndarray]]:
    """``[(d, mask)]``: every delay value ``d`` present in the matrix with the boolean mask of its
    synapses, from the largest delay down to 0 (the order in which the delay line adds them)."""
    d = np.asarray(delay)
    return [(int(v), d == v) for v in sorted(np.unique(d).tolist(), reverse=True)]


def _shift(x, d: int):
    """``x [T, ...]`` delayed by ``d`` steps (zeros first), numpy or torch."""
    if d == 0:
        return x
    head = x[:d] * 0
    if hasattr(x, "detach"):
        import torch  # lazy: the spec stays importable without torch

        return torch.cat([head, x[: x.shape[0] - d]])
    return np.concatenate([head, x[: x.shape[0] - d]])


def delayed_input(x, groups, project):
    """``I(t) = sum_d project(d, x(t - d))`` over ``groups`` (from :func:`delay_groups`), added
    from the largest delay down to 0, on ``x [T, ..., n_in]`` (numpy or torch).

    ``project(mask_index, x_shifted)`` returns the group's current ``[T, ..., n]`` (float: the
    masked matmul; fixed point: the masked integer matmul scaled by the exponent). Groups whose
    delay reaches past the last step add nothing (all zero if every delay is >= T)."""
    T = x.shape[0]
    total = None
    for idx, (d, _) in enumerate(groups):
        if d >= T:
            continue
        g = project(idx, _shift(x, d))
        total = g if total is None else total + g
    return project(len(groups) - 1, x * 0) if total is None else total

"""The time layout of a run: depth, window and steps, the source data, the torch frame."""

from __future__ import annotations

import numpy as np

from lava_nt.network import NetworkSpec


def network_depth(spec: NetworkSpec) -> int:
    """Dense stages from the source to the output: the layers, plus one for a readout."""
    return len(spec.layers) + (spec.readout is not None)


def schedule(T: int, B: int, depth: int, back_to_back: bool = True) -> tuple[int, int]:
    """``(window, steps)`` of a run of ``B`` samples of ``T`` steps through ``depth`` layers.

    Back to back (run_network): ``window = T`` and ``depth`` drain steps after the last sample,
    ``steps = B * T + depth``; this needs every layer to reset at its own offset. Otherwise
    (lava-dl's netx network, whose layers share one reset offset): every sample has its own
    window ``T + depth`` that ends with ``depth`` zero steps, ``steps = B * (T + depth)``."""
    if back_to_back:
        return T, B * T + depth
    return T + depth, B * (T + depth)


def source_data(x: np.ndarray, depth: int, back_to_back: bool = True) -> np.ndarray:
    """RingBuffer data ``[n_in, steps]`` for :func:`schedule`'s layout: the samples back to back
    and ``depth`` zero steps at the end, or each sample followed by ``depth`` zero steps."""
    T, B, n_in = x.shape
    L, steps = schedule(T, B, depth, back_to_back)
    data = np.zeros((B, L, n_in))
    data[:, :T] = np.transpose(x, (1, 0, 2))
    data = data.reshape(B * L, n_in)
    if back_to_back:
        data = np.concatenate([data, np.zeros((depth, n_in))])
    assert data.shape[0] == steps
    return data.T.copy()


def to_torch_frame(record: np.ndarray, k: int, T: int, B: int, L: int) -> np.ndarray:
    """Lava-order record ``[steps, size]`` of layer ``k`` (1-based) -> ``[T, B, size]``."""
    idx = np.arange(B)[None, :] * L + np.arange(T)[:, None] + k
    return record[idx]

"""How the framework that wrote a NIR graph runs it: the discrete-time reading of each node.

NIR nodes are ODEs; a simulator turns them into one update per step. lava-nt reads a graph the way
its source runs it (``source``), so that the imported network gives the source's own spikes and
readout values on the same input. Every source updates with the *current* step's input (no
one-step shift between frameworks); they differ in the step, in two input coefficients and in the
initial state:

===========  ================================================================================
source       discrete-time reading (``d = step/tau``; ``I`` the node's input this step)
===========  ================================================================================
``nir``      NIR's forward Euler at ``dt`` (the graph's ``metadata["dt"]``, else 1 ms):
             LIF ``v += d (v_leak - v + r I)``; IF ``v += dt r I``; CubaLIF
             ``i += d_syn (w_in I - i)``, then the LIF update with ``i``; LI / I like LIF / IF
             without spikes; CubaLI like CubaLIF without spikes
``snntorch`` snnTorch 1.0's ``export_to_nir`` (and ``import_from_nir``): the same Euler update at
             its hard-coded step ``dt = 1e-4`` s, which with its ``tau = dt/(1-beta)``,
             ``r = tau/dt``, ``w_in = tau_syn/dt`` *is* snnTorch's ``mem = beta mem + I`` and
             ``syn = alpha syn + I``. snnTorch computes in float32 and writes float32 values, so
             ``beta`` (``alpha``) is the float32 number nearest ``1 - dt/tau`` and the input
             gains ``d r`` (``d_syn w_in``), 1 up to float32 rounding, are exactly 1. Its exporter
             writes ``v_reset = 0`` for every reset mechanism: the graph is snnTorch's
             ``reset_mechanism="zero"`` (``Synaptic`` with ``reset_delay=False``, as snnTorch's
             own importer builds it)
``norse``    Norse 1.1's ``to_nir`` and cells: ``to_nir`` writes ``tau = export_dt/tau_inv``
             (norse #411; ``export_dt`` is the ``dt`` given to ``to_nir``, default 1e-3) and the
             cells step by ``dt`` (default 1e-3), so ``d = dt * export_dt / tau`` (the float32
             product ``dt * tau_inv`` Norse computes when the file holds float32 values).
             LIFBoxCell (LIF) and LIBoxCell (LI): ``v += d (v_leak - v + I)``; LIFCell
             (CubaLIF): the current jumps by the full input, ``i = (1 - d_syn) i + I``, and the
             voltage integrates the new current (``w_in`` multiplies the jump, ``r`` the
             current); IAFCell (IF): ``v += r I``. Norse starts every voltage at ``v_leak``
             (lava-nt at 0), so a nonzero ``v_leak`` is refused
===========  ================================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SOURCES = ("nir", "snntorch", "norse")
#: The step snnTorch 1.0's ``export_to_nir`` writes every time constant for (hard-coded).
SNNTORCH_DT = 1e-4
#: ``norse.torch.to_nir``'s default ``dt`` (the time constants it writes are ``dt / tau_inv``).
NORSE_EXPORT_DT = 1e-3
#: snnTorch's unit input gains are accepted as exactly 1 within this relative float32 rounding.
FLOAT32_RTOL = 4e-7


def _f32(x) -> np.ndarray:
    return np.asarray(x, np.float64).astype(np.float32).astype(np.float64)


def _invert_f32(forward, estimate, target, reach: int = 8) -> np.ndarray:
    """The float32 ``x`` within ``reach`` units in the last place of ``estimate`` whose float32
    ``forward(x)`` is exactly ``target``, elementwise (``estimate`` where none is). Several
    ``x`` can give the same ``target`` (float32 rounding in the source's export); then the one
    with the shortest decimal form wins (the value a user typed, such as 0.9 or 250), and among
    those the nearest to ``estimate``."""
    est = np.asarray(estimate, np.float32).reshape(-1)
    tgt = np.broadcast_to(np.asarray(target, np.float32), np.shape(estimate)).reshape(-1)
    out = est.copy()
    for i in range(est.size):
        cands = [est[i]]
        for direction in (np.inf, -np.inf):
            c = est[i]
            for _ in range(reach):
                c = np.nextafter(c, np.float32(direction), dtype=np.float32)
                cands.append(c)
        hits = [c for c in cands if np.float32(forward(np.float32(c))) == tgt[i]]
        if hits:
            out[i] = min(hits, key=lambda c: (len(str(c)), abs(float(c) - float(est[i]))))
    return out.reshape(np.shape(estimate))


def is_float32(x) -> bool:
    """Whether a NIR field was written as float32 (the source computed in float32)."""
    if hasattr(x, "detach"):  # a torch tensor in a graph held in memory
        x = x.detach().cpu().numpy()
    return np.asarray(x).dtype == np.float32


@dataclass(frozen=True)
class Convention:
    """The discrete-time reading of a graph's nodes for one ``source`` (module docstring)."""

    source: str = "nir"
    dt: float = 1e-3
    export_dt: float = 1.0

    @property
    def step(self) -> float:
        """The factor ``d = step / tau`` of a time constant (``dt``, Norse: ``dt * export_dt``)."""
        return self.dt * self.export_dt if self.source == "norse" else self.dt

    def decays(self, tau) -> np.ndarray:
        """Per-neuron decays ``step / tau`` as the source computes them."""
        t = np.asarray(tau, np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            d = self.step / t
        if not is_float32(tau) or self.source == "nir":
            return d
        t32 = np.asarray(tau, np.float32)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if self.source == "snntorch":  # tau = f32(f32(dt) / f32(1 - beta)), beta float32
                a = np.float32(self.dt)
                beta = _invert_f32(lambda b: a / (np.float32(1) - b), _f32(1.0 - d), t32)
                return 1.0 - beta.astype(np.float64)
            a = np.float32(self.export_dt)  # tau = f32(f32(export_dt) / tau_inv)
            tau_inv = _invert_f32(lambda x: a / x, _f32(a / t.astype(np.float64)), t32)
            return (np.float32(self.dt) * tau_inv).astype(np.float64)  # Norse's float32 product

    def leak_gain(self, d, r: np.ndarray, written=None) -> np.ndarray:
        """Input gain of an LIF / LI node (``v += d (v_leak - v) + gain I``) with per-neuron
        ``r``; ``written`` is the field as stored (its dtype tells float32 sources)."""
        return self._unit(d * np.asarray(r, np.float64), written)

    def if_gain(self, r) -> np.ndarray:
        """Input gain of an IF / I node (``v += gain I``): NIR ``dt r``, Norse's IAF ``r``."""
        r = np.asarray(r, np.float64)
        return r.copy() if self.source == "norse" else self.dt * r

    def jump(self, d_syn, w_in: np.ndarray, written=None) -> np.ndarray:
        """How much a CubaLIF / CubaLI current jumps per unit input (``i = (1-d_syn) i + jump
        I``): NIR ``d_syn w_in``, Norse's LIFCell ``w_in``."""
        w = np.asarray(w_in, np.float64)
        if self.source == "norse":
            return w.copy()
        return self._unit(d_syn * w, written)

    def _unit(self, gain: np.ndarray, written) -> np.ndarray:
        """snnTorch writes unit gains (``r = tau/dt``) in float32: take them as exactly 1."""
        if (
            self.source == "snntorch"
            and written is not None
            and is_float32(written)
            and np.all(np.abs(gain - 1.0) <= FLOAT32_RTOL)
        ):
            return np.ones_like(gain)
        return gain

"""The neuron group of a netx CUBA layer: its registers read and checked for lava-nt.

netx stores ``iDecay`` (Lava ``du = iDecay - 1``) and ``vDecay`` (Lava ``dv``) as one value for
the layer or one per neuron (lava-dl writes arrays for CUBA blocks trained with
``shared_param=False``, and its loader hands them to Lava's LIF as arrays); lava-nt's NTLIF takes
both. ``vThMant`` must be one value: lava-nt, like Lava's LIF process, has one threshold per
layer, so per-neuron thresholds are refused naming the layer.
"""

from __future__ import annotations

import numpy as np

from lava_nt.converters.netx.format import read_int, read_per_neuron, read_str
from lava_nt.spec.fixed import DECAY_MAX

__all__ = ["check_decays", "neuron_registers", "report_register"]


def neuron_registers(path, i: int, nrn, fail, n: int):
    """``(iDecay, vDecay, vThMant)`` of a CUBA neuron group, checked: the decays one per layer
    (int) or one per neuron (int64 ``(n,)``), the threshold one per layer."""
    try:
        ntype = read_str(nrn["type"]).upper()
    except KeyError:
        fail("neuron group has no 'type'")
    if ntype not in ("CUBA", "LOIHI"):
        fail(
            f"neuron type '{ntype}': only CUBA (LIF) neurons map to NTLIF (SDNN sigma-delta and "
            "RF resonate-and-fire neurons do not)"
        )
    if "messageBits" in nrn and read_int(nrn["messageBits"]) != 0:
        fail(
            f"graded spikes (messageBits = {read_int(nrn['messageBits'])}): NTLIF spikes are binary"
        )
    for key in ("iDecay", "vDecay", "vThMant"):
        if key not in nrn:
            fail(f"neuron group needs iDecay, vDecay and vThMant (no '{key}')")
    try:
        decays = tuple(read_per_neuron(nrn[key], n) for key in ("iDecay", "vDecay"))
    except ValueError as exc:
        fail(f"iDecay and vDecay must be scalars or one value per neuron ({exc})")
    try:
        vth = read_int(nrn["vThMant"])
    except ValueError as exc:
        fail(
            f"per-neuron thresholds (vThMant: {exc}): lava-nt, like Lava's LIF process, has one "
            "threshold per layer"
        )
    return (*decays, vth)


def check_decays(i_decay, v_decay, fail) -> None:
    """iDecay in 1..4096 and vDecay in 0..4095, elementwise (first offending value named)."""
    i_arr, v_arr = np.asarray(i_decay), np.asarray(v_decay)
    if np.any(i_arr == 0):
        fail(
            "iDecay = 0 (netx: Lava du = -1, a current that never decays); lava-nt's 12-bit du "
            "register starts at a decay of 1/4096"
        )
    bad = (i_arr < 1) | (i_arr > DECAY_MAX + 1)
    if np.any(bad):
        fail(f"iDecay = {int(i_arr[bad].ravel()[0])} outside 1..4096")
    bad = (v_arr < 0) | (v_arr > DECAY_MAX)
    if np.any(bad):
        fail(
            f"vDecay = {int(v_arr[bad].ravel()[0])} outside 0..{DECAY_MAX} (lava-nt's 12-bit dv "
            "register)"
        )


def report_register(x):
    """A decay register for the quantisation report: an int, or a list for one per neuron."""
    return int(x) if np.ndim(x) == 0 else [int(v) for v in x]

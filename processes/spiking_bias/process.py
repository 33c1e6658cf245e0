"""SpikingBias Lava Process: spiking bias neurons with a leaking bias current (and volumetric
groups), as defined once in :mod:`lava_nt.spec.spiking_bias` / :mod:`lava_nt.spec.fixed`.

``m`` bias neurons serve a target NTLIF layer of ``n`` neurons. The bias neurons get their input on
``a_in`` (shape ``(m,)``) from their own ``Dense(W_in)``, driven by the same spikes as the target
layer. The process fans the currents out to the target neurons itself and sends
``c_target[i] = C[group(i)]`` on ``c_out`` (shape ``(n,)``), which connects straight to the target
NTLIF's ``c_in``: no Dense in the bias path, so the bias path and the synaptic path into the
target have the same delay. ``s_out`` (shape ``(m,)``) carries the bias neurons' own spikes.

* floating point: ``SpikingBias(shape=(m,), n_target=n, du=1.0, dv=0.0, vth=1.0, bias=0.0,
  w_b=0.0, c_retention=0.0, group=None)`` (keywords of
  :func:`lava_nt.spec.spiking_bias.spiking_bias_parameters`; ``c_retention`` is the per-step
  retention factor of the leaking current, ``C[t] = c_retention * C[t-1] + w_b * s_b[t]``, and
  ``alpha=`` its deprecated name), ``select_tag="floating_pt"``.
* fixed point: ``SpikingBias.fixed(shape=(m,), n_target=n, du=4095, dv=0, vth=1, bias_mant=0,
  bias_exp=0, w_b_mant=0, w_b_exp=0, dc=4095, group=None)`` (keywords of
  :func:`lava_nt.spec.fixed.fixed_spiking_bias_parameters`), ``select_tag="fixed_pt"``.

``group``: None (one bias neuron per target neuron, ``m == n``), ``"contiguous"`` (blocks of
``n/m``) or an int array of shape ``(n,)``. ``reset_interval``/``reset_offset`` work as on
:class:`~lava_nt.processes.ntlif.process.NTLIF` and also zero the leaking current ``C``.

Vars: ``u``, ``v``, ``C`` (state, ``(m,)``), ``du``, ``dv``, ``vth`` (one per population),
``bias``, ``w_b``, ``c_retention`` (float, ``(m,)``), ``group`` (``(n,)``), and ``bias_mant``,
``bias_exp``, ``w_b_mant``, ``w_b_exp``, ``dc`` (fixed point, ``(m,)``). As for NTLIF both sets
exist in both precisions; the other precision's set is unused (neutral values).
"""

from __future__ import annotations

import numbers

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.variable import Var

from lava_nt._deprecation import C_RETENTION_RENAME, rename_kwargs
from lava_nt.processes._common import PrecisionProcess, per_neuron, scalar
from lava_nt.spec.fixed import (
    DECAY_MAX,
    FIXED_SPIKING_BIAS_PARAMETER_NAMES,
    fixed_spiking_bias_parameters,
)
from lava_nt.spec.spiking_bias import SPIKING_BIAS_PARAMETER_NAMES, spiking_bias_parameters
from lava_nt.spec.validation import ParameterError, check_shape

NAMES = {"float": SPIKING_BIAS_PARAMETER_NAMES, "fixed": FIXED_SPIKING_BIAS_PARAMETER_NAMES}


class SpikingBias(PrecisionProcess):
    """Spiking-bias population (see the module docstring for the API).

    Args:
        shape: ``(m,)``, the number of bias neurons.
        n_target: size ``n`` of the target layer (default ``m``).
        precision: ``"float"`` (default) or ``"fixed"``.
        reset_interval, reset_offset: per-sample state reset as NTLIF (``u``, ``v`` and ``C``).
        name, log_config: passed to Lava.
        **params: the population's parameters in the chosen precision (validated).
    """

    def __init__(
        self,
        *,
        shape,
        n_target: int | None = None,
        precision: str = "float",
        reset_interval: int | None = 0,
        reset_offset: int = 0,
        name: str | None = None,
        log_config=None,
        **params,
    ) -> None:
        if precision == "float":
            rename_kwargs(params, C_RETENTION_RENAME, "SpikingBias")
        args = self.check_arguments(
            "SpikingBias", precision, params, NAMES, shape, reset_interval, reset_offset,
            extra=("n_target",),
        )  # fmt: skip
        where, m = args.where, args.n
        if n_target is None:
            n_target = m
        if (
            isinstance(n_target, bool)
            or not isinstance(n_target, numbers.Integral)
            or n_target <= 0
        ):
            raise ParameterError(f"{where}: 'n_target' must be a positive int, got {n_target!r}")
        n = int(n_target)
        if precision == "float":
            p = spiking_bias_parameters(m, n, where, **params)
            du, dv, vth = (float(scalar(getattr(p, k), where, k)) for k in ("du", "dv", "vth"))
            bias = per_neuron(p.bias, m, np.float64, where, "bias")
            w_b = per_neuron(p.w_b, m, np.float64, where, "w_b")
            c_ret = per_neuron(p.c_retention, m, np.float64, where, "c_retention")
            zeros = np.zeros(m, np.int64)
            bias_mant, bias_exp, w_b_mant, w_b_exp = zeros, zeros, zeros, zeros
            dc = np.full(m, DECAY_MAX, np.int64)
        else:
            if "dc" in params:
                check_shape(params["dc"], where, "dc", m)
            p = fixed_spiking_bias_parameters(m, n, where, **params)
            du, dv, vth = (int(scalar(getattr(p, k), where, k)) for k in ("du", "dv", "vth"))
            bias_mant = per_neuron(p.bias_mant, m, np.int64, where, "bias_mant")
            bias_exp = per_neuron(p.bias_exp, m, np.int64, where, "bias_exp")
            w_b_mant = per_neuron(p.w_b_mant, m, np.int64, where, "w_b_mant")
            w_b_exp = per_neuron(p.w_b_exp, m, np.int64, where, "w_b_exp")
            dc = per_neuron(p.dc, m, np.int64, where, "dc")
            bias, w_b, c_ret = np.zeros(m), np.zeros(m), np.zeros(m)
        group = np.arange(n, dtype=np.int64) if p.group is None else np.asarray(p.group, np.int64)
        self.init_process(args, precision, name, log_config, n_target=n)
        self.parameters = p  # the validated spec parameters
        self.a_in = InPort(shape=(m,))
        self.c_out = OutPort(shape=(n,))
        self.s_out = OutPort(shape=(m,))
        self.u = Var(shape=(m,), init=0)
        self.v = Var(shape=(m,), init=0)
        self.C = Var(shape=(m,), init=0)
        self.du = Var(shape=(1,), init=du)
        self.dv = Var(shape=(1,), init=dv)
        self.vth = Var(shape=(1,), init=vth)
        self.bias = Var(shape=(m,), init=bias)
        self.w_b = Var(shape=(m,), init=w_b)
        self.c_retention = Var(shape=(m,), init=c_ret)
        self.group = Var(shape=(n,), init=group)
        self.bias_mant = Var(shape=(m,), init=bias_mant)
        self.bias_exp = Var(shape=(m,), init=bias_exp)
        self.w_b_mant = Var(shape=(m,), init=w_b_mant)
        self.w_b_exp = Var(shape=(m,), init=w_b_exp)
        self.dc = Var(shape=(m,), init=dc)

    @property
    def m(self) -> int:
        return int(self.proc_params["shape"][0])

    @property
    def n_target(self) -> int:
        return int(self.proc_params["n_target"])

"""The one definition of lava-nt's neuron dynamics (no torch, no Lava imports).

- :mod:`lava_nt.spec.ntlif`: NTLIF floating-point parameters, state and reference step.
- :mod:`lava_nt.spec.spiking_bias`: spiking bias / volumetric groups (floating point).
- :mod:`lava_nt.spec.fixed`: Loihi-compatible integer versions of both, with the bit widths.
- :mod:`lava_nt.spec.quantization`: the rules mapping float parameters to those integer registers
  (rounding, weight exponent and mantissas, bias mantissa/exponent, threshold, gain, decays),
  shared by the post-training quantiser (numpy) and quantisation-aware tuning (torch).
- :mod:`lava_nt.spec.readout`: the non-spiking integrator readout (float and fixed point).
- :mod:`lava_nt.spec.validation`: the boundary checks every engine uses.

Every engine (Norse/torch cells, the torch fixed-point emulator, the Lava ProcessModels) calls these
step functions; tests prove the engines equal.
"""

from lava_nt.spec.fixed import (
    FixedNTLIFParameters,
    FixedNTLIFState,
    FixedSpikingBiasParameters,
    FixedSpikingBiasState,
    fixed_ntlif_parameters,
    fixed_ntlif_step,
    fixed_spiking_bias_parameters,
    fixed_spiking_bias_step,
)
from lava_nt.spec.ntlif import (
    RESET_MODES,
    NTLIFParameters,
    NTLIFState,
    heaviside,
    ntlif_parameters,
    ntlif_step,
)
from lava_nt.spec.quantization import (
    K_MAX,
    QUANT_WEIGHT_EXP_MAX,
    QUANT_WEIGHT_EXP_MIN,
    WEIGHT_EXP_MAX,
    WEIGHT_EXP_MIN,
    current_decay_register,
    decay_register,
    decay_units,
    gain_register,
    gain_units,
    mantissa,
    mantissa_exponents,
    round_half_away,
    threshold_register,
    threshold_units,
    weight_exponent,
    weight_index,
    weight_unit,
    weight_units,
)
from lava_nt.spec.readout import (
    REDUCTIONS,
    FixedReadoutParameters,
    ReadoutParameters,
    ReadoutSpec,
    ReadoutState,
    fixed_readout_parameters,
    fixed_readout_step,
    readout_parameters,
    readout_step,
    reduce_readout,
)
from lava_nt.spec.spiking_bias import (
    SpikingBiasParameters,
    SpikingBiasState,
    contiguous_groups,
    spiking_bias_parameters,
    spiking_bias_step,
)
from lava_nt.spec.validation import ParameterError

__all__ = [
    "K_MAX",
    "QUANT_WEIGHT_EXP_MAX",
    "QUANT_WEIGHT_EXP_MIN",
    "WEIGHT_EXP_MAX",
    "WEIGHT_EXP_MIN",
    "current_decay_register",
    "decay_register",
    "decay_units",
    "gain_register",
    "gain_units",
    "mantissa",
    "mantissa_exponents",
    "round_half_away",
    "threshold_register",
    "threshold_units",
    "weight_exponent",
    "weight_index",
    "weight_unit",
    "weight_units",
    "REDUCTIONS",
    "RESET_MODES",
    "FixedReadoutParameters",
    "ReadoutParameters",
    "ReadoutSpec",
    "ReadoutState",
    "fixed_readout_parameters",
    "fixed_readout_step",
    "readout_parameters",
    "readout_step",
    "reduce_readout",
    "FixedNTLIFParameters",
    "FixedNTLIFState",
    "FixedSpikingBiasParameters",
    "FixedSpikingBiasState",
    "NTLIFParameters",
    "NTLIFState",
    "ParameterError",
    "SpikingBiasParameters",
    "SpikingBiasState",
    "contiguous_groups",
    "fixed_ntlif_parameters",
    "fixed_ntlif_step",
    "fixed_spiking_bias_parameters",
    "fixed_spiking_bias_step",
    "heaviside",
    "ntlif_parameters",
    "ntlif_step",
    "spiking_bias_parameters",
    "spiking_bias_step",
]

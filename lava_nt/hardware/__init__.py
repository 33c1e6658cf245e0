"""Hardware reports: Loihi resources and energy estimates, and the paper's analog model.

Modules (numpy only; matplotlib for the optional plot):

    resources   per-layer neurons, synapses, bit widths, compartments, synaptic memory, and
                the published per-core limits (:data:`LOIHI1`, :data:`LOIHI2`)
    cores       a documented mapping of layers onto Loihi cores against those limits
    energy      spikes and synaptic operations per inference from a run on real inputs, and an
                energy-per-inference estimate from Davies et al. 2018, Table 2 (pre-silicon
                Loihi 1 figures, :data:`LOIHI1_TABLE2`)
    learning    the operations on-device tuning adds per tuning sample (eligibility counters,
                error messages and their feedback synops, bias updates) and their energy
                estimate from the same figures
    analog      the JLPEA 2022 synapse (a current mirror with a resistive load, eq. 14-16): tuned
                NT1 gains -> supply voltages in 0.5-1.0 V, power domains, DAC quantisation, and
                the accuracy after it (in analog_accuracy)
    report      :func:`hardware_report`: all of the above for one model, as tables and JSON
                (``lava-nt report MODEL``)

Every figure is a published one (cited where it is defined), not a measurement of ours; see
``docs/hardware.md``.
"""

from lava_nt.hardware.analog import (
    PAPER_REFERENCE,
    AnalogMapping,
    AnalogRangeError,
    MirrorModel,
    dac_levels,
    map_gains,
    power_domains,
    quantize_voltage,
)
from lava_nt.hardware.analog_accuracy import AnalogAccuracy, analog_accuracy, plot_analog
from lava_nt.hardware.cores import Mapping, map_to_cores
from lava_nt.hardware.energy import (
    LOIHI1_TABLE2,
    Activity,
    EnergyFigures,
    energy_estimate,
    measure_activity,
)
from lava_nt.hardware.learning import LearningActivity, learning_activity, learning_energy
from lava_nt.hardware.report import HardwareReport, hardware_report
from lava_nt.hardware.resources import (
    LOIHI1,
    LOIHI2,
    ChipLimits,
    NetworkResources,
    count_resources,
    synapse_memory_bits,
)

__all__ = [
    "LOIHI1",
    "LOIHI1_TABLE2",
    "LOIHI2",
    "PAPER_REFERENCE",
    "Activity",
    "AnalogAccuracy",
    "AnalogMapping",
    "AnalogRangeError",
    "ChipLimits",
    "EnergyFigures",
    "HardwareReport",
    "LearningActivity",
    "Mapping",
    "MirrorModel",
    "NetworkResources",
    "analog_accuracy",
    "count_resources",
    "dac_levels",
    "energy_estimate",
    "hardware_report",
    "learning_activity",
    "learning_energy",
    "map_gains",
    "map_to_cores",
    "measure_activity",
    "plot_analog",
    "power_domains",
    "quantize_voltage",
    "synapse_memory_bits",
]

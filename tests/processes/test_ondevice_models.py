"""The learning models are their inference models plus what learning adds.

Each learning ProcessModel subclasses the inference model of its precision: it inherits every
LavaPyType (the same objects, so the same bit widths), declares only the Vars and ports its
Process adds, and is declared afresh for its own Process (Lava's ``implements`` refuses a class
that inherits another Process's declaration; ``requires``/``tag`` would add to the inherited
lists). That the learning runs still equal the twin is proven by ``test_ondevice_lava*.py``.
"""

import pytest
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU

from lava_nt.processes import _models
from lava_nt.processes.ntlif.models import PyNTLIFModelBitAcc, PyNTLIFModelFloat
from lava_nt.processes.ntlif.process import NTLIF
from lava_nt.processes.ondevice import models as ondevice_models
from lava_nt.processes.ondevice import readout_models
from lava_nt.processes.ondevice.process import LearningNTLIF, LearningReadout, LearningSpikingBias
from lava_nt.processes.readout.models import PyReadoutModelBitAcc, PyReadoutModelFloat
from lava_nt.processes.spiking_bias.models import PySpikingBiasModelBitAcc, PySpikingBiasModelFloat

# (learning model, inference model it extends, learning Process, the Vars/ports it adds)
NTLIF_ADDS = {"err_in", "trace_in", "sb_out", "elig", "elig_gain", "elig_sb", "learn_steps",
              "learn_gain", "learn_sb", "eta", "band", "eta_gain", "eta_mant", "eta_shift",
              "band_fixed", "eta_gain_mant", "eta_gain_shift"}  # fmt: skip
SB_ADDS = {"q_in", "trace_out", "trace", "eta_w", "eta_w_mant", "eta_w_shift"}
READOUT_ADDS = {"e_out", "value", "target_on", "target_off", "eta", "sample", "labels", "learn",
                "n_classes", "learn_steps", "reduce_max", "eta_mant", "eta_shift", "error_shift",
                "w_mant", "w_shift", "gate_misclassified", "class_w"}  # fmt: skip
PAIRS = [
    (ondevice_models.PyLearningNTLIFModelFloat, PyNTLIFModelFloat, LearningNTLIF, NTLIF_ADDS),
    (ondevice_models.PyLearningNTLIFModelBitAcc, PyNTLIFModelBitAcc, LearningNTLIF, NTLIF_ADDS),
    (ondevice_models.PyLearningSpikingBiasModelFloat, PySpikingBiasModelFloat,
     LearningSpikingBias, SB_ADDS),
    (ondevice_models.PyLearningSpikingBiasModelBitAcc, PySpikingBiasModelBitAcc,
     LearningSpikingBias, SB_ADDS),
    (readout_models.PyLearningReadoutModelFloat, PyReadoutModelFloat, LearningReadout,
     READOUT_ADDS),
    (readout_models.PyLearningReadoutModelBitAcc, PyReadoutModelBitAcc, LearningReadout,
     READOUT_ADDS),
]  # fmt: skip


def _types(cls) -> dict:
    """Every LavaPyType of ``cls`` through its MRO (what Lava's builder reads with getattr)."""
    return {k: getattr(cls, k) for k in dir(cls) if isinstance(getattr(cls, k), LavaPyType)}


def _own_types(cls) -> set:
    """The LavaPyTypes written in the class bodies of ``cls`` and its bases up to (not
    including) the inference models."""
    return {k for c in cls.__mro__ if c.__module__.startswith("lava_nt.processes.ondevice")
            for k, v in vars(c).items() if isinstance(v, LavaPyType)}  # fmt: skip


@pytest.mark.parametrize("learning, inference, proc, adds", PAIRS,
                         ids=[p[0].__name__ for p in PAIRS])  # fmt: skip
def test_learning_model_is_its_inference_model_plus_the_additions(learning, inference, proc,
                                                                   adds):  # fmt: skip
    assert issubclass(learning, inference)
    assert learning.precision == inference.precision
    # inherited declarations are the inference model's own objects
    types = _types(learning)
    for name, lt in _types(inference).items():
        assert types[name] is lt, name
    # the learning classes declare exactly what the Process adds, nothing of the inference's
    assert _own_types(learning) == adds
    assert set(types) == set(_types(inference)) | adds
    # the declaration is the learning Process's, with one CPU and the precision's tags once
    assert learning.implements_process is proc
    assert inference.implements_process is proc.__mro__[1]
    assert learning.required_resources == [CPU]
    assert learning.tags == list(inference.tags)
    assert learning.run_spk is inference.run_spk  # the step of the inference model


def test_inference_after_step_is_a_no_op_and_learning_models_fill_it_in():
    for learning, inference, _, _ in PAIRS:
        base = inference.__mro__[1]  # the abstract inference model
        assert base.after_step is inference.after_step
        assert learning.after_step is not inference.after_step


def test_declaring_a_subclass_of_a_declared_model():
    """The experiment behind the design: Lava's own decorators refuse (or double) what the
    project's ``float_model`` / ``fixed_model`` declare afresh."""
    from lava.magma.core.decorator import implements, requires, tag

    class Sub(PyNTLIFModelFloat):
        pass

    with pytest.raises(AssertionError, match="already implements a Process"):
        implements(proc=LearningNTLIF)(Sub)
    assert requires(CPU)(type("Sub2", (PyNTLIFModelFloat,), {})).required_resources == [CPU, CPU]
    assert tag("floating_pt")(type("Sub3", (PyNTLIFModelFloat,), {})).tags == ["floating_pt"] * 2

    fresh = _models.fixed_model(LearningNTLIF)(type("Sub4", (PyNTLIFModelBitAcc,), {}))
    assert fresh.implements_process is LearningNTLIF
    assert fresh.tags == list(_models.FIXED_TAGS) and fresh.required_resources == [CPU]
    # the inference model keeps its own declaration
    assert PyNTLIFModelBitAcc.implements_process is NTLIF
    assert PyNTLIFModelBitAcc.tags == list(_models.FIXED_TAGS)
    assert PyNTLIFModelBitAcc.required_resources == [CPU]
    assert issubclass(fresh, PyLoihiProcessModel)

"""lava_nt.lava.models: the cached model selection equals Lava's own tag-based selection, and
the run config maps every instance (so Lava's compiler skips its per-instance search)."""

from __future__ import annotations

import numpy as np
import pytest

from lava_nt.lava.compat import allow_lava_import
from lava_nt.spec.validation import ParameterError


@pytest.fixture(scope="module")
def lava():
    allow_lava_import()
    from lava.proc.dense.models import PyDenseModelBitAcc, PyDenseModelFloat
    from lava.proc.dense.process import Dense
    from lava.proc.io.extractor import Extractor, PyLoihiExtractorModel
    from lava.proc.io.source import RingBuffer

    from lava_nt.processes.ntlif.models import PyNTLIFModelBitAcc, PyNTLIFModelFloat
    from lava_nt.processes.ntlif.process import NTLIF
    from lava_nt.processes.spiking_bias.models import (
        PySpikingBiasModelBitAcc,
        PySpikingBiasModelFloat,
    )
    from lava_nt.processes.spiking_bias.process import SpikingBias

    return dict(
        Dense=Dense, Extractor=Extractor, RingBuffer=RingBuffer, NTLIF=NTLIF,
        SpikingBias=SpikingBias,
        expected={
            ("Dense", "float"): PyDenseModelFloat, ("Dense", "fixed"): PyDenseModelBitAcc,
            ("NTLIF", "float"): PyNTLIFModelFloat, ("NTLIF", "fixed"): PyNTLIFModelBitAcc,
            ("SpikingBias", "float"): PySpikingBiasModelFloat,
            ("SpikingBias", "fixed"): PySpikingBiasModelBitAcc,
            ("Extractor", "float"): PyLoihiExtractorModel,
            ("Extractor", "fixed"): PyLoihiExtractorModel,
        },
    )  # fmt: skip


def _probes(lava, precision):
    return {
        "Dense": lava["Dense"](weights=np.zeros((2, 3))),
        "NTLIF": lava["NTLIF"](shape=(2,), precision=precision),
        "SpikingBias": lava["SpikingBias"](shape=(2,), n_target=2, precision=precision),
        "Extractor": lava["Extractor"](shape=(2,)),
        "RingBuffer": lava["RingBuffer"](data=np.zeros((3, 4))),
    }


@pytest.mark.parametrize("precision", ["float", "fixed"])
def test_selection_equals_lavas_and_maps_every_instance(lava, precision):
    from lava.magma.compiler.compiler_graphs import ProcGroupDiGraphs

    from lava_nt.lava.models import base_config, run_config, selected_model

    procs = _probes(lava, precision)
    cfg = run_config(list(procs.values()), precision)
    assert cfg.select_tag == ("floating_pt" if precision == "float" else "fixed_pt")
    for name, proc in procs.items():
        chosen = selected_model(proc, precision)
        assert cfg.exception_proc_model_map[proc] is chosen, name
        if (name, precision) in lava["expected"]:
            assert chosen is lava["expected"][(name, precision)], name
        if name != "Extractor":  # Lava's own search + selection under the same tag
            found = ProcGroupDiGraphs._find_proc_models(proc=proc)
            assert chosen is ProcGroupDiGraphs._select_proc_models(
                proc, found, base_config(precision)
            ), name
    # the source's model matches the precision's tag
    tags = selected_model(procs["RingBuffer"], precision).tags
    assert ("floating_pt" if precision == "float" else "fixed_pt") in tags


def test_bad_precision_is_refused():
    from lava_nt.lava.models import run_config

    with pytest.raises(ParameterError, match="precision"):
        run_config([], "double")

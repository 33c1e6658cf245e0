"""Choosing the ProcessModels of a Lava network once per Process class, not once per instance.

Lava 0.10's compiler looks for the models of EVERY Process instance by executing every Python
file of the Process' package again (Lava's ``compiler_graphs.py``), then picks one by the run
config's tag. For a network of eight processes that is most of a compile (about 0.2 s idle, more
under load), paid again by every run. :func:`run_config` does the same search and the same
tag-based selection -- with Lava's own functions -- once per ``(Process class, precision)``, caches
the chosen class and hands Lava an ``exception_proc_model_map`` keyed by the instances, which Lava
uses instead of searching (an instance key skips the search; a class key would not).

:func:`warm_model_cache` fills the cache in the calling process; lava-nt's runners call it before
forking a job (:func:`lava_nt.lava.run.run_isolated`), so every forked job starts with it.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from lava_nt.spec.validation import ParameterError

SELECT_TAG = {"float": "floating_pt", "fixed": "fixed_pt"}

_CACHE: dict[tuple[type, str], type] = {}


def base_config(precision: str):
    """``Loihi2SimCfg`` with the precision's tag; Lava searches the models of every instance."""
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.extractor import Extractor, PyLoihiExtractorModel

    if precision not in SELECT_TAG:
        raise ParameterError(
            f"run_config: precision must be one of {sorted(SELECT_TAG)}, got {precision!r}"
        )
    # Extractor has two untagged models; Lava cannot pick one by tag (lava-facts §3)
    return Loihi2SimCfg(
        select_tag=SELECT_TAG[precision],
        exception_proc_model_map={Extractor: PyLoihiExtractorModel},
    )


def selected_model(proc, precision: str) -> type:
    """The ProcessModel class Lava would select for ``proc`` under ``Loihi2SimCfg`` with the
    precision's tag (cached per Process class and precision)."""
    key = (type(proc), precision)
    model = _CACHE.get(key)
    if model is None:
        from lava.magma.compiler.compiler_graphs import ProcGroupDiGraphs

        cfg = base_config(precision)
        if type(proc) in cfg.exception_proc_model_map:
            model = cfg.exception_proc_model_map[type(proc)]
        else:
            found = ProcGroupDiGraphs._find_proc_models(proc=proc)
            model = ProcGroupDiGraphs._select_proc_models(proc, found, cfg)
        _CACHE[key] = model
    return model


def run_config(procs: Iterable, precision: str):
    """A ``Loihi2SimCfg`` (tag of ``precision``) that maps each of ``procs`` (every Process of
    the network) to its cached model, so Lava's compiler does not search for models."""
    cfg = base_config(precision)
    for proc in procs:
        cfg.exception_proc_model_map[proc] = selected_model(proc, precision)
    return cfg


def warm_model_cache(precisions: Iterable[str] = ("float", "fixed")) -> None:
    """Select the models of every Process class lava-nt's runners use (on one-neuron instances),
    so that jobs forked afterwards find them cached."""
    from lava.proc.dense.process import Dense
    from lava.proc.io.extractor import Extractor
    from lava.proc.io.source import RingBuffer

    from lava_nt.processes.ntlif.process import NTLIF
    from lava_nt.processes.spiking_bias.process import SpikingBias

    for precision in precisions:
        probes = (
            RingBuffer(data=np.zeros((1, 1))),
            Dense(weights=np.zeros((1, 1))),
            NTLIF(shape=(1,), precision=precision),
            SpikingBias(shape=(1,), n_target=1, precision=precision),
            Extractor(shape=(1,)),
        )
        for proc in probes:
            selected_model(proc, precision)

"""Build and run a :class:`lava_nt.network.NetworkSpec` as a Lava process graph.

Graph for a network of ``D`` layers (``k = 1..D``)::

    RingBuffer(x) -> Dense(W_1) -> NTLIF_1.a_in -> ... -> Dense(W_D) -> NTLIF_D
          |                          ^ c_in
          +-> Dense(W_in_1) -> SpikingBias_1.a_in ; SpikingBias_1.c_out -> NTLIF_1.c_in

Every Dense adds one step of delay; NTLIF, SpikingBias, the source and the Extractors add none.
The bias path into a layer therefore has the same delay as its synaptic path.

All ``B`` samples run in ONE long Lava run, back to back: sample ``b`` occupies the source's
window of ``L = T`` steps ``b*T .. b*T + T - 1``, and ``D`` zero steps after the last sample let
the pipeline drain (``B*T + D`` steps in all). Layer ``k`` sees sample ``b``'s first input at Lava
``time_step = b*L + 1 + k`` and resets its state (``u``, ``v``; and ``C`` of its spiking bias) at
that step before integrating: ``reset_interval = L``, ``reset_offset = (k + 1) % L``. So the layers
work on different samples at the same time (layer 1 already on sample ``b + 1`` while layer ``D``
finishes sample ``b``), each one on exactly ``T`` steps of one sample between its resets, as a
feed-forward pipeline with one step of delay per Dense. Layer ``k``'s output for sample ``b`` at
torch step ``t`` is found at Lava step index ``j = b*L + t + k`` (``j = time_step - 1``).

A layer with synaptic delays (``LayerSpec.delay``) gets Lava's ``DelayDense`` instead of its
``Dense``: a spike over a synapse of delay ``d`` arrives ``1 + d`` steps after it was sent, so
delay 0 keeps ``Dense``'s timing and the mapping above is unchanged (:mod:`lava_nt.spec.delay`).
Its delay line must be empty when a sample starts; the ``DelayDense`` is run by
:mod:`lava_nt.lava.delay_dense`'s models (Lava's own, plus emptying the line at the end of the
step before layer ``k``'s next sample arrives: ``reset_offset = (k - 1) % L``).

Graded input (``spec.input == "graded"``): the RingBuffer sends the real values (float) or the
integers (fixed point) as graded spikes, and the first layer's Dense (and its spiking bias'
``W_in`` Dense) runs with ``num_message_bits=24`` (``a = W · x``). A readout adds
``Dense(W_r) -> Readout`` after the last layer (one more Dense delay: depth ``D + 1``); its
``v_out`` sends the voltage every step to an Extractor, and the output is that trace.

Outputs are read with Lava's ``Extractor`` (host side, fast) in chunks of at most
:data:`CHUNK_STEPS` steps, never with ``Var.get`` (which moves one element at a time). The whole
build, run and read happens inside :func:`lava_nt.lava.run.run_isolated` (timeout, ``stop()``
always, no orphaned workers).

Modules: :mod:`.constants`, :mod:`.result` (:class:`LavaRunResult`), :mod:`.validation` (the
input, the spec, networks sharing a source), :mod:`.schedule` (window, steps, source data, the
torch frame), :mod:`.build` (the processes of one or several networks), :mod:`.run` (the chunked
run loop, :func:`run_network`, :func:`run_networks`).
"""

from lava_nt.converters.lava_graph.build import (
    LavaGraph,
    _dense,
    _ntlif_kwargs,
    _spiking_bias_kwargs,
    build,
    build_many,
)
from lava_nt.converters.lava_graph.constants import CHUNK_STEPS, GRADED_MESSAGE_BITS, PRECISIONS
from lava_nt.converters.lava_graph.result import LavaRunResult
from lava_nt.converters.lava_graph.run import run_chunked, run_graph, run_network, run_networks
from lava_nt.converters.lava_graph.schedule import (
    network_depth,
    schedule,
    source_data,
    to_torch_frame,
)
from lava_nt.converters.lava_graph.validation import check_input, check_shared_input, check_spec

__all__ = [
    "CHUNK_STEPS",
    "GRADED_MESSAGE_BITS",
    "PRECISIONS",
    "LavaGraph",
    "LavaRunResult",
    "build",
    "build_many",
    "check_input",
    "check_shared_input",
    "check_spec",
    "network_depth",
    "run_chunked",
    "run_graph",
    "run_network",
    "run_networks",
    "schedule",
    "source_data",
    "to_torch_frame",
    "_dense",
    "_ntlif_kwargs",
    "_spiking_bias_kwargs",
]

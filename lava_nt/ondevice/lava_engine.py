"""On-device tuning inside ONE long Lava run (float or bit-accurate fixed point; no torch).

Graph for ``D`` layers, tuned layers ``k`` (every layer is a
:class:`~lava_nt.processes.ondevice.process.LearningNTLIF`; an untuned one gets no error; a
layer's spiking bias is built as :func:`lava_nt.converters.lava_graph.run_network` builds it and
stays frozen)::

    RingBuffer(x) -> Dense(W_1) -> L_1 -> ... -> Dense(W_D) -> L_D -> Extractor (output spikes)
                                   ^ err_in                      |
                                   |                             v
                     Dense(B_k, graded) <-------------- OutputError(labels, learn)

Schedule (:func:`lava_nt.converters.lava_graph.schedule` with ``back_to_back=False``): sample
``b`` has a window of ``L = T + D`` steps, its ``T`` input steps followed by ``D`` zero steps;
layer ``k`` (1-based) resets ``u``, ``v`` and its eligibility at ``time_step = b*L + k + 1``
and counts eligibility over that sample's ``T`` steps; :class:`OutputError` counts the output
layer's spikes over its ``T`` steps and, on the last one (``b*L + D + T``), sends the error; the
feedback ``Dense`` delivers ``l_k = B_k e`` one step later (``b*L + D + T + 1``), after layer
``k``'s last step of sample ``b`` and before its reset for sample ``b + 1`` (``(b+1)*L + k + 1``,
later because ``L = T + D``), where the layer applies the update. The next sample therefore runs
with the new biases, exactly as the twin's per-sample loop. One extra step after the last window
delivers the last sample's update: ``S * L + 1`` steps in all. The learning flags ``learn`` let
one run tune on the first samples and test on the rest.

A network with a readout (:mod:`lava_nt.spec.readout`) ends in ``Dense(W_r) ->``
:class:`~lava_nt.processes.ondevice.process.LearningReadout` instead of the ``OutputError``: one
stage deeper, so ``L = T + D + 1`` (``D + 1`` zero steps). The readout resets at ``b*L + D + 2``,
keeps the window's value over its ``T`` steps and on the last one (``b*L + D + T + 1``) sends the
error and changes its own bias; the feedback ``Dense`` delivers ``l_k`` at ``b*L + D + T + 2``,
after layer ``k``'s last counted step (``b*L + k + T``) and before its next reset
(``b*L + T + D + k + 2``); the last update arrives at step ``S * L + 1``, the run's last. The
Extractor reads the readout's voltage trace (the output then is that trace, as in the twin).

A layer with synaptic delays gets Lava's ``DelayDense`` (as
:func:`lava_nt.converters.lava_graph.run_network` builds it, run by
:mod:`lava_nt.lava.delay_dense`'s models), whose delay line empties at the end of the step before
the sample's first input reaches it (``time_step % L == (k - 1) % L``). No extra window steps are
needed: a delayed spike that lands within the layer's ``T`` counted steps is counted, a later one
is lost at the reset, exactly as in the twin and ``run_reference`` (the output keeps the frame of
the network without delays; :mod:`lava_nt.spec.delay`), so the window stays ``L = T + D``.

Gains learn in the layer itself (the same update step). When spiking-bias weights learn, a tuned
layer's bias population is a
:class:`~lava_nt.processes.ondevice.process.LearningSpikingBias` with two more direct links
beside ``c_out -> c_in``: ``trace_out -> trace_in`` (the trace of step ``t`` arrives at step
``t`` with the current it shaped, so the layer counts ``inc[t] * trace[t]`` as the twin does) and
the layer's ``sb_out -> q_in`` (``q = l * elig_sb``, nonzero only at the update step
``b*L + D + T + 1``, received in the same step after the bias population has sent its own
outputs), so the weights change at the update step too, before the next sample's reset.

Final biases (and gains, weights) are read with ``Var.get`` after the last step, output
spikes with an Extractor; the run goes through :func:`lava_nt.lava.run.run_isolated` (timeout,
``stop()`` always).
"""

from __future__ import annotations

import time

import numpy as np

from lava_nt.converters.lava_graph import (
    CHUNK_STEPS,
    _dense,
    _spiking_bias_kwargs,
    check_spec,
    network_depth,
    run_chunked,
    source_data,
    to_torch_frame,
)
from lava_nt.lava.run import default_timeout, preload_lava, run_isolated
from lava_nt.network import NetworkSpec
from lava_nt.ondevice.rule import OnDeviceRule
from lava_nt.ondevice.twin import OnDeviceResult, check_run


def ondevice_schedule(T: int, S: int, depth: int) -> tuple[int, int]:
    """``(window, steps)`` of a run of ``S`` samples: ``L = T + depth``, ``S * L + 1`` steps."""
    L = T + depth
    return L, S * L + 1


def _neuron_kwargs(p, fixed: bool) -> dict:
    reset = "subtract" if p.reset_subtract else "zero"
    if fixed:
        return dict(du=p.du, dv=p.dv, vth=p.vth, bias_mant=p.bias_mant, bias_exp=p.bias_exp,
                    gain_mant=p.gain_mant, reset=reset)  # fmt: skip
    return dict(du=p.du, dv=p.dv, vth=p.vth, bias=p.bias, gain=p.gain, reset=reset)


def _learning_kwargs(rule: OnDeviceRule, i, fixed: bool, has_sb: bool) -> dict:
    """The LearningNTLIF keywords of tuned layer number ``i`` (None: an untuned layer)."""
    if i is None:  # an untuned layer: rate 0, no error arrives anyway
        return dict(eta_mant=0, eta_shift=0, band=1) if fixed else dict(eta=0.0, band=1.0)
    kw = rule.params[i]._asdict()
    if not rule.learns("bias"):
        kw["eta_mant" if fixed else "eta"] = 0 if fixed else 0.0
    if rule.learns("gain"):
        g = rule.gain_params[i]
        kw.update(dict(eta_gain_mant=g.eta_mant, eta_gain_shift=g.eta_shift) if fixed
                  else dict(eta_gain=g.eta), learn_gain=True)  # fmt: skip
    kw["learn_sb"] = bool(rule.learns("sb_weight") and has_sb)
    return kw


def _sb_learning_kwargs(rate, fixed: bool) -> dict:
    if fixed:
        return dict(eta_w_mant=rate.eta_mant, eta_w_shift=rate.eta_shift)
    return dict(eta_w=rate.eta)


def _build(spec: NetworkSpec, rule: OnDeviceRule, x, labels, learn, precision: str):
    """Build the processes (inside the job): ``(source, learners, tap, run_cfg, L, steps)``."""
    from lava.proc.io.extractor import Extractor  # lazy: imports Lava
    from lava.proc.io.source import RingBuffer  # lazy: imports Lava

    from lava_nt.lava.delay_dense import delay_dense_model  # lazy: imports Lava
    from lava_nt.lava.models import run_config  # lazy: imports Lava
    from lava_nt.processes.ondevice.models import (  # lazy: imports Lava
        PyLearningNTLIFModelBitAcc,
        PyLearningNTLIFModelFloat,
        PyLearningSpikingBiasModelBitAcc,
        PyLearningSpikingBiasModelFloat,
        PyOutputErrorModelBitAcc,
        PyOutputErrorModelFloat,
    )
    from lava_nt.processes.ondevice.process import (  # lazy: imports Lava
        LearningNTLIF,
        LearningReadout,
        LearningSpikingBias,
        OutputError,
    )
    from lava_nt.processes.ondevice.readout_models import (  # lazy: imports Lava
        PyLearningReadoutModelBitAcc,
        PyLearningReadoutModelFloat,
    )
    from lava_nt.processes.spiking_bias.process import SpikingBias  # lazy: imports Lava

    fixed = precision == "fixed"
    T, S, _ = x.shape
    depth = network_depth(spec)  # the layers, and one more stage for a readout
    L, steps = ondevice_schedule(T, S, depth)
    data = source_data(x, depth, back_to_back=False)
    data = np.concatenate([data, np.zeros((spec.n_in, 1))], axis=1)
    src = RingBuffer(data=data.astype(np.int32) if fixed else data)
    tuned = dict(zip(rule.layers, range(len(rule.layers)), strict=True))
    prev, procs, learners, biases, delayed = src.s_out, [src], [], {}, []
    for k, layer in enumerate(spec.layers, start=1):
        i = tuned.get(k - 1)
        sb = layer.spiking_bias
        lkw = _learning_kwargs(rule, i, fixed, sb is not None)
        lif = LearningNTLIF(
            shape=(layer.n,), precision=precision, learn_steps=T, reset_interval=L,
            reset_offset=(k + 1) % L, name=f"learning_ntlif_{k}",
            **_neuron_kwargs(layer.neuron, fixed), **lkw,
        )  # fmt: skip
        # a delayed layer gets a DelayDense whose line empties before the sample's first input
        dense = _dense(layer.weight, layer.weight_exp, fixed, k == 1 and spec.graded,
                       layer.delay, (L, (k - 1) % L))  # fmt: skip
        if layer.has_delay:
            delayed.append(dense)
        prev.connect(dense.s_in)
        dense.a_out.connect(lif.a_in)
        procs += [dense, lif]
        if sb is not None:  # as run_network builds it (frozen unless its weights learn)
            learning = lkw.get("learn_sb", False)
            cls, extra = SpikingBias, {}
            if learning:
                cls = LearningSpikingBias
                extra = _sb_learning_kwargs(rule.sb_params[i], fixed)
            bias = cls(
                shape=(sb.m,), n_target=layer.n, precision=precision, reset_interval=L,
                reset_offset=(k + 1) % L, name=f"spiking_bias_{k}",
                **_spiking_bias_kwargs(sb.params, fixed), **extra,
            )  # fmt: skip
            b_dense = _dense(sb.w_in, sb.w_in_exp, fixed, k == 1 and spec.graded)
            prev.connect(b_dense.s_in)
            b_dense.a_out.connect(bias.a_in)
            bias.c_out.connect(lif.c_in)
            if learning:
                bias.trace_out.connect(lif.trace_in)
                lif.sb_out.connect(bias.q_in)
                biases[k - 1] = bias
            procs += [bias, b_dense]
        learners.append(lif)
        prev = lif.s_out
    err, prev, more = _error_source(spec, rule, prev, labels, learn, (T, L), precision)
    procs += more
    for i, k in enumerate(rule.layers):
        fb = _dense(rule.feedback[i], rule.feedback_exp[i], fixed, graded=True)
        err.e_out.connect(fb.s_in)
        fb.a_out.connect(learners[k].err_in)
        procs.append(fb)
    tap = Extractor(shape=(spec.n_out,), buffer_size=min(steps, CHUNK_STEPS))
    prev.connect(tap.in_port)
    procs.append(tap)
    own = (LearningNTLIF, OutputError, LearningSpikingBias, LearningReadout)
    cfg = run_config([p for p in procs if not isinstance(p, own)], precision)
    models = {
        LearningNTLIF: PyLearningNTLIFModelBitAcc if fixed else PyLearningNTLIFModelFloat,
        OutputError: PyOutputErrorModelBitAcc if fixed else PyOutputErrorModelFloat,
        LearningSpikingBias: (PyLearningSpikingBiasModelBitAcc if fixed
                              else PyLearningSpikingBiasModelFloat),
        LearningReadout: PyLearningReadoutModelBitAcc if fixed else PyLearningReadoutModelFloat,
    }  # fmt: skip
    for p in procs:
        if isinstance(p, own):
            cfg.exception_proc_model_map[p] = models[type(p)]
    for dense in delayed:  # Lava's DelayDense models plus the per-sample reset
        cfg.exception_proc_model_map[dense] = delay_dense_model(precision)
    return src, learners, biases, err, tap, cfg, L, steps


def _error_source(spec: NetworkSpec, rule: OnDeviceRule, prev, labels, learn, window,
                  precision: str):  # fmt: skip
    """``(process, port, processes)``: what sends the output error on ``e_out`` and the port the
    output Extractor reads. A spiking output: an :class:`OutputError` on the last layer's spikes
    (its window starts at ``D + 1``). A readout: ``Dense(W_r) ->``
    :class:`~lava_nt.processes.ondevice.process.LearningReadout`, one stage deeper (resets at
    ``b*L + D + 2``, sends the error on its ``T``-th step), whose trace the Extractor reads."""
    from lava_nt.processes.ondevice.process import (  # lazy: imports Lava
        LearningReadout,
        OutputError,
    )

    (T, L), D, tg, fixed = window, len(spec.layers), rule.targets, precision == "fixed"
    common = dict(labels=labels, learn=learn, target_on=tg.on, target_off=tg.off,
                  n_classes=tg.n_classes, precision=precision)  # fmt: skip
    if spec.readout is None:
        err = OutputError(
            shape=(spec.n_out,),
            steps=T,
            window=L,
            first_step=D + 1,
            error_gate=rule.error_gate,
            class_weights=rule.class_weights,
            **common,
        )
        prev.connect(err.s_in)
        return err, prev, [err]
    ro, r = spec.readout, rule.readout_rate
    rate = (dict(eta_mant=r.eta_mant, eta_shift=r.eta_shift, error_shift=rule.error_shift)
            if fixed else dict(eta=r.eta))  # fmt: skip
    rate.update(error_gate=rule.error_gate, class_weights=rule.class_weights)
    params = {k: v for k, v in ro.params._asdict().items() if k != "reduce"}
    proc = LearningReadout(
        shape=(ro.n,), learn_steps=T, reduce=ro.reduce, reset_interval=L,
        reset_offset=(D + 2) % L, name="learning_readout", **common, **params, **rate,
    )  # fmt: skip
    dense = _dense(ro.weight, ro.weight_exp, fixed)
    prev.connect(dense.s_in)
    dense.a_out.connect(proc.a_in)
    return proc, proc.v_out, [dense, proc]


def _job(spec: NetworkSpec, rule: OnDeviceRule, x, labels, learn, precision: str) -> dict:
    src, learners, sbs, err, tap, cfg, L, steps = _build(spec, rule, x, labels, learn, precision)
    fixed = precision == "fixed"

    def read(procs, var: str, layers) -> dict:
        return {k: np.asarray(getattr(procs[k], var).get()).copy() for k in layers}

    def read_learned():
        return {
            "biases": read(learners, "bias_mant" if fixed else "bias", rule.layers),
            "gains": read(learners, "gain_mant" if fixed else "gain", rule.layers)
            if rule.learns("gain") else {},
            "sb_weights": read(sbs, "w_b_mant" if fixed else "w_b", sorted(sbs)),
            "readout_bias": None if spec.readout is None
            else np.asarray(getattr(err, "bias_mant" if fixed else "bias").get()).copy(),
        }  # fmt: skip

    t0 = time.perf_counter()
    records, timing, learned = run_chunked(
        src, cfg, steps, min(steps, CHUNK_STEPS), {"out": tap}, finish=read_learned
    )
    timing["total_job"] = time.perf_counter() - t0
    T, S, _ = x.shape
    out = to_torch_frame(records["out"], network_depth(spec), T, S, L)
    return {"output": out, **learned, "steps": steps, "window": L, "timing": timing}


def run_lava(
    spec: NetworkSpec,
    rule: OnDeviceRule,
    x,
    labels,
    learn=None,
    precision: str | None = None,
    timeout: float | None = None,
) -> OnDeviceResult:
    """On-device tuning in one Lava run (arguments as :func:`lava_nt.ondevice.twin.run_twin`).

    ``precision`` defaults to the spec's ("fixed" for a fixed-point spec). Returns an
    :class:`~lava_nt.ondevice.twin.OnDeviceResult` (no ``history``; ``steps`` and ``window``
    set); raises :class:`~lava_nt.spec.validation.ParameterError` for bad inputs and
    :class:`~lava_nt.lava.run.LavaError` if the Lava job fails or times out.
    """
    precision = precision or ("fixed" if spec.fixed else "float")
    check_spec(spec, precision, "run_lava")
    xf, y, lr = check_run(spec, rule, x, labels, learn, "run_lava")
    T, S, _ = xf.shape
    _, steps = ondevice_schedule(T, S, network_depth(spec))
    if timeout is None:
        timeout = default_timeout(steps) + 2.0 * (len(spec.layers) + 1)
    preload_lava()
    res = run_isolated(_job, spec, rule, xf, y, lr, precision, timeout=timeout)
    dtype = np.int64 if spec.fixed else np.float64
    learned = {name: {k: np.asarray(v).astype(dtype) for k, v in res[name].items()}
               for name in ("biases", "gains", "sb_weights")}  # fmt: skip
    return OnDeviceResult(
        np.asarray(res["output"], np.float64), learned["biases"], lr, "lava", precision,
        steps=res["steps"], window=res["window"], gains=learned["gains"],
        sb_weights=learned["sb_weights"],
        readout_bias=None if res["readout_bias"] is None
        else np.asarray(res["readout_bias"]).astype(dtype),
    )  # fmt: skip

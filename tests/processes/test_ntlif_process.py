"""NTLIF Lava process vs Lava's own LIF, step by step on u, v and spikes.

Where NTLIF reduces to LIF (gain 1, no bias current, reset to zero) its models must equal Lava's:
the float model ``PyLifModelFloat`` to 1e-6 (addition order differs) with identical spikes, the
bit-accurate model ``PyLifModelBitAcc`` bit for bit, including u wrapping and v saturating, and the
per-sample reset equal to ``LIFReset``'s. Both neurons of a pair are driven by the same
RingBuffer -> Dense; u, v and s are recorded every step with Lava Monitors.
"""

import numpy as np
import pytest

from lava_nt.lava.run import LavaRunError, run_isolated, stopping
from lava_nt.spec import ParameterError

STEPS = 240
N = 4
N_IN = 8  # inputs 0-5 random, 6-7 always on


def _inputs(rng):
    x = np.zeros((N_IN, STEPS))
    x[:6] = rng.random((6, STEPS)) < 0.3
    x[6:] = 1.0
    return x


def _pairs_job(tag, x, cases):
    """RingBuffer -> one Dense per case -> (Lava LIF or LIFReset, NTLIF); monitored u, v, s."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF, LIFReset
    from lava.proc.monitor.process import Monitor

    from lava_nt.processes.ntlif.process import NTLIF

    fixed = tag == "fixed_pt"
    src = RingBuffer(data=x.astype(np.int32) if fixed else x)
    monitors = []
    for case in cases:
        dense = Dense(weights=case["weights"], **case.get("dense", {}))
        src.s_out.connect(dense.s_in)
        lif_kw, nt_kw = dict(case["lif"]), dict(case["ntlif"])
        if "reset_interval" in lif_kw:
            lif = LIFReset(shape=(N,), **lif_kw)
        else:
            lif = LIF(shape=(N,), **lif_kw)
        nt = NTLIF.fixed(shape=(N,), **nt_kw) if fixed else NTLIF(shape=(N,), **nt_kw)
        for proc in (lif, nt):
            dense.a_out.connect(proc.a_in)
            for target in (proc.u, proc.v, proc.s_out):
                mon = Monitor()
                mon.probe(target, STEPS)
                monitors.append((case["name"], type(proc).__name__, target.name, mon, proc))
    with stopping(src):
        src.run(condition=RunSteps(num_steps=STEPS), run_cfg=Loihi2SimCfg(select_tag=tag))
        out = {}
        for case_name, kind, var, mon, proc in monitors:
            data = mon.get_data()[proc.name][var]
            out[(case_name, "ntlif" if kind == "NTLIF" else "lif", var)] = np.asarray(data)
    return out


def _check_pairs(out, cases, exact):
    for case in cases:
        name = case["name"]
        for var in ("u", "v", "s_out"):
            ref, got = out[(name, "lif", var)], out[(name, "ntlif", var)]
            assert ref.shape == (STEPS, N)
            if exact or var == "s_out":
                np.testing.assert_array_equal(got, ref, err_msg=f"{name}: {var}")
            else:
                np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6, err_msg=f"{name}: {var}")
        spikes = out[(name, "lif", "s_out")]
        if case.get("spiking", True):
            assert 0 < spikes.mean() < 0.9, f"{name}: spike rate {spikes.mean()} not meaningful"


def test_ntlif_float_equals_lava_lif():
    rng = np.random.default_rng(0)
    x = _inputs(rng)
    w_a = np.zeros((N, N_IN))
    w_a[:, :6] = rng.normal(0.3, 0.8, (N, 6))
    bias = rng.normal(0, 0.1, N)
    cases = [
        dict(
            name="decaying",
            weights=w_a,
            lif=dict(du=0.3, dv=0.15, vth=1.2, bias_mant=bias),
            ntlif=dict(du=0.3, dv=0.15, vth=1.2, bias=bias),
        ),
        dict(
            name="no_current_state",
            weights=w_a * 2,
            lif=dict(du=1.0, dv=0.4, vth=1.5, bias_mant=bias),
            ntlif=dict(du=1.0, dv=0.4, vth=1.5, bias=bias, gain=1.0, reset="zero"),
        ),
        dict(
            name="reset_schedule",  # NTLIF's per-sample reset vs Lava's LIFReset
            weights=w_a,
            lif=dict(du=0.1, dv=0.05, vth=1.0, bias_mant=bias, reset_interval=9, reset_offset=4),
            ntlif=dict(du=0.1, dv=0.05, vth=1.0, bias=bias, reset_interval=9, reset_offset=4),
        ),
    ]
    out = run_isolated(_pairs_job, "floating_pt", x, cases, timeout=120)
    _check_pairs(out, cases, exact=False)


def test_ntlif_fixed_equals_lava_lif_bit_accurate():
    rng = np.random.default_rng(1)
    x = _inputs(rng)
    w_rand = np.zeros((N, N_IN), int)
    w_rand[:, :6] = rng.integers(-120, 200, (N, 6))  # mixed signs: Lava drops the weight LSB
    w_big = np.zeros((N, N_IN), int)
    w_big[:, 6:] = 255  # constant large input: excitatory mode keeps all 8 bits
    bias_mant = rng.integers(-200, 200, N)
    sat_bias = np.array([-4096, -4096, 4095, 100])
    cases = [
        dict(
            name="random",
            weights=w_rand,
            lif=dict(du=410, dv=205, vth=300, bias_mant=bias_mant, bias_exp=2),
            ntlif=dict(du=410, dv=205, vth=300, bias_mant=bias_mant, bias_exp=2),
        ),
        dict(
            name="u_wraps",  # du=0 decays u by 1/4096 only; a constant 255<<6 input wraps it
            weights=w_big,
            dense=dict(weight_exp=6),
            lif=dict(du=0, dv=1000, vth=131071),
            ntlif=dict(du=0, dv=1000, vth=131071, gain_mant=256, reset="zero"),
            spiking=False,
        ),
        dict(  # no voltage decay, bias -4096 << 7 every step; +4095 << 7 clips at the last step
            name="v_saturates",  # before its spike (v > vth << 6 = 2**23 - 64 needs the clip)
            weights=w_rand,
            lif=dict(du=4095, dv=0, vth=131071, bias_mant=sat_bias, bias_exp=7),
            ntlif=dict(du=4095, dv=0, vth=131071, bias_mant=sat_bias, bias_exp=7),
        ),
        dict(
            name="reset_schedule",
            weights=w_rand,
            lif=dict(
                du=100,
                dv=50,
                vth=500,
                bias_mant=bias_mant,
                bias_exp=1,
                reset_interval=11,
                reset_offset=2,
            ),
            ntlif=dict(
                du=100,
                dv=50,
                vth=500,
                bias_mant=bias_mant,
                bias_exp=1,
                reset_interval=11,
                reset_offset=2,
            ),
        ),  # fmt: skip
    ]
    out = run_isolated(_pairs_job, "fixed_pt", x, cases, timeout=120)
    _check_pairs(out, cases, exact=True)
    # the edge cases were really reached (values read from Lava's own LIF)
    u = out[("u_wraps", "lif", "u")]
    assert np.any(np.diff(u[:, 0]) < 0) and u.max() > 2**22, "u did not wrap"
    v = out[("v_saturates", "lif", "v")]
    assert np.all(v[-1, :2] == -(2**23 - 1)), "v did not saturate negative"
    assert np.any(out[("v_saturates", "lif", "s_out")][:, 2]), "positive side never spiked"


def test_precision_mismatch_fails_fast():
    """A float NTLIF selected with the fixed_pt tag must fail, not hang until the timeout."""

    def job():
        from lava.magma.core.run_conditions import RunSteps
        from lava.magma.core.run_configs import Loihi2SimCfg
        from lava.proc.io.source import RingBuffer

        from lava_nt.processes.ntlif.process import NTLIF

        src = RingBuffer(data=np.ones((3, 5), np.int32))
        nt = NTLIF(shape=(3,))
        src.s_out.connect(nt.c_in)
        with stopping(src):
            src.run(condition=RunSteps(num_steps=5), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))

    with pytest.raises(LavaRunError, match="select_tag='floating_pt'"):
        run_isolated(job, timeout=60)


# ---- parameter validation (no Lava run) ---------------------------------------------------------
def test_ntlif_process_vars_and_precisions():
    from lava_nt.processes import NTLIF, SpikingBias  # lazy re-exports
    from lava_nt.processes.ntlif.process import NTLIF as NTLIF_
    from lava_nt.processes.spiking_bias.process import SpikingBias as SpikingBias_

    assert NTLIF is NTLIF_ and SpikingBias is SpikingBias_

    p = NTLIF(shape=(3,), du=0.5, dv=0.25, vth=2.0, bias=[0.1, 0.2, 0.3], gain=2.0)
    assert p.precision == "float" and p.n == 3
    assert p.proc_params["reset_interval"] == 0 and p.proc_params["reset_subtract"] is False
    np.testing.assert_array_equal(p.bias.init, [0.1, 0.2, 0.3])
    np.testing.assert_array_equal(p.gain.init, [2.0, 2.0, 2.0])
    q = NTLIF.fixed(shape=(2,), du=10, vth=7, bias_mant=[3, -4], bias_exp=2, reset="subtract")
    assert q.precision == "fixed" and q.proc_params["reset_subtract"] is True
    np.testing.assert_array_equal(q.bias_mant.init, [3, -4])
    np.testing.assert_array_equal(q.gain_mant.init, [256, 256])
    r = NTLIF(shape=(2,), reset_interval=5, reset_offset=12)
    assert (r.proc_params["reset_interval"], r.proc_params["reset_offset"]) == (5, 2)


MISSPELT = {
    "NTLIF": [
        (lambda P: P(shape=(3,), bais=0.1), "bais"),
        (lambda P: P(shape=(3,), vth=1.0, gian=2.0), "gian"),
        (lambda P: P(shape=(3,), reset_intreval=5), "reset_intreval"),
        (lambda P: P(shape=(3,), bias_mant=1), "bias_mant"),  # a fixed-point name in float
        (lambda P: P.fixed(shape=(3,), bias=1.0), "bias"),  # a float name in fixed point
        (lambda P: P.fixed(shape=(3,), gain=1.0), "gain"),
        (lambda P: P.fixed(shape=(3,), vht=5), "vht"),
    ],
    "SpikingBias": [
        (lambda P: P(shape=(3,), w_bb=1.0), "w_bb"),
        (lambda P: P(shape=(3,), alhpa=0.5), "alhpa"),
        (lambda P: P(shape=(3,), reset_ofset=1), "reset_ofset"),
        (lambda P: P(shape=(3,), dc=100), "dc"),  # a fixed-point name in float
        (lambda P: P.fixed(shape=(3,), alpha=0.5), "alpha"),  # a float name in fixed point
        (lambda P: P.fixed(shape=(3,), w_b=1.0), "w_b"),
        (lambda P: P.fixed(shape=(3,), w_b_mnt=1), "w_b_mnt"),
    ],
}


@pytest.mark.parametrize(
    "process, make, bad", [(p, make, bad) for p, cases in MISSPELT.items() for make, bad in cases]
)
def test_misspelt_kwarg_raises(process, make, bad):
    """NTLIF and SpikingBias refuse a misspelt keyword, or one of the other precision."""
    import lava_nt.processes

    with pytest.raises(ParameterError, match=f"'{bad}'"):
        make(getattr(lava_nt.processes, process))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(shape=(3, 2)), "shape"),
        (dict(shape=(3,), du=1.5), "du"),
        (dict(shape=(3,), vth=0.0), "vth"),
        (dict(shape=(3,), bias=[1.0, 2.0]), "bias"),
        (dict(shape=(3,), gain=np.ones((2, 1, 3))), "one value per neuron"),  # batched: torch only
        (dict(shape=(3,), reset="hard"), "reset"),
        (dict(shape=(3,), precision="double"), "precision"),
        (dict(shape=(3,), reset_interval=-1), "reset_interval"),
        (dict(shape=(3,), reset_interval=2.5), "reset_interval"),
        (dict(shape=(3,), precision="fixed", du=4096), "du"),
        (dict(shape=(3,), precision="fixed", bias_mant=5000), "bias_mant"),
        (dict(shape=(3,), precision="fixed", bias_exp=8), "bias_exp"),
        (dict(shape=(3,), precision="fixed", gain_mant=3000), "gain_mant"),
        (dict(shape=(3,), precision="fixed", vth=2**17), "vth"),
        (dict(shape=(3,), precision="fixed", du=0.5), "du"),
    ],
)
def test_ntlif_bad_values_raise(kwargs, match):
    from lava_nt.processes.ntlif.process import NTLIF

    with pytest.raises(ParameterError, match=match):
        NTLIF(**kwargs)

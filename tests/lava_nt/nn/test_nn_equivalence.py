"""The torch engines equal the numpy reference of the spec.

- NTNetwork.from_spec (float64) vs lava_nt.network.reference_run: identical spikes, bias currents
  and bias spikes on 100 samples x 25 steps, multi-layer, gains, biases, both reset modes,
  per-neuron and volumetric (contiguous and explicit) spiking biases.
- emulate_fixed vs reference_run on fixed-point specs: bit for bit.
- NTLIFCell / SpikingBias single steps vs the spec step functions on numpy inputs.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from norse.torch import SequentialState

from lava_nt.network import reference_run
from lava_nt.nn import NTLIF, NTLIFCell, NTNetwork, SpikingBias, emulate_fixed
from lava_nt.spec import (
    NTLIFState,
    SpikingBiasState,
    ntlif_parameters,
    ntlif_step,
    spiking_bias_parameters,
    spiking_bias_step,
)

T, B = 25, 100


def _np(t):
    return None if t is None else t.detach().cpu().numpy()


@pytest.mark.parametrize(
    "seed,resets,explicit_group",
    [
        (0, ("zero", "subtract", "zero"), False),
        (1, ("subtract", "zero", "subtract"), True),
        (2, ("subtract", "subtract", "subtract"), False),
    ],
)
def test_ntnetwork_equals_reference_run(builders, seed, resets, explicit_group):
    spec = builders.float_spec(seed, resets=resets, explicit_group=explicit_group)
    x = builders.inputs(seed, T, B, spec.n_in)
    ref, ref_recs = reference_run(spec, x, record=True)
    net = NTNetwork.from_spec(spec, dtype=torch.float64)
    with torch.no_grad():
        out, recs = net(torch.from_numpy(x), record=True)
    assert out.dtype == torch.float64 and out.shape == (T, B, spec.n_out)
    np.testing.assert_array_equal(_np(out), ref)
    n_bias_layers = 0
    for r, t in zip(ref_recs, recs, strict=True):
        np.testing.assert_array_equal(_np(t["spikes"]), r["spikes"])
        rate = r["spikes"].mean()
        assert 0.02 < rate < 0.9, rate  # the comparison is not trivial
        if r["bias_current"] is None:
            assert t["bias_current"] is None and t["bias_spikes"] is None
            continue
        n_bias_layers += 1
        np.testing.assert_array_equal(_np(t["bias_spikes"]), r["bias_spikes"])
        np.testing.assert_array_equal(_np(t["bias_current"]), r["bias_current"])
        assert r["bias_spikes"].mean() > 0.05
    assert n_bias_layers == 2


def test_step_forms_equal_sequence_form(builders):
    """NTNetwork.step, norse SequentialState over NTLayers and NTNetwork.forward agree."""
    spec = builders.float_spec(3)
    x = torch.from_numpy(builders.inputs(3, 12, 16, spec.n_in))
    net = NTNetwork.from_spec(spec)
    with torch.no_grad():
        ref = net(x)
        seq = SequentialState(*net.layers)
        st_a, st_b, outs_a, outs_b = None, None, [], []
        for t in range(x.shape[0]):
            z, st_a = net.step(x[t], st_a)
            outs_a.append(z)
            z, st_b = seq(x[t], st_b)
            outs_b.append(z)
    assert torch.equal(torch.stack(outs_a), ref)
    assert torch.equal(torch.stack(outs_b), ref)


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_cell_equals_spec_step_with_bias_current(reset):
    rng = np.random.default_rng(5)
    n = 13
    p = ntlif_parameters(
        n,
        du=0.3,
        dv=0.15,
        vth=0.9,
        reset=reset,
        bias=rng.normal(0, 0.3, n),
        gain=rng.uniform(0.5, 2, n),
    )
    cell = NTLIFCell(
        n, du=0.3, dv=0.15, vth=0.9, reset=reset, bias=p.bias, gain=p.gain, dtype=torch.float64
    )
    seq = NTLIF(
        n, du=0.3, dv=0.15, vth=0.9, reset=reset, bias=p.bias, gain=p.gain, dtype=torch.float64
    )
    a = rng.normal(0.2, 0.6, (30, 7, n))
    c = rng.normal(0.0, 0.4, (30, 7, n))
    st_np = NTLIFState(np.zeros((7, n)), np.zeros((7, n)))
    st_t = None
    zs = []
    for t in range(30):
        s_np, st_np = ntlif_step(a[t], c[t], st_np, p)
        s_t, st_t = cell(torch.from_numpy(a[t]), st_t, c=torch.from_numpy(c[t]))
        np.testing.assert_array_equal(_np(s_t), s_np)
        np.testing.assert_array_equal(_np(st_t.v), st_np.v)
        np.testing.assert_array_equal(_np(st_t.u), st_np.u)
        zs.append(s_np)
    z_seq, st_seq = seq(torch.from_numpy(a), c=torch.from_numpy(c))
    np.testing.assert_array_equal(_np(z_seq), np.stack(zs))
    np.testing.assert_array_equal(_np(st_seq.v), st_np.v)
    assert 0.05 < np.mean(zs) < 0.95


def test_spiking_bias_step_equals_spec():
    rng = np.random.default_rng(6)
    n_in, n, m = 10, 12, 3
    group = rng.permutation(np.repeat(np.arange(m), 4))
    w_in = rng.normal(0.4, 1.0, (m, n_in))
    p = spiking_bias_parameters(
        m, n, du=0.6, dv=0.2, vth=0.8, bias=0.1, w_b=[0.5, -1.0, 2.0], c_retention=0.7, group=group
    )
    sb = SpikingBias(
        n_in,
        n,
        m=m,
        group=group,
        w_in=w_in,
        du=0.6,
        dv=0.2,
        vth=0.8,
        bias=0.1,
        w_b=[0.5, -1.0, 2.0],
        c_retention=0.7,
        dtype=torch.float64,
    )
    x = (rng.random((20, 5, n_in)) < 0.4).astype(float)
    st = SpikingBiasState(*(np.zeros((5, m)),) * 3)
    rec = sb.record(torch.from_numpy(x))
    for t in range(20):
        c, s_b, st = spiking_bias_step(x[t] @ w_in.T, st, p)
        np.testing.assert_array_equal(_np(rec.current[t]), c)
        np.testing.assert_array_equal(_np(rec.spikes[t]), s_b)
    assert rec.spikes.sum() > 10


@pytest.mark.parametrize(
    "seed,resets", [(0, ("zero", "subtract", "zero")), (1, ("subtract", "zero", "subtract"))]
)
def test_emulate_fixed_equals_reference_run_bit_for_bit(builders, seed, resets):
    spec = builders.fixed_spec(seed, resets=resets)
    x = builders.inputs(seed, T, B, spec.n_in)
    ref, ref_recs = reference_run(spec, x, record=True)
    out, recs = emulate_fixed(spec, x, record=True)
    assert out.dtype == torch.int64 and out.shape == (T, B, spec.n_out)
    np.testing.assert_array_equal(_np(out), ref)
    n_bias = 0
    for r, t in zip(ref_recs, recs, strict=True):
        np.testing.assert_array_equal(_np(t["spikes"]), r["spikes"])
        assert 0.02 < r["spikes"].mean() < 0.9
        if r["bias_current"] is not None:
            n_bias += 1
            np.testing.assert_array_equal(_np(t["bias_current"]), r["bias_current"])
            np.testing.assert_array_equal(_np(t["bias_spikes"]), r["bias_spikes"])
            assert r["bias_spikes"].mean() > 0.05
            assert np.abs(r["bias_current"]).max() > 0
    assert n_bias == 2
    # torch input works as well and gives the same
    assert torch.equal(emulate_fixed(spec, torch.from_numpy(x)), out)


def test_emulate_fixed_saturation_and_wrap(builders, monkeypatch):
    """Large weights and biases make u wrap (24 bit) and v saturate; still bit-exact."""
    import lava_nt.spec.fixed as fixed

    spec = builders.fixed_spec(4)
    for layer in spec.layers:
        layer.weight_exp = 7
        layer.weight = np.clip(layer.weight + 60, -256, 255)
        layer.neuron = layer.neuron._replace(bias_exp=np.full(layer.n, 7, np.int64), vth=2**16)
    x = builders.inputs(4, 15, 40, spec.n_in, rate=0.6)
    ref, ref_recs = reference_run(spec, x, record=True)

    counts = {"wrap": 0, "sat": 0}
    wrap_u, saturate = fixed.wrap_u, fixed.saturate

    def counting_wrap(u):
        counts["wrap"] += int(((u > 2**23) | (u <= -(2**23))).sum())
        return wrap_u(u)

    def counting_sat(v, bits=fixed.UV_BITS):
        counts["sat"] += int((abs(v) > 2 ** (bits - 1) - 1).sum())
        return saturate(v, bits)

    monkeypatch.setattr(fixed, "wrap_u", counting_wrap)
    monkeypatch.setattr(fixed, "saturate", counting_sat)
    out, recs = emulate_fixed(spec, x, record=True)
    assert counts["wrap"] > 100 and counts["sat"] > 100, counts
    np.testing.assert_array_equal(_np(out), ref)
    for r, t in zip(ref_recs, recs, strict=True):
        np.testing.assert_array_equal(_np(t["spikes"]), r["spikes"])
        assert r["spikes"].mean() > 0.02

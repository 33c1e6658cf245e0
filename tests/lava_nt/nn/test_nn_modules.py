"""Module behaviour: argument validation, dtypes, registration, no state leak, volumetric groups,
spec round trips, recording and the Figure-3 plot, light import."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from norse.torch.module.snn import SNNCell

from lava_nt.nn import (
    NTLIF,
    NTLayer,
    NTLIFCell,
    NTNetwork,
    SpikingBias,
    make_mask,
    make_spike_fn,
    plot_bias_current,
)
from lava_nt.spec import NTLIFParameters, ParameterError


@pytest.mark.parametrize(
    "factory,name",
    [
        (lambda: NTLIFCell(4, dvv=0.1), "dvv"),
        (lambda: NTLIFCell(4, dv=1.5), "dv"),
        (lambda: NTLIFCell(4, du=-0.1), "du"),
        (lambda: NTLIFCell(4, vth=0.0), "vth"),
        (lambda: NTLIFCell(4, reset="hard"), "reset"),
        (lambda: NTLIFCell(4, bias=[0.1, 0.2, 0.3]), "bias"),
        (lambda: NTLIFCell(4, gain=[1.0, float("nan"), 1.0, 1.0]), "gain"),
        (lambda: NTLIFCell(4, k=0), "k"),
        (lambda: NTLIFCell(4, param_shape=(2, 1, 3)), "param_shape"),
        (lambda: NTLIFCell(4, surrogate="sigmoidish"), "sigmoidish"),
        (lambda: NTLIFCell(4, alpha=-1.0), "alpha"),
        (lambda: SpikingBias(5, 8, m=3), "group"),
        (lambda: SpikingBias(5, 8, sparsity=1.0), "sparsity"),
        (lambda: SpikingBias(5, 8, c_retention=1.2), "c_retention"),
        (lambda: SpikingBias(5, 8, m=2, group=[0, 0, 0, 1, 1, 1, 2, 2]), "group"),
        (lambda: SpikingBias(5, 8, w_in=np.zeros((8, 4))), "w_in"),
        (lambda: SpikingBias(5, 8, mask=np.ones((8, 4), bool)), "mask"),
        (lambda: SpikingBias(5, 8, w_bb=1.0), "w_bb"),
        (lambda: NTLayer(5, 8, weight=np.zeros((5, 8))), "weight"),
        (lambda: NTLayer(5, 8, spiking_bias=SpikingBias(5, 7)), "spiking bias"),
        (lambda: NTLayer(5, 8, vth_b=1.0), "vth_b"),
        (lambda: NTNetwork([NTLayer(5, 8), NTLayer(7, 3)]), "layer 1"),
        (lambda: make_spike_fn("nope"), "nope"),
    ],
)
def test_bad_arguments_raise_parameter_error(factory, name):
    with pytest.raises(ParameterError, match=name):
        factory()


def test_misspelt_name_suggests_the_right_one():
    with pytest.raises(ParameterError, match="Did you mean 'trainable_gain'"):
        NTLIFCell(3, trainable_gian=True)


def test_cell_is_a_norse_snncell_with_registered_tensors():
    cell = NTLIFCell(4, dv=0.1, bias=[0.1, 0.2, 0.3, 0.4], trainable_gain=True)
    assert isinstance(cell, SNNCell)
    assert dict(cell.named_parameters()).keys() == {"bias", "gain"}
    assert {"du", "dv", "vth"} <= set(dict(cell.named_buffers()))
    assert {"bias", "gain", "du", "dv", "vth"} <= set(cell.state_dict())
    assert isinstance(cell.p, NTLIFParameters)
    cell = cell.double()
    assert cell.du.dtype == cell.bias.dtype == cell.p.vth.dtype == torch.float64
    frozen = NTLIFCell(4)  # no bias: nothing trainable
    assert list(frozen.parameters()) == []
    frozen.set_trainable(bias=True, gain=True)
    assert dict(frozen.named_parameters()).keys() == {"bias", "gain"}
    frozen.set_trainable(gain=False)
    assert dict(frozen.named_parameters()).keys() == {"bias"}


def test_initial_state_has_no_grad_and_no_leak(builders):
    cell = NTLIFCell(6, bias=0.3, dv=0.1)
    st = cell.initial_state(torch.zeros(2, 6))
    assert not st.u.requires_grad and not st.v.requires_grad
    a = torch.rand(2, 6) * 2
    z1, s1 = cell(a)
    z2, s2 = cell(a)
    assert torch.equal(z1, z2) and torch.equal(s1.v, s2.v)

    spec = builders.float_spec(1)
    net = NTNetwork.from_spec(spec)
    x = torch.from_numpy(builders.inputs(1, 25, 10, spec.n_in))
    o1, r1 = net(x, record=True)
    o2, r2 = net(x, record=True)
    assert torch.equal(o1, o2)
    for a_, b_ in zip(r1, r2, strict=True):
        for key in a_:
            assert (a_[key] is None and b_[key] is None) or torch.equal(a_[key], b_[key])
    # samples are independent: a batch equals its samples run one by one
    single = torch.cat([net(x[:, i : i + 1]) for i in range(3)], dim=1)
    assert torch.equal(single, o1[:, :3])
    # an explicit state continues the run: two halves equal one run
    h1, st = net(x[:12], return_state=True)
    h2 = net(x[12:], state=st)
    assert torch.equal(torch.cat([h1, h2]), o1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_float32_and_float64(builders, dtype):
    spec = builders.float_spec(0)
    net = NTNetwork.from_spec(spec, dtype=dtype)
    for t in list(net.parameters()) + [b for b in net.buffers() if b.is_floating_point()]:
        assert t.dtype == dtype
    x = torch.from_numpy(builders.inputs(0, 25, 20, spec.n_in)).to(dtype)
    out = net(x)
    assert out.dtype == dtype and set(out.unique().tolist()) <= {0.0, 1.0}
    out.sum().backward()
    assert net.layers[0].neuron.bias.grad.dtype == dtype
    ref = NTNetwork.from_spec(spec, dtype=torch.float64)(x.double())
    assert (out.double() == ref).float().mean() > 0.97  # float32 rounding may flip a few
    seq = NTLIF(5, dv=0.2, bias=0.4, dtype=dtype)
    z, st = seq(torch.rand(7, 3, 5, dtype=dtype))
    assert z.dtype == dtype and st.v.dtype == dtype


def test_volumetric_group_receives_one_shared_current():
    n, m, k = 24, 6, 4
    sb = SpikingBias(
        10,
        n,
        m=m,
        sparsity=0.85,
        seed=1,
        w_in_scale=3.0,
        w_b=torch.linspace(-1, 1, m),
        dtype=torch.float64,
    )
    assert sb.group.tolist() == np.repeat(np.arange(m), k).tolist()
    x = (torch.rand(25, 8, 10, generator=torch.Generator().manual_seed(2)) < 0.5).double()
    rec = sb.record(x)
    assert rec.current.shape == (25, 8, n) and rec.spikes.shape == (25, 8, m)
    assert rec.spikes.sum() > 20
    blocks = rec.current.reshape(25, 8, m, k)
    assert torch.equal(blocks, blocks[..., :1].expand_as(blocks))  # identical within a group
    assert torch.equal(blocks[-1, :, :, 0], rec.state.C)
    # and it is the bias neuron's own current C = c_retention C + w_b s_b
    C = torch.zeros(8, m, dtype=torch.float64)
    for t in range(25):
        C = sb.c_retention * C + sb.w_b * rec.spikes[t]
        assert torch.equal(blocks[t, :, :, 0], C)
    # explicit assignment
    group = np.random.default_rng(0).permutation(np.repeat(np.arange(m), k))
    sb2 = SpikingBias(10, n, group=group, w_in_scale=3.0, w_b=1.0, seed=1, dtype=torch.float64)
    assert sb2.m == m
    rec2 = sb2.record(x)
    for j in range(m):
        cols = rec2.current[..., group == j]
        assert torch.equal(cols, cols[..., :1].expand_as(cols))


def test_make_mask_exact_counts_and_seeded():
    m1 = make_mask(400, 160, 0.9, torch.Generator().manual_seed(0))
    m2 = make_mask(400, 160, 0.9, torch.Generator().manual_seed(0))
    assert int(m1.sum()) == 6400 and torch.equal(m1, m2)
    assert int(make_mask(40, 160, 0.85).sum()) == 960  # volumetric W_in: 960 + 40 w_b = 1000
    a = SpikingBias(160, 400, m=40, sparsity=0.85, seed=5, trainable_w_in=True)
    b = SpikingBias(160, 400, m=40, sparsity=0.85, seed=5, trainable_w_in=True)
    assert torch.equal(a.mask, b.mask) and torch.equal(a.w_in, b.w_in)
    assert a.n_trainable_w_in + a.w_b.numel() == 1000


def test_spec_round_trips_are_exact(builders):
    spec = builders.float_spec(1, explicit_group=True)
    net = NTNetwork.from_spec(spec)
    back = net.to_spec()
    for a, b in zip(spec.layers, back.layers, strict=True):
        np.testing.assert_array_equal(a.weight, b.weight)
        for f in ("du", "dv", "vth", "reset_subtract"):
            assert getattr(a.neuron, f) == getattr(b.neuron, f)
        for f in ("bias", "gain"):
            np.testing.assert_array_equal(
                np.broadcast_to(getattr(a.neuron, f), (a.n,)), getattr(b.neuron, f)
            )
        if a.spiking_bias is None:
            assert b.spiking_bias is None
            continue
        sa, sb = a.spiking_bias, b.spiking_bias
        np.testing.assert_array_equal(sa.w_in, sb.w_in)
        assert (sa.mask is None) == (sb.mask is None)
        if sa.mask is not None:
            np.testing.assert_array_equal(sa.mask, sb.mask)
        for f in ("du", "dv", "vth"):
            assert getattr(sa.params, f) == getattr(sb.params, f)
        for f in ("bias", "w_b", "c_retention"):
            np.testing.assert_array_equal(
                np.broadcast_to(getattr(sa.params, f), (sa.m,)), getattr(sb.params, f)
            )
        if sa.params.group is None:
            assert sb.params.group is None
        else:
            np.testing.assert_array_equal(sa.params.group, sb.params.group)
    # module -> spec -> module is the identity on the state dict
    again = NTNetwork.from_spec(back)
    sd1, sd2 = net.state_dict(), again.state_dict()
    assert sd1.keys() == sd2.keys()
    for key in sd1:
        assert torch.equal(sd1[key], sd2[key]), key
    with pytest.raises(ParameterError, match="fixed"):
        NTNetwork.from_spec(builders.fixed_spec(0))


def test_trained_c_retention_is_clamped_with_straight_through_gradient():
    sb = SpikingBias(
        4,
        4,
        w_b=1.0,
        c_retention=[0.0, 0.5, 1.0, 0.3],
        trainable_c_retention=True,
        vth=0.1,
        w_in=np.eye(4),
        dtype=torch.float64,
    )
    with torch.no_grad():
        sb.c_retention.copy_(torch.tensor([-0.2, 0.5, 1.3, 0.3], dtype=torch.float64))
    eff = sb.effective_c_retention()
    assert eff.tolist() == [0.0, 0.5, 1.0, 0.3]  # exact inside [0, 1], exact clamp outside
    rec = sb.record(torch.ones(5, 1, 4, dtype=torch.float64))
    rec.current.sum().backward()
    assert torch.all(sb.c_retention.grad[1:] != 0)  # out-of-range values still get gradient
    np.testing.assert_array_equal(sb.to_parameters().c_retention, [0.0, 0.5, 1.0, 0.3])
    sb.constrain_()
    assert sb.c_retention.tolist() == [0.0, 0.5, 1.0, 0.3]


def test_ntlayer_bias_flags_and_trainable_summary():
    lay = NTLayer(6, 5, bias=False)
    assert dict(lay.named_parameters()).keys() == {"linear.weight"}
    lay = NTLayer(6, 5, bias=True, trainable_gain=True, trainable_weight=False)
    assert {n for n, p in lay.named_parameters() if p.requires_grad} == {
        "neuron.bias",
        "neuron.gain",
    }
    net = NTNetwork(
        [
            NTLayer(
                160,
                400,
                spiking_bias=SpikingBias(
                    160, 400, m=40, sparsity=0.85, seed=0, trainable_w_in=True
                ),
            ),
            NTLayer(400, 800),
            NTLayer(800, 100),
        ]
    )
    net.set_trainable(weight=False, bias=False)
    assert net.trainable_summary()["total"] == 1000  # the thesis' volumetric count
    net.set_trainable(bias=True, w_in=False, w_b=False)
    assert net.trainable_summary()["total"] == 1300  # NT2 / traditional bias tuning


def test_record_and_plot_bias_current():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sb = SpikingBias(8, 8, w_b=0.7, c_retention=0.8, w_in_scale=2.0, seed=3, dtype=torch.float64)
    x = (torch.rand(25, 2, 8, generator=torch.Generator().manual_seed(0)) < 0.4).double()
    with torch.no_grad():
        rec = sb.record(x)
    busiest = int(rec.spikes[:, 1].sum(0).argmax())
    cur, spk = sb.neuron_trace(rec, neuron=busiest, sample=1)
    assert cur.shape == spk.shape == (25,)
    ax = plot_bias_current(cur, spk)
    assert len(ax.lines) == 1 + int(spk.sum())  # the current + one red line per bias spike
    assert int(spk.sum()) > 0
    red = [ln for ln in ax.lines if ln.get_color() == "red"]
    assert [ln.get_xdata()[0] for ln in red] == torch.nonzero(spk).flatten().tolist()
    plt.close("all")
    with pytest.raises(ParameterError, match="1-D"):
        plot_bias_current(rec.current, rec.spikes)


def test_import_is_light():
    code = (
        "import sys, lava_nt.nn; "
        "assert 'torch' not in sys.modules and 'norse' not in sys.modules, 'heavy import'; "
        "assert {'NTLIFCell', 'NTNetwork', 'emulate_fixed'} <= set(lava_nt.nn.__all__)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_lazy_exports_resolve():
    import lava_nt.nn as nn_pkg
    from lava_nt.nn.ntlif import NTLIFCell as direct

    assert nn_pkg.NTLIFCell is direct
    with pytest.raises(AttributeError):
        nn_pkg.does_not_exist  # noqa: B018

"""The static-input fast path equals feeding the repeated input (spikes, records, gradients)."""

import torch

from lava_nt.builder import build_network
from lava_nt.nn.network import NTNetwork
from lava_nt.nn.spiking_bias import SpikingBias
from lava_nt.tuning import apply_tuning


def test_forward_static_equals_repeated_input_with_spiking_bias():
    torch.manual_seed(0)
    net = build_network(30, [24, 16], population=4, dtype=torch.float64, seed=2)
    apply_tuning(net, "volumetric", layers=[0, 1], group_size=4, input_sparsity=0.5,
                 spiking_bias_kwargs={"w_b": 0.3, "dv": 0.2, "w_in_scale": 3.0})  # fmt: skip
    assert isinstance(net.layers[0].spiking_bias, SpikingBias)
    x = (torch.rand(12, 30) < 0.4).double()
    T = 20
    out_a, rec_a = net.forward_static(x, T, record=True)
    out_b, rec_b = net(x.expand(T, *x.shape), record=True)
    assert out_a.sum() > 0 and rec_a[0]["bias_spikes"].sum() > 0
    assert torch.equal(out_a, out_b)
    for ra, rb in zip(rec_a, rec_b, strict=True):
        for key in ("spikes", "bias_current", "bias_spikes"):
            if ra[key] is None:  # the output layer has no spiking bias
                assert rb[key] is None
            else:
                assert torch.equal(ra[key], rb[key]), key
    grads = []
    for out in (net.forward_static(x, T), net(x.expand(T, *x.shape))):
        net.zero_grad()
        out.sum().backward()
        grads.append([p.grad.clone() for p in net.parameters() if p.requires_grad])
    for ga, gb in zip(*grads, strict=True):
        torch.testing.assert_close(ga, gb, rtol=0, atol=1e-12)


def test_forward_static_rejects_bad_input():
    import pytest

    from lava_nt.spec.validation import ParameterError

    net = NTNetwork.from_sizes([5, 3])
    with pytest.raises(ParameterError, match=r"static input must be \[..., 5\]"):
        net.forward_static(torch.zeros(2, 4), 10)
    with pytest.raises(ParameterError, match="'T' must be a positive int"):
        net.forward_static(torch.zeros(2, 5), 0)

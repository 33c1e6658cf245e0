"""torch.compile compatibility without running inductor (which costs minutes on this CPU):
dynamo traces the cells, the network with spiking biases and the surrogate with zero graph
breaks, and eager / aot_eager compiled runs equal the eager module (forward and gradients)."""

from __future__ import annotations

import pytest
import torch

from lava_nt.nn import NTLayer, NTLIFCell, NTNetwork, SpikingBias


@pytest.fixture(autouse=True)
def _reset_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _full_net(builders):
    spec = builders.float_spec(0, explicit_group=True)
    return NTNetwork.from_spec(
        spec, trainable_gain=True, trainable_w_in=True, trainable_c_retention=True
    )


def test_network_traces_without_graph_breaks(builders):
    net = _full_net(builders)
    x = torch.from_numpy(builders.inputs(0, 5, 4, net.n_in))

    def loss_fn(x):
        out, recs = net(x, record=True)
        cur = sum(r["bias_current"].sum() for r in recs if r["bias_current"] is not None)
        return out.sum() + cur

    ex = torch._dynamo.explain(loss_fn)(x)
    assert ex.graph_break_count == 0, ex.break_reasons
    assert ex.graph_count == 1


@pytest.mark.parametrize("surrogate", ["super", "atan"])
def test_cell_step_and_batched_params_trace_without_graph_breaks(surrogate):
    cell = NTLIFCell(5, bias=0.2, dv=0.1, reset="subtract", k=3, surrogate=surrogate)
    sb = SpikingBias(4, 5, w_b=0.5, k=3, surrogate=surrogate)

    def step(a, s_in):
        c, sb_state = sb(s_in)  # state=None: fresh zeros inside the graph
        z, st = cell(a, c=c)
        z, st = cell(a, st, c=c)
        return z.sum() + st.v.sum() + sb_state.C.sum()

    ex = torch._dynamo.explain(step)(torch.rand(3, 2, 5), torch.rand(3, 2, 4))
    assert ex.graph_break_count == 0, ex.break_reasons


def test_compiled_eager_backend_matches_eager(builders):
    net = _full_net(builders)
    x = torch.from_numpy(builders.inputs(1, 6, 8, net.n_in))
    out = net(x)
    out.sum().backward()
    grads = {n: p.grad.clone() for n, p in net.named_parameters()}
    net.zero_grad()
    cnet = torch.compile(net, backend="eager", fullgraph=True)
    out_c = cnet(x)
    out_c.sum().backward()
    assert torch.equal(out_c, out)
    for n, p in net.named_parameters():
        assert torch.equal(p.grad, grads[n]), n


def test_compiled_aot_eager_layer_matches_eager():
    """aot_eager traces the backward too (the surrogate's setup_context path)."""
    g = torch.Generator().manual_seed(0)
    layer = NTLayer(
        6,
        8,
        bias=torch.rand(8, generator=g) * 0.3,
        dv=0.2,
        reset="subtract",
        spiking_bias=SpikingBias(6, 8, m=2, w_b=0.4, sparsity=0.5, seed=1, trainable_w_in=True),
        dtype=torch.float64,
    )
    x = (torch.rand(4, 3, 6, generator=g) < 0.5).double()

    def run(x):
        z, _, rec = layer.run(x, record=True)
        return z.sum() + rec["bias_current"].sum()

    loss = run(x)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in layer.named_parameters()}
    layer.zero_grad()
    loss_c = torch.compile(run, backend="aot_eager", fullgraph=True)(x)
    loss_c.backward()
    assert torch.equal(loss_c, loss)
    for n, p in layer.named_parameters():
        torch.testing.assert_close(p.grad, grads[n], rtol=1e-12, atol=1e-12)

"""Abstracted gradients (lava_nt.training.abstracted): the bridge's backward, the M rules, the
network wrapper (eager and fused) and the trainer option."""

from dataclasses import asdict

import pytest
import torch

from lava_nt.builder import build_network
from lava_nt.nn.fused import FusedNTNetwork
from lava_nt.spec.validation import ParameterError
from lava_nt.training import AbstractedNetwork, TrainConfig, train
from lava_nt.training.abstracted import (
    abstract_block,
    block_matrix,
    bridge,
    check_blocks,
    derived_matrix,
    identity_matrix,
)
from lava_nt.training.config import comparable
from lava_nt.tuning import apply_tuning

D = torch.float64


def _g(seed):
    return torch.Generator().manual_seed(seed)


def test_bridge_gradient_is_g_out_times_m_transposed_exactly():
    x = torch.randn(5, 7, dtype=D, generator=_g(0), requires_grad=True)
    w = torch.randn(4, 7, dtype=D, generator=_g(1), requires_grad=True)
    m = torch.randn(7, 4, dtype=D, generator=_g(2))
    g_out = torch.randn(5, 4, dtype=D, generator=_g(3))
    y = torch.tanh(x.detach() @ w.T)
    out = bridge(x, y, m)
    assert torch.equal(out, y)
    (out * g_out).sum().backward()
    assert torch.equal(x.grad, g_out @ m.T)
    # the block's parameter gets the ordinary gradient from G_out
    w2 = w.detach().clone().requires_grad_(True)
    (torch.tanh(x.detach() @ w2.T) * g_out).sum().backward()
    assert torch.equal(w.grad, w2.grad)


def test_identity_pads_and_truncates():
    for d_in, d_out in ((6, 4), (3, 5), (4, 4)):
        x = torch.randn(2, 3, d_in, dtype=D, generator=_g(d_in), requires_grad=True)
        y = torch.randn(2, 3, d_out, dtype=D, generator=_g(d_out), requires_grad=True)
        g = torch.randn(2, 3, d_out, dtype=D, generator=_g(9))
        (bridge(x, y, block_matrix(x, y, "identity")) * g).sum().backward()
        k = min(d_in, d_out)
        assert torch.equal(x.grad[..., :k], g[..., :k])
        assert not x.grad[..., k:].any()  # zero padding where d_in > d_out
        assert torch.equal(x.grad, g @ identity_matrix(d_in, d_out, dtype=D).T)
        assert torch.equal(y.grad, g)


def _mlp(seed, sizes, bias=True):
    torch.manual_seed(seed)
    return [
        torch.nn.Linear(a, b, bias=bias, dtype=D) for a, b in zip(sizes, sizes[1:], strict=False)
    ]


def _run_mlp(layers, x, block=None, matrix=None, fixed_m=None):
    """ReLU MLP; ``block = (first, last)`` abstracted (with ``fixed_m`` if given)."""
    s, k = x, 0
    while k < len(layers):
        if block is not None and k == block[0]:
            seg = layers[block[0] : block[1] + 1]

            def run(v, seg=seg):
                for lin in seg:
                    v = torch.relu(lin(v))
                return v

            if fixed_m is not None:
                y = run(s.detach())
                s = bridge(s, y, fixed_m)
            else:
                s = abstract_block(s, run, matrix)
            k = block[1] + 1
            continue
        s = layers[k](s)
        s = torch.relu(s) if k < len(layers) - 1 else s
        k += 1
    return s


def _grads(layers, loss):
    for lin in layers:
        for p in lin.parameters():
            p.grad = None
    loss.backward()
    return [p.grad.clone() for lin in layers for p in lin.parameters()]


def test_true_jacobian_of_a_linear_block_gives_plain_backprop():
    layers = _mlp(0, [6, 8, 5, 3], bias=False)
    x = torch.randn(10, 6, dtype=D, generator=_g(4))
    y = torch.randint(0, 3, (10,), generator=_g(5))
    # a linear block: layer 1 without its ReLU -> a Linear block, Jacobian W^T as M
    blk = layers[1]

    def net(m=None):
        h = torch.relu(layers[0](x))
        out = bridge(h, blk(h.detach()), m) if m is not None else blk(h)
        return torch.nn.functional.cross_entropy(layers[2](torch.relu(out)), y)

    plain = _grads(layers, net())
    true_m = _grads(layers, net(blk.weight.detach().T))
    for a, b in zip(plain, true_m, strict=True):
        assert torch.allclose(a, b, rtol=0, atol=1e-14)
    # the derived M of a linear block (batch of full column rank) is the Jacobian too
    h = torch.relu(layers[0](x)).detach()
    assert torch.allclose(derived_matrix(h, blk(h)), blk.weight.detach().T, atol=1e-12)


def test_derived_m_reproduces_a_relu_block_output():
    layers = _mlp(1, [12, 10, 9, 4], bias=True)

    def block(v):
        for lin in layers:
            v = torch.relu(lin(v))
        return v

    # batch smaller than the block input: the least-squares system is solved exactly
    l_i = torch.rand(8, 12, dtype=D, generator=_g(6))
    l_j = block(l_i).detach()
    assert torch.allclose(l_i @ derived_matrix(l_i, l_j), l_j, atol=1e-12)
    # one linear region for the whole batch (no biases, positive weights and inputs: every
    # unit active): M^T is the block's Jacobian although the batch is larger than d_i
    pos = _mlp(2, [5, 6, 4], bias=False)
    with torch.no_grad():
        for lin in pos:
            lin.weight.abs_()
    l_i = torch.rand(40, 5, dtype=D, generator=_g(7))
    l_j = torch.relu(pos[1](torch.relu(pos[0](l_i)))).detach()
    jac = pos[1].weight.detach() @ pos[0].weight.detach()
    assert torch.allclose(derived_matrix(l_i, l_j), jac.T, atol=1e-12)
    # rank deficiency (duplicate samples, a dead input unit) is the minimum-norm solution
    l_i = torch.rand(6, 5, dtype=D, generator=_g(8))
    l_i[3] = l_i[0]
    l_i[:, 2] = 0
    l_j = torch.rand(6, 3, dtype=D, generator=_g(9))
    m = derived_matrix(l_i, l_j)
    assert m[2].abs().max() < 1e-14  # nothing for the dead unit
    min_norm = torch.linalg.lstsq(l_i, l_j, driver="gelsd").solution
    assert torch.allclose(m, min_norm, atol=1e-12)


def test_block_and_later_parameters_get_exactly_their_backprop_gradient():
    layers = _mlp(3, [9, 8, 7, 6, 3])
    x = torch.randn(16, 9, dtype=D, generator=_g(10))
    y = torch.randint(0, 3, (16,), generator=_g(11))
    plain = _grads(layers, torch.nn.functional.cross_entropy(_run_mlp(layers, x), y))
    for matrix in ("derived", "identity"):
        out = _run_mlp(layers, x, block=(1, 2), matrix=matrix)
        abst = _grads(layers, torch.nn.functional.cross_entropy(out, y))
        for a, b in zip(plain[2:], abst[2:], strict=True):  # layers 1, 2 (the block) and 3
            assert torch.equal(a, b)
        assert not torch.allclose(plain[0], abst[0])  # layer 0 learns through M


def _snn(seed=0, dtype=D):
    return build_network(12, [10, 8, 6], n_classes=2, population=3, beta=0.8, seed=seed,
                         dtype=dtype)  # fmt: skip


def _spikes(T=6, B=5, n=12, seed=0, dtype=D):
    return (torch.rand(T, B, n, generator=_g(seed)) < 0.4).to(dtype)


def _snn_grads(model, net, x, static_T=None, weight=None):
    net.zero_grad(set_to_none=True)
    out = model(x, record=True) if static_T is None else model.forward_static(x, static_T, True)
    s, recs = out
    w = weight if weight is not None else torch.linspace(-1, 1, s.shape[-1], dtype=s.dtype)
    ((s * w).sum() + 0.1 * sum(r["spikes"].sum() for r in recs)).backward()
    return {k: p.grad.clone() for k, p in net.named_parameters() if p.grad is not None}, s


@pytest.mark.parametrize("fused", [False, True])
def test_network_forward_is_unchanged_and_block_gradients_are_backprop(fused):
    net = _snn()
    model = FusedNTNetwork(net) if fused else net
    x = _spikes()
    plain, s_plain = _snn_grads(model, net, x)
    abst_model = AbstractedNetwork(model, [(1, 2)], "derived")
    abst, s_abst = _snn_grads(abst_model, net, x)
    assert torch.equal(s_plain, s_abst)
    ref, _ = _snn_grads(net, net, x)  # the eager network's plain gradients
    for name, g in abst.items():
        layer = int(name.split(".")[1])
        if layer >= 1:  # the block (1, 2) and the layer after it: plain backprop
            assert torch.allclose(g, plain[name], rtol=0, atol=1e-10), name
            assert torch.allclose(g, ref[name], rtol=0, atol=1e-10), name
    assert not torch.allclose(abst["layers.0.linear.weight"], plain["layers.0.linear.weight"])
    # static input held T steps: the same values
    xs = _spikes(T=1)[0]
    a, sa = _snn_grads(abst_model, net, xs, static_T=6)
    b, sb = _snn_grads(AbstractedNetwork(net, [(1, 2)]), net, xs[None].expand(6, -1, -1))
    assert torch.equal(sa, sb)
    for name in a:
        assert torch.allclose(a[name], b[name], rtol=0, atol=1e-10), name


def test_spiking_block_passes_g_out_times_m_at_every_step():
    net = _snn(1)
    x = _spikes(seed=2)
    model = AbstractedNetwork(net, [(1, 2)], "derived")
    s, recs = model(x, record=True)
    g_in, g_out = recs[0]["spikes"], recs[2]["spikes"]  # the block's input and bridged output
    g_in.retain_grad()
    g_out.retain_grad()
    (s * torch.linspace(-1, 1, s.shape[-1], dtype=D)).sum().backward()
    m = derived_matrix(recs[0]["spikes"].detach().sum(0), recs[2]["spikes"].detach().sum(0))
    assert torch.allclose(g_in.grad, g_out.grad @ m.T, rtol=0, atol=1e-12)
    assert g_out.grad.abs().sum() > 0


def test_blocks_are_validated():
    assert check_blocks([[3, 4], (1, 2)], 5) == ((1, 2), (3, 4))
    for bad, match in (
        ([(0, 2)], "must start at layer 1 or later"),
        ([(2, 1)], "ends before it starts"),
        ([(1, 3), (3, 4)], "overlap"),
        ([(1, 5)], "the network has 5 layers"),
        ([(1,)], "pair of layer indices"),
        ([(1.0, 2)], "pair of layer indices"),
        ("1-2", "list of"),
    ):
        with pytest.raises(ParameterError, match=match):
            check_blocks(bad, 5)
    with pytest.raises(ParameterError, match="TrainConfig: 'abstract'.*layer 1 or later"):
        TrainConfig(abstract=[(0, 1)])
    with pytest.raises(ParameterError, match="'abstract_matrix': must be one of derived"):
        TrainConfig(abstract=[(1, 1)], abstract_matrix="random")
    with pytest.raises(ParameterError, match="network has 4 layers"):
        AbstractedNetwork(_snn(), [(1, 4)])
    with pytest.raises(ParameterError, match="NTNetwork or a FusedNTNetwork"):
        AbstractedNetwork(torch.nn.Linear(3, 3), [(1, 1)])
    with pytest.raises(ParameterError, match="no block"):
        AbstractedNetwork(_snn(), [])
    with pytest.raises(ParameterError, match="must be \\[3, 2\\]"):
        bridge(torch.zeros(4, 3), torch.zeros(4, 2), torch.zeros(2, 3))


def _task(seed=0, n=64, n_in=12):
    g = _g(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    p = torch.full((n, n_in), 0.15)
    p[y == 0, : n_in // 2] = 0.6
    p[y == 1, n_in // 2 :] = 0.6
    return (torch.rand(n, n_in, generator=g) < p).float(), y


CFG = dict(epochs=3, lr=5e-3, batch_size=16, T=8, seed=3, select="last")


def test_trainer_option_is_deterministic_resumable_and_changes_the_result(tmp_path):
    data = _task()
    cfg = TrainConfig(**CFG, abstract=[(1, 2)], abstract_matrix="derived")

    def fresh():
        return build_network(12, [10, 8, 6], n_classes=2, population=3, beta=0.8, seed=4)

    a, b, c, plain = fresh(), fresh(), fresh(), fresh()
    ra = train(a, data, cfg, run_dir=tmp_path / "a")
    rb = train(FusedNTNetwork(b), data, cfg)
    train(plain, data, TrainConfig(**CFG))
    assert ra.history[-1]["train_loss"] == pytest.approx(rb.history[-1]["train_loss"], rel=1e-4)
    train(fresh(), data, cfg, run_dir=tmp_path / "c", stop_after_epoch=0)
    rc = train(c, data, cfg, run_dir=tmp_path / "c")  # resumed after a "kill"
    assert rc.history == ra.history
    for (name, p), q in zip(a.state_dict().items(), c.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
    w = "layers.0.linear.weight"
    assert not torch.equal(a.state_dict()[w], plain.state_dict()[w])
    # resuming with another abstraction is refused, naming the fields
    with pytest.raises(ParameterError, match="differs in abstract_matrix"):
        other = TrainConfig(**CFG, abstract=[(1, 2)], abstract_matrix="identity")
        train(fresh(), data, other, run_dir=tmp_path / "a")


def test_older_checkpoints_without_the_fields_still_compare_equal():
    cfg = asdict(TrainConfig(**CFG))
    old = {k: v for k, v in cfg.items() if k not in ("abstract", "abstract_matrix")}
    assert comparable(old) == comparable(cfg)
    assert comparable(asdict(TrainConfig(**CFG, abstract=[(1, 1)]))) != comparable(old)


def test_unsupported_combinations_are_refused():
    data = _task()
    with pytest.raises(ParameterError, match="compile=True does not combine"):
        train(_snn(dtype=torch.float32), data, TrainConfig(**CFG, abstract=[(1, 1)],
                                                           compile=True))  # fmt: skip
    from lava_nt.personalise import personalise_batched

    net = _snn(dtype=torch.float32)
    apply_tuning(net, "nt2")
    with pytest.raises(ParameterError, match="personalise_batched: abstracted gradients"):
        personalise_batched(net, [data, data], TrainConfig(**CFG, abstract=[(1, 1)]))
    net.expand_parameters(2)
    with pytest.raises(ParameterError, match="batched \\(per-person\\) parameters"):
        AbstractedNetwork(net, [(1, 1)])


@pytest.mark.parametrize("matrix", ["derived", "identity"])
def test_fused_abstracted_network_equals_the_eager_one(matrix):
    net = _snn(2)
    x = _spikes(seed=3)
    eager, s_e = _snn_grads(AbstractedNetwork(net, [(1, 1), (2, 3)], matrix), net, x)
    fused, s_f = _snn_grads(
        AbstractedNetwork(FusedNTNetwork(net), [(1, 1), (2, 3)], matrix), net, x
    )
    assert torch.equal(s_e, s_f)
    assert eager.keys() == fused.keys()
    for name in eager:  # every layer, the ones before each block included
        assert torch.allclose(eager[name], fused[name], rtol=0, atol=1e-10), name

"""The trainer on networks that end in a non-spiking readout (imported netx / NIR networks): the
loss is the readout's cross-entropy, the fused path runs the readout, graded input is accepted
for networks built for it, and the tuned network learns a task."""

import numpy as np
import pytest
import torch

from lava_nt.commands.train import _fused
from lava_nt.nn.fused import FusedNTNetwork
from lava_nt.nn.layer import NTLayer
from lava_nt.nn.network import NTNetwork
from lava_nt.nn.readout import Readout, readout_loss
from lava_nt.spec.validation import ParameterError
from lava_nt.training import TrainConfig, evaluate, loss_and_counts, readout_of, train
from lava_nt.tuning import apply_tuning

N_IN, N_HID, N_CLS = 16, 24, 3


def _net(seed=0, graded=True, reduce="last", du=0.0, dv=1.0):
    torch.manual_seed(seed)
    layers = [
        NTLayer(N_IN, N_HID, du=1.0, dv=0.2, vth=1.0, dtype=torch.float64),
        NTLayer(N_HID, N_HID, du=0.5, dv=0.1, vth=1.0, dtype=torch.float64),
    ]
    with torch.no_grad():
        layers[0].linear.weight.mul_(3.0)
        layers[1].linear.weight.mul_(4.0)
    ro = Readout(N_HID, N_CLS, du=du, dv=dv, reduce=reduce, dtype=torch.float64)
    return NTNetwork(layers, readout=ro, input="graded" if graded else "spikes")


def _task(seed=0, n=120):
    """Graded static task: class c has inputs [c*5, c*5+5) brighter."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, N_CLS, (n,), generator=g)
    x = torch.rand(n, N_IN, generator=g, dtype=torch.float64) * 0.4
    for c in range(N_CLS):
        x[y == c, c * 5 : c * 5 + 5] += 0.8
    return x, y


def test_loss_is_the_readout_cross_entropy_plus_the_spiking_layers_penalty():
    net = _net()
    x, y = _task(n=10)
    cfg = TrainConfig(T=12, n_classes=N_CLS, spike_l1=0.5)
    loss, logits = loss_and_counts(net, x, y, cfg)
    out, recs = net.forward_static(x, 12, record=True)
    values = net.readout.values(out)
    torch.testing.assert_close(logits, values)
    rate = sum(r["spikes"].abs().mean() for r in recs) / len(recs)
    torch.testing.assert_close(loss, readout_loss(values, y) + 0.5 * rate)
    # each reduction is honoured
    for how in ("mean", "max"):
        net.readout.reduce = how
        _, logits = loss_and_counts(net, x, y, cfg)
        torch.testing.assert_close(logits, net.readout.values(out))


def test_fused_network_runs_the_readout():
    net = _net(du=0.3, dv=0.4)
    fused = FusedNTNetwork.from_network(net)
    assert readout_of(fused) is net.readout
    x, _ = _task(n=6)
    xs = x.unsqueeze(0).expand(9, *x.shape)
    with torch.no_grad():
        torch.testing.assert_close(fused(xs), net(xs), rtol=0, atol=1e-12)
        a, ra = fused.forward_static(x, 9, record=True)
        b, rb = net.forward_static(x, 9, record=True)
    assert a.shape == (9, 6, N_CLS)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    for p, q in zip(ra, rb, strict=True):
        assert torch.equal(p["spikes"], q["spikes"])


def test_tuning_the_biases_of_a_graded_readout_network_learns_the_task(tmp_path):
    net = _net(seed=3)
    x, y = _task(0)
    xv, yv = _task(1, n=90)
    cfg = TrainConfig(epochs=8, lr=3e-2, batch_size=16, T=12, n_classes=N_CLS, spike_l1=0.0)
    rep = apply_tuning(net, ["nt2"])
    assert rep.total == 2 * N_HID and not net.readout.linear.weight.requires_grad
    before = evaluate(net, xv, yv, cfg)
    frozen = {k: v.clone() for k, v in net.state_dict().items() if "bias" not in k}
    res = train(_fused(net), (x, y), cfg, val_data=(xv, yv), run_dir=tmp_path)
    after = evaluate(net, xv, yv, cfg)
    assert after["loss"] < before["loss"] and after["acc"] > before["acc"], (before, after)
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
    for k, v in net.state_dict().items():  # weights (readout included) stayed frozen
        if k in frozen:
            assert torch.equal(v, frozen[k]), k


def test_graded_data_is_refused_for_a_spike_network_and_readout_settings_are_checked():
    x, y = _task(n=8)
    cfg = TrainConfig(epochs=1, T=5, n_classes=N_CLS)
    spiking = _net(graded=False)
    apply_tuning(spiking, ["nt2"])
    with pytest.raises(ParameterError, match="binary spikes"):
        train(spiking, (x, y), cfg, val_data=(x, y))
    net = _net()
    apply_tuning(net, ["nt2"])
    with pytest.raises(ParameterError, match="loss='ce'"):
        train(net, (x, y), TrainConfig(epochs=1, T=5, n_classes=N_CLS, loss="mse"), (x, y))
    with pytest.raises(ParameterError, match=r"TrainConfig\(n_classes=2\) but the model has 3"):
        train(net, (x, y % 2), TrainConfig(epochs=1, T=5, n_classes=2), (x, y % 2))


def test_population_coded_loss_is_unchanged():
    """A network without readout keeps the population spike-count cross-entropy."""
    torch.manual_seed(0)
    net = NTNetwork([NTLayer(N_IN, 6, du=1.0, dv=0.2, dtype=torch.float64)])
    assert readout_of(net) is None
    x = (torch.rand(20, N_IN) < 0.5).double()
    y = torch.randint(0, 3, (20,))
    cfg = TrainConfig(T=7, n_classes=3, spike_l1=0.25)
    loss, counts = loss_and_counts(net, x, y, cfg)
    out, recs = net.forward_static(x, 7, record=True)
    want = out.sum(0).reshape(20, 3, 2).sum(-1)
    torch.testing.assert_close(counts, want)
    rate = sum(r["spikes"].abs().mean() for r in recs) / len(recs)
    expected = torch.nn.functional.cross_entropy(want, y) + 0.25 * rate
    assert float(loss.detach()) == float(expected.detach())
    assert np.isfinite(float(loss.detach()))

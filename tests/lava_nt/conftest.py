"""Shared checks of the QAT tests (test_qat, test_qat_delays, test_qat_readout,
test_qat_readout_cli).

pytest's importlib mode cannot import a conftest, so the helpers come through the
``qat_checks`` fixture.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lava_nt.cli import main
from lava_nt.nn.fixed_emulator import run_fixed


def two_class_data(path, n: int, seed: int, n_in: int, T: int, graded: bool) -> str:
    """Write ``n`` static samples held ``T`` steps to ``path`` (.npz): two classes, the first or
    the second half of the inputs is more active; spikes, or real values for ``graded``."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.where(y[:, None] == 1, np.linspace(0.1, 0.7, n_in), np.linspace(0.7, 0.1, n_in))
    x = rng.random((n, n_in)) * p * 1.5 if graded else (rng.random((n, n_in)) < p).astype(np.uint8)
    np.savez(path, x=x, y=y, T=np.int64(T))
    return str(path)


def tune_qat(capsys, model, train: str, out) -> str:
    """``lava-nt tune MODEL --train TRAIN --method nt2 --qat`` (2 epochs) writing ``out``; checks
    that the command reports its fixed-point network bit for bit equal to the training forward
    and returns the printed text."""
    argv = ["tune", str(model), "--train", train, "--method", "nt2", "--qat", "--epochs", "2",
            "--lr", "3e-2", "--no-progress", "--checkpoint-every", "0",
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "bit for bit" in text and "NOT" not in text
    return text


def evaluate_lava_fixed(model, test: str, res) -> dict:
    """``lava-nt evaluate MODEL --engine lava-fixed`` on ``test``; checks that Lava ran the QAT
    training forward exactly (every layer, the outputs and the decisions) with active layers,
    and returns the written result."""
    ev = ["evaluate", str(model), "--data", test, "--engine", "lava-fixed", "--out", str(res)]
    assert main(ev) == 0
    result = json.loads(res.read_text())
    assert result["qat"] is True and result["engine"] == "lava-fixed"
    ref = result["agreement"]["torch_qat"]
    assert ref["identical"] is True and ref["prediction_agreement"] == 1.0
    assert ref["output_match"] == 1.0 and all(m == 1.0 for m in ref["layer_match"])
    assert 0.0 < min(result["spike_rates"]) and max(result["spike_rates"]) < 1.0
    return result


def assert_qat_is_emulator(qat, x: torch.Tensor, static_T: int | None = None):
    """The QAT forward (recording) equals :func:`~lava_nt.nn.fixed_emulator.run_fixed` of its
    fixed-point network on the integer input, bit for bit: the output (spikes or readout trace),
    every layer's spikes and, where the layer has a spiking bias, its current and spikes (none
    where it has none). ``x`` is a sequence, or a static input held ``static_T`` steps. Returns
    ``(output, per-layer spike rates)``."""
    with torch.no_grad():
        if static_T is None:
            out, recs = qat(x, record=True)
            xs = x
        else:
            out, recs = qat.forward_static(x, static_T, record=True)
            xs = x.expand(static_T, *x.shape)
    emu = run_fixed(qat.to_fixed_spec(), qat.fixed_input(xs).to(torch.int64), record=True)
    assert emu.has_readout == (qat.readout is not None)
    assert torch.equal(out, emu.output.to(out.dtype))
    rates = []
    for k, (r, e) in enumerate(zip(recs, emu.layers, strict=True)):
        assert torch.equal(r["spikes"].to(torch.int64), e["spikes"]), f"layer {k}"
        rates.append(float(r["spikes"].mean()))
        if e["bias_current"] is None:
            assert r["bias_current"] is None, f"layer {k}"
            continue
        assert torch.equal(r["bias_current"].to(torch.int64), e["bias_current"]), f"layer {k}"
        assert torch.equal(r["bias_spikes"].to(torch.int64), e["bias_spikes"]), f"layer {k}"
    return out, rates


def qat_grads(qat, x: torch.Tensor, engine: str, bias_terms: bool = False) -> dict:
    """``{parameter: gradient}`` of a loss over every layer's spikes (and, with ``bias_terms``,
    a tiny term of each spiking bias' current) with all layers on ``engine`` ("fused" or
    "autograd")."""
    for layer in qat.layers:
        layer.engine = engine
    qat.zero_grad(set_to_none=True)
    out, recs = qat(x, record=True)
    w = torch.linspace(-1, 1, out.shape[-1], dtype=torch.float64)
    loss = (out.mean(0) * w).sum() + sum(r["spikes"].mean() for r in recs)
    if bias_terms:
        loss = loss + sum(
            r["bias_current"].mean() * 1e-6 for r in recs if r["bias_current"] is not None
        )
    loss.backward()
    return {n: p.grad.clone() for n, p in qat.named_parameters()}


def assert_bias_gradients_follow_float(qat, net, x) -> None:
    """STE + surrogate on (v - vth) / S: the QAT network ``qat`` and the float network ``net``
    agree on most output spikes of ``x``, and each layer's bias gradient of the QAT network has
    the float one's direction (cosine > 0.9) and magnitude (ratio in (0.7, 1.4))."""
    out_q, out_f = qat(x), net(x)
    assert float((out_q == out_f).double().mean()) > 0.9
    out_q.sum().backward()
    out_f.sum().backward()
    for lq, lf in zip(qat.layers, net.layers, strict=True):
        gq, gf = lq.bias.grad, lf.neuron.bias.grad
        cos = float(torch.dot(gq, gf) / (gq.norm() * gf.norm()))
        ratio = float(gq.norm() / gf.norm())
        assert cos > 0.9 and 0.7 < ratio < 1.4, (cos, ratio)


@pytest.fixture
def qat_checks():
    """The helpers of this conftest."""
    return SimpleNamespace(
        emulator=assert_qat_is_emulator,
        grads=qat_grads,
        data=two_class_data,
        tune=tune_qat,
        evaluate=evaluate_lava_fixed,
        gradients_follow_float=assert_bias_gradients_follow_float,
    )

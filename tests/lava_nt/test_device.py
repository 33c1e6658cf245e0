"""The ``device`` option (trainer, batched personalisation): clear errors, nothing changes on the
CPU, and on a GPU (when present; ``scripts/gpu-check.sh``) the torch engines agree with the CPU.

On a machine without CUDA the ``cuda`` cases are skipped; the CPU cases run everywhere.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from lava_nt.builder import build_network
from lava_nt.device import module_device, resolve_device
from lava_nt.network import reference_run
from lava_nt.nn.fused import FusedNTNetwork
from lava_nt.personalise import personalise_batched
from lava_nt.spec.validation import ParameterError
from lava_nt.training import TrainConfig, train
from lava_nt.tuning import apply_tuning

HAVE_CUDA = torch.cuda.is_available()
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not HAVE_CUDA, reason="no GPU"))]


def _data(seed, n=24, n_in=12):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, n_in, generator=g) < 0.3).float()
    y = torch.randint(0, 2, (n,), generator=g)
    return x, y


def _net(dtype=torch.float32):
    return build_network(12, [16], n_classes=2, population=4, seed=3, dtype=dtype)


def test_bad_device_names_are_refused():
    with pytest.raises(ParameterError, match="unknown device 'gpu'"):
        TrainConfig(device="gpu")
    with pytest.raises(ParameterError, match="expected one of"):
        resolve_device(0)
    if not HAVE_CUDA:
        with pytest.raises(ParameterError, match="no CUDA GPU is available"):
            TrainConfig(device="cuda")
        assert resolve_device("auto") == torch.device("cpu")


def test_auto_on_this_machine_equals_the_default_and_resumes_a_cpu_checkpoint(tmp_path):
    """``device`` is a run-only setting: a checkpoint written under one device setting resumes
    under another, and where it resolves to the CPU the result is bit-identical."""
    data, val = _data(0), _data(1)
    ref = _net()
    train(ref, data, TrainConfig(epochs=4, T=5, seed=2), val_data=val)
    net = _net()
    cfg = TrainConfig(epochs=4, T=5, seed=2, device="cpu")
    train(net, data, cfg, val_data=val, run_dir=tmp_path, stop_after_epoch=1)
    net = _net()
    want = "auto" if not HAVE_CUDA else "cpu"
    train(net, data, TrainConfig(epochs=4, T=5, seed=2, device=want), val_data=val,
          run_dir=tmp_path)  # fmt: skip
    assert module_device(net) == torch.device("cpu")
    for (k, a), b in zip(ref.state_dict().items(), net.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


@pytest.mark.parametrize("device", DEVICES)
def test_torch_float64_on_device_equals_the_numpy_reference(device):
    """The engine-equivalence claim for the torch network on ``device``: spike for spike."""
    net = _net(torch.float64)
    spec = net.to_spec()
    x = (np.random.default_rng(0).random((10, 5, 12)) < 0.3).astype(np.float64)
    want = reference_run(spec, x)
    with torch.no_grad():
        out = net.to(device)(torch.as_tensor(x, device=device))
    out = out[0] if isinstance(out, tuple) else out
    np.testing.assert_array_equal(out.cpu().numpy(), np.asarray(want))


@pytest.mark.parametrize("device", DEVICES)
def test_training_on_device_agrees_with_the_cpu(device):
    data, val = _data(0), _data(1)
    ref = _net(torch.float64)
    apply_tuning(ref, "nt2")
    net = copy.deepcopy(ref)
    train(ref, data, TrainConfig(epochs=3, T=5, seed=1), val_data=val)
    train(FusedNTNetwork.from_network(net), data, TrainConfig(epochs=3, T=5, seed=1,
          device=device), val_data=val)  # fmt: skip
    assert module_device(net) == torch.device("cpu")  # moved back
    for (k, a), b in zip(ref.state_dict().items(), net.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9, msg=k)


@pytest.mark.parametrize("device", DEVICES)
def test_batched_personalisation_on_device_agrees_with_the_cpu(device):
    sets = [_data(s) for s in range(3)]
    vals = [_data(10 + s) for s in range(3)]

    def run(dev):
        net = _net(torch.float64)
        apply_tuning(net, "nt2")
        res = personalise_batched(net, sets, TrainConfig(epochs=3, T=5, seed=0, device=dev),
                                  vals)  # fmt: skip
        return net, res

    a, ra = run("cpu")
    b, rb = run(device)
    assert [r.best_epoch for r in ra] == [r.best_epoch for r in rb]
    for (k, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-9, atol=1e-9, msg=k)

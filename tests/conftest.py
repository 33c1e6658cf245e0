"""Fixtures shared across the test folders (pytest's importlib mode cannot import a conftest,
so the helpers come through fixtures)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from lava_nt.converters.model_file import save_model
from lava_nt.testing import random_spec


def small_spec(seed: int = 0, weight_scale: float = 0.3):
    """16 -> 12 -> 6: layer 1 with random biases and gains, layer 2 without bias, unit gains
    (its weights' scale ``weight_scale``)."""
    return random_spec(
        seed,
        (16, 12, 6),
        du=(0.5, 1.0),
        dv=(0.2, 0.1),
        vth=1.0,
        gain=(None, 1.0),
        zero_bias=(1,),
        weight_mean=(0.0, 0.05),
        weight_scale=(weight_scale, 0.35),
    )


def model_and_data(directory, spec, n_classes: int, T: int, N: int) -> dict:
    """Save ``spec`` as ``model.h5`` (recording ``n_classes``) and ``N`` random samples of spikes
    ``x [T, N, n_in]`` (rate 0.35) with labels ``y`` as ``data.npz`` in ``directory``; returns
    ``{"spec", "model", "data", "x", "y", "dir"}``."""
    model = directory / "model.h5"
    save_model(model, spec, meta={"n_classes": n_classes, "seed": 0})
    rng = np.random.default_rng(1)
    x = (rng.random((T, N, spec.n_in)) < 0.35).astype(np.int8)
    y = rng.integers(0, n_classes, N)
    data = directory / "data.npz"
    np.savez(data, x=x, y=y)
    return {"spec": spec, "model": model, "data": data, "x": x, "y": y, "dir": directory}


@pytest.fixture
def cli_files():
    """The builders of this conftest for the command-line tests (a small model and its data)."""
    return SimpleNamespace(spec=small_spec, model_and_data=model_and_data)


@pytest.fixture
def netx_mnist_net():
    """The path of lava-dl's netx test network ``mnist.net`` (in the side-installed lava-dl);
    the test is skipped where it is not installed."""
    from lava_nt.converters.netx import NetxUnavailable, ensure_netx_reader

    try:
        side = ensure_netx_reader()
    except NetxUnavailable as exc:
        pytest.skip(str(exc))
    path = side / "tests" / "lava" / "lib" / "dl" / "netx" / "mnist.net"
    if not path.is_file():
        pytest.skip(f"{path} is not in the side-installed lava-dl wheel")
    return path

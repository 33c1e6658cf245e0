"""``lava-nt images run --qat``: the deployed multi-step networks are also tuned through the
fixed-point network and run on Lava fixed point bit for bit as trained."""

from __future__ import annotations

import csv
import importlib.util

import numpy as np
import pytest
import torch

_MISSING = [m for m in ("mlxtend", "sklearn") if importlib.util.find_spec(m) is None]
needs_data = pytest.mark.skipif(
    bool(_MISSING),
    reason=f"the 'images' extra is not installed (missing {', '.join(_MISSING)})",
)

from lava_nt.examples.images import snn  # noqa: E402
from lava_nt.nn.layer import NTLayer  # noqa: E402
from lava_nt.nn.network import NTNetwork  # noqa: E402


def _net(seed=0):
    g = torch.Generator().manual_seed(seed)
    layers = [
        NTLayer(12, 8, weight=torch.randn(8, 12, generator=g) * 0.4, bias=torch.zeros(8),
                du=1.0, dv=0.0, vth=1.0, reset="subtract"),
        NTLayer(8, 10, weight=torch.randn(10, 8, generator=g) * 0.4, bias=torch.zeros(10),
                du=1.0, dv=0.0, vth=1.0, reset="subtract"),
    ]  # fmt: skip
    net = NTNetwork(layers)
    net.n_classes = 10
    return net


@pytest.mark.parametrize("method", ["nt1", "nt2"])
def test_qat_tuned_network_runs_on_lava_as_trained(method):
    rng = np.random.default_rng(0)
    x = torch.as_tensor((rng.random((30, 12)) < 0.4).astype(np.float32))
    y = torch.as_tensor(rng.integers(0, 10, 30))
    qat, r = snn.tune_snn_qat(_net(), method, (x, y), (x, y), lr=0.05, epochs=2, T=4)
    assert r["params"] > 0 and 0 <= r["acc"] <= 1
    row = snn.deploy_qat(qat, x, y, 4)
    assert row["precision"] == "qat fixed" and row["bit_exact"] is True
    assert row["spike_agreement"] == 1.0 and row["acc_lava"] == row["acc_torch"] == r["acc"]


@needs_data
def test_tiny_study_with_qat_writes_qat_rows(tmp_path):
    from lava_nt.examples.images import study

    settings = dict(n_src_train=200, n_src_test=50, pretrain_epochs=1, hidden=16, n_train=40,
                    n_test=30, ann_lrs=(1e-2,), ann_epochs=1, snn_lrs=(1e-2,), snn_epochs=1,
                    seeds=(0,), snn_seeds=(0,), T=3, tasks=("digits",), lava_n=10,
                    lava_methods=("nt2",))  # fmt: skip
    study.run(tmp_path, settings, quick=True, lava=True, qat=True, log=lambda *a: None)
    with open(tmp_path / "lava.csv") as f:
        rows = list(csv.DictReader(f))
    qat = [r for r in rows if r["precision"] == "qat fixed"]
    assert [r["variant"] for r in qat] == ["multi"] and qat[0]["bit_exact"] == "True"
    assert float(qat[0]["spike_agreement"]) == 1.0
    assert {r["precision"] for r in rows} == {"float", "fixed", "qat fixed"}
    assert (
        "equals the training forward at every layer in 1 of 1 runs"
        in (tmp_path / "report.md").read_text()
    )


def test_images_run_help_shows_qat(capsys):
    from lava_nt.cli import main

    with pytest.raises(SystemExit):
        main(["images", "run", "--help"])
    assert "--qat" in capsys.readouterr().out

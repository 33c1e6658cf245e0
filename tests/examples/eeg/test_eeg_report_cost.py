"""The report's wall-time table: a unit's QAT stage is its own row, not hidden in tuning."""

import pytest

from lava_nt.examples.eeg.report.tables import cost_table


def _rows():
    tune = dict(kind="tune", method="nt2", participant=1, epochs_run=10)
    return [
        dict(kind="pretrain", arch="main", seconds=80.0, epochs=8),
        {**tune, "seed": 0, "seconds": 30.0, "qat_seconds": 10.0, "qat_epochs_run": 5},
        {**tune, "seed": 1, "seconds": 50.0, "qat_seconds": 20.0, "qat_epochs_run": 10},
        dict(kind="tune", method="lora", participant=1, seed=0, seconds=12.0, epochs_run=6),
        dict(kind="deploy", method="nt2", participant=1, seed=0, seconds=3.0),
        dict(kind="deploy", method="lora", participant=1, seed=0, seconds=9.0, deployable=False),
    ]


def _table(lines):
    out = {}
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        out[cells[0]] = cells[1:]
    return out


def test_qat_stage_has_its_own_row_and_tuning_counts_the_rest():
    t = _table(cost_table(_rows()))
    # tuning without QAT: 20 s and 30 s over 10 epochs each
    assert t["tune nt2"] == ["2", "25.0", "20.0", "30.0", "50", "2.50"]
    # QAT: 10 s over 5 epochs, 20 s over 10 epochs
    assert t["qat nt2"] == ["2", "15.0", "10.0", "20.0", "30", "2.00"]
    assert t["tune lora"] == ["1", "12.0", "12.0", "12.0", "12", "2.00"]
    assert "qat lora" not in t  # no QAT stage recorded, no row
    assert t["pretrain main"][-1] == "10.00"
    assert t["deploy nt2"][:2] == ["1", "3.0"] and "deploy lora" not in t  # not deployable
    order = list(t)
    assert order.index("tune lora") < order.index("qat nt2") < order.index("deploy nt2")


def test_stage_totals_add_up_to_the_units_wall_time():
    rows = _rows()
    t = _table(cost_table(rows))
    total = sum(float(v[4]) for k, v in t.items() if k.split()[0] in ("tune", "qat"))
    assert total == pytest.approx(sum(r["seconds"] for r in rows if r["kind"] == "tune"))

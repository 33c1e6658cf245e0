"""The comparison's table and its generated docs block (`compare --docs`)."""

import pytest


def test_compare_table_and_docs_block(tmp_path):
    from lava_nt.ondevice.compare import table, write_docs_block

    res = {s: {"rows": {"untuned": {"accuracy": a, "eta_band": None},
                        "on-device": {"accuracy": b, "eta_band": (1e-3, 0.5)}}}
           for s, a, b in ((0, 0.2, 0.4), (1, 0.1, 0.3))}  # fmt: skip
    text = table(res)
    assert "| seed 0 | seed 1 | mean |" in text
    assert "| untuned | 0.200 | 0.100 | 0.150 |  |" in text
    assert "| on-device | 0.400 | 0.300 | 0.350 | 0.001, 0.5; 0.001, 0.5 |" in text
    page = tmp_path / "p.md"
    block = "<!-- BEGIN generated: compare -->\n{}\n<!-- END generated: compare -->"
    page.write_text("a\n" + block.format("old") + "\nz\n")
    write_docs_block(str(page), "compare", "new")
    assert page.read_text() == "a\n" + block.format("new") + "\nz\n"
    page.write_text("no block")
    with pytest.raises(SystemExit, match="no single block"):
        write_docs_block(str(page), "compare", "new")


def test_kinds_table():
    from lava_nt.ondevice.compare import kinds_table

    res = {s: {"rows": {"biases": {"accuracy": a, "settings": {"eta": 1e-4, "band": 0.5}},
                        "+ gains": {"accuracy": b, "settings": {"eta": 1e-4, "eta_gain": 3e-5}}}}
           for s, a, b in ((0, 0.2, 0.4), (1, 0.1, 0.3))}  # fmt: skip
    text = kinds_table(res)
    assert "| learned on-device | seed 0 | seed 1 | mean | chosen (per seed) |" in text
    assert "| biases | 0.200 | 0.100 | 0.150 | eta 0.0001, band 0.5; eta 0.0001, band 0.5 |" in text
    assert "| + gains | 0.400 | 0.300 | 0.350 | eta 0.0001, eta_gain 3e-05;" in text

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

"""The README's Python example runs as written and does what it says.

Its ```python blocks are executed in order in one namespace in a scratch directory (the way
``tests/docs/tutorials.py`` runs the tutorials); the example must pretrain, tune, decode, save and
deploy without error, and tuning must beat the untuned network on the new task.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

_spec = importlib.util.spec_from_file_location("doc_tutorials", ROOT / "tests/docs/tutorials.py")
tutorials = sys.modules.setdefault("doc_tutorials", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(tutorials)


def _run(workdir: Path) -> dict:
    """Execute the README's python blocks; their namespace (the page's line numbers in
    tracebacks)."""
    text = README.read_text(encoding="utf-8")
    namespace = {"__name__": "__readme__"}
    cwd = Path.cwd()
    try:
        import os

        os.chdir(workdir)
        for block in tutorials.python_blocks(text):
            exec(compile("\n" * (block.start + 1) + block.code, str(README), "exec"), namespace)
    finally:
        os.chdir(cwd)
    return namespace


def test_readme_has_a_complete_python_example():
    blocks = tutorials.python_blocks(README.read_text(encoding="utf-8"))
    code = "\n".join(b.code for b in blocks)
    assert len(blocks) >= 3
    for step in ("build_network(", "train(", "apply_tuning(", "evaluate(", "predictions(",
                 "run_network("):  # fmt: skip
        assert step in code, step


@pytest.mark.slow
def test_readme_example_runs_and_tuning_beats_the_untuned_network(tmp_path):
    ns = _run(tmp_path)
    untuned, tuned = ns["untuned"], ns["tuned_acc"]
    assert tuned > untuned, (untuned, tuned)
    # the decoded predictions are the accuracy evaluate() reported
    acc = float((ns["pred"] == ns["y_test"]).float().mean())
    assert acc == pytest.approx(tuned)
    assert (tmp_path / "tuned.h5").is_file()
    from lava_nt.converters.model_file import load_model

    _, info = load_model(tmp_path / "tuned.h5")
    assert info.n_classes == ns["N_CLASSES"] == 3
    assert ns["lava_pred"].shape == (40,) and ns["fixed_pred"].shape == (40,)

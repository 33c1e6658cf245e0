"""Every repository path and every ``lava_nt`` module or attribute that README.md and the
documentation pages name exists, and no page cites the unshipped design notes.

Paths (``lava_nt/...``, ``converters/...``, ``examples/...``, ``docs/...``, ``scripts/...``,
``benchmarks/...``, ``tests/...``) must be files or directories of the repository; dotted names
``lava_nt.a.b`` must import (the longest importable module prefix), and whatever follows must be
attributes of it (``lava_nt.a.b.NAME.method``).
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])

TOP = ("lava_nt", "converters", "examples", "docs", "scripts", "benchmarks", "tests")
# a path starts after something that is not part of a path and ends before trailing punctuation
PATH = re.compile(rf"(?<![\w./-])((?:{'|'.join(TOP)})/[\w./*-]*[\w/*])")
DOTTED = re.compile(r"(?<![\w./-])(lava_nt(?:\.[A-Za-z_]\w*)+)")
UNSHIPPED = re.compile(r"notes/|DESIGN")


def _rel(page: Path) -> str:
    return str(page.relative_to(ROOT))


def named_paths(text: str) -> set[str]:
    return {m.rstrip("/") for m in PATH.findall(text)}


def named_objects(text: str) -> set[str]:
    return set(DOTTED.findall(text))


def path_exists(name: str) -> bool:
    """A file or directory of the repository (a ``*`` matches as a glob)."""
    if "*" in name:
        return any(ROOT.glob(name))
    return (ROOT / name).exists()


def resolve(dotted: str) -> object:
    """The module or attribute ``dotted`` names; raises what importing or getattr raises."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        name = ".".join(parts[:i])
        try:
            obj = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and not name.startswith(exc.name) and exc.name != name:
                raise  # the module exists but imports something missing
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_named_paths_exist(page):
    missing = sorted(p for p in named_paths(page.read_text()) if not path_exists(p))
    assert not missing, f"{_rel(page)} names paths that do not exist: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_named_modules_and_attributes_exist(page):
    bad = []
    for name in sorted(named_objects(page.read_text())):
        try:
            resolve(name)
        except (ImportError, AttributeError) as exc:
            bad.append(f"{name} ({type(exc).__name__}: {exc})")
    assert not bad, f"{_rel(page)} names what does not exist: {bad}"


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_no_page_cites_the_design_notes(page):
    hits = [
        f"line {i}: {line.strip()}"
        for i, line in enumerate(page.read_text().splitlines(), 1)
        if UNSHIPPED.search(line)
    ]
    assert not hits, f"{_rel(page)} cites files that do not ship (notes/, DESIGN): {hits}"


SOURCE_DIRS = ("lava_nt", "converters", "processes", "examples", "benchmarks", "scripts", "tests")
SOURCES = sorted(
    path
    for folder in SOURCE_DIRS
    for path in (ROOT / folder).rglob("*")
    if path.suffix in (".py", ".sh") and path.resolve() != Path(__file__).resolve()
)


def test_no_source_file_cites_the_design_notes():
    """Docstrings and comments describe the code with facts that ship, like the pages."""
    assert len(SOURCES) > 100
    hits = [
        f"{_rel(path)}:{i}: {line.strip()}"
        for path in SOURCES
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if UNSHIPPED.search(line)
    ]
    assert not hits, "source files cite files that do not ship (notes/, DESIGN):\n" + "\n".join(
        hits
    )


def test_the_checks_find_what_they_look_for():
    """The extractors see the forms the pages use, and a wrong name fails."""
    text = "see `lava_nt/spec/fixed.py`, (converters/netx.py), `lava_nt.io.atomic_write`."
    assert named_paths(text) == {"lava_nt/spec/fixed.py", "converters/netx.py"}
    assert named_objects(text) == {"lava_nt.io.atomic_write"}
    assert path_exists("lava_nt/spec/fixed.py") and not path_exists("lava_nt/spec/nothing.py")
    assert resolve("lava_nt.io.atomic_write") is importlib.import_module("lava_nt.io").atomic_write
    with pytest.raises(AttributeError):
        resolve("lava_nt.io.no_such_function")
    with pytest.raises(AttributeError):  # lava_nt imports; it has no such submodule
        resolve("lava_nt.no_such_module.NAME")
    assert UNSHIPPED.search("(`notes/lava-facts.md` §2)") and UNSHIPPED.search("DESIGN §3")

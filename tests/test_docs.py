"""The documentation site: strict offline build, API coverage, and the tutorials executed.

The site builds with MkDocs + Material + mkdocstrings in strict mode (a broken link, anchor or
API reference fails), with every network connection refused, and the generated pages load
nothing from the web. The tutorial pages' python blocks run in order in a fast mode (small sizes;
``tests/docs/tutorials.py``), and every figure a page shows is one its code writes.
"""

from __future__ import annotations

import importlib.util
import re
import socket
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

_spec = importlib.util.spec_from_file_location("doc_tutorials", ROOT / "tests/docs/tutorials.py")
tutorials = sys.modules.setdefault("doc_tutorials", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(tutorials)

TUTORIAL_PAGES = tutorials.pages()
# modules documented through their package's exports, and what is not public API
PRIVATE = re.compile(r"(^|\.)_|^lava_nt\.(cli|commands)(\.|$)")


def public_modules() -> list[str]:
    """Every public module of the installed layout (``converters/`` -> ``lava_nt.converters``)."""
    roots = {"lava_nt": "lava_nt", "lava_nt.processes": "processes",
             "lava_nt.converters": "converters", "lava_nt.examples": "examples"}  # fmt: skip
    names = set()
    for prefix, folder in roots.items():
        folder = ROOT / folder
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join((prefix, *parts))
            if not PRIVATE.search(name):
                names.add(name)
    return sorted(names)


def test_every_public_module_is_in_the_api_reference():
    documented = set()
    for page in (DOCS / "api").glob("*.md"):
        documented |= set(re.findall(r"^::: ([\w.]+)", page.read_text(), re.M))
    missing = [
        m for m in public_modules()
        if not any(m == d or (m.startswith(d + ".") and d != "lava_nt") for d in documented)
    ]  # fmt: skip
    assert not missing, f"modules without an API page entry (docs/api/*.md): {missing}"
    assert len(documented) > 40


def test_tutorial_pages_are_numbered_in_the_nav_and_show_committed_small_images():
    nav = (ROOT / "mkdocs.yml").read_text()
    assert [p.name[:2] for p in TUTORIAL_PAGES] == [f"{i:02d}" for i in range(1, 8)]
    for page in TUTORIAL_PAGES:
        assert f"tutorials/{page.name}" in nav, page.name
        text = page.read_text()
        assert len(tutorials.python_blocks(text)) >= 3, page.name
        for rel in tutorials.images(text):
            png = page.parent / rel
            assert png.is_file(), f"{page.name}: {rel} is not committed"
            assert png.stat().st_size < tutorials.MAX_IMAGE_BYTES, f"{rel} is too large"


def test_outputs_follow_python_blocks():
    """The refresh helper writes a block's output after it and replaces it in place."""
    page = '```python\nprint(1)\n```\n\n```text title="Output"\nold\n```\n'
    page += "\n```python\nx = 1\n```\n"
    page += "\n```python\nprint('| a |')\n```\n\n<!-- output: markdown -->\n<!-- end output -->\n"
    new = tutorials.with_outputs(page, ["1\n", "", "| a |\n"], Path("/nowhere"))
    assert '```text title="Output"\n1\n```' in new and "old" not in new
    assert "<!-- output: markdown -->\n\n| a |\n\n<!-- end output -->" in new
    assert tutorials.with_outputs(new, ["1\n", "", "| a |\n"], Path("/nowhere")) == new
    assert "Output" not in tutorials.with_outputs(page, ["", "", ""], Path("/x")).split("<!--")[0]


def test_citation_and_changelog():
    import yaml

    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software" and cff["authors"]
    project = (ROOT / "pyproject.toml").read_text()
    assert f'version = "{cff["version"]}"' in project  # one version everywhere
    refs = {r["type"]: r for r in cff["references"]}
    assert refs["article"]["doi"] == "10.3390/jlpea12040059" and refs["article"]["year"] == 2022
    thesis = refs["thesis"]
    assert thesis["year"] == 2024 and thesis["institution"]["name"] == "Brigham Young University"
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{cff['version']}]" in changelog and "## [Unreleased]" in changelog


@pytest.fixture
def no_network(monkeypatch):
    """Refuse every outgoing connection (the build must not fetch anything)."""

    def refuse(*args, **kwargs):
        raise OSError("network access during the docs build")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.slow
def test_site_builds_strict_offline(tmp_path, no_network, monkeypatch):
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    monkeypatch.chdir(tmp_path)  # mkdocs.yml resolves its paths relative to itself
    site = tmp_path / "site"
    config = load_config(str(ROOT / "mkdocs.yml"), site_dir=str(site), strict=True)
    build(config)  # raises on any warning in strict mode

    pages = {p.relative_to(site).as_posix() for p in site.rglob("index.html")}
    assert "index.html" in pages
    for want in ("architecture", "api/spec", "api/converters", "tutorials/06-eeg-valence",
                 "changelog", "contributing", "versions"):  # fmt: skip
        assert f"{want}/index.html" in pages, want
    spec_page = (site / "api/spec/index.html").read_text()
    assert 'id="lava_nt.spec.ntlif.ntlif_step"' in spec_page
    converters = (site / "api/converters/index.html").read_text()
    assert 'id="lava_nt.converters.quantize.quantize"' in converters  # package-dir layout resolved
    assert 'id="lava_nt.converters.model_file.save_model"' in converters
    assert ":func:`" not in spec_page + converters  # Sphinx roles rendered as code
    for html in site.rglob("*.html"):
        text = html.read_text()
        external = re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="(?:https?:)?//[^"]+"', text)
        external = [e for e in external if 'rel="canonical"' not in e]
        assert not external, f"{html.relative_to(site)} loads from the web: {external[:3]}"
    for rel in ("tutorials/img/01-voltage.png",):
        assert (site / rel).is_file()


@pytest.mark.slow
@pytest.mark.parametrize("page", TUTORIAL_PAGES, ids=lambda p: p.name[:2])
def test_tutorial_runs(page, tmp_path):
    tutorials.run_page(page, tmp_path, fast=True)
    for rel in tutorials.images(page.read_text()):
        assert (tmp_path / rel).is_file(), f"{page.name}: the code does not write {rel}"

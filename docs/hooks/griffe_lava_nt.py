"""Griffe extensions for lava-nt's API reference (loaded by mkdocstrings, see ``mkdocs.yml``).

``PackageDirs``: ``processes/``, ``converters/`` and ``examples/`` sit at the top of the repository
but are installed as ``lava_nt.processes``, ``lava_nt.converters`` and ``lava_nt.examples``
(``package-dir`` in ``pyproject.toml``). Griffe finds subpackages by scanning the parent's folder
only, so this extension loads each mapped folder when its parent package is visited and attaches
it there: the reference shows the import paths users write (``lava_nt.converters.quantize``).

``PlainDocstrings``: lava-nt's docstrings are Google style with a few reStructuredText habits that
Markdown would show verbatim. Before rendering, Sphinx roles (:func:`name`) become inline code,
a paragraph ending in ``::`` ends in ``:`` (its indented block is already a Markdown code block),
and reStructuredText simple tables (``=====  =====`` borders) become preformatted text blocks.
"""

from __future__ import annotations

import re
from pathlib import Path

import griffe

ROOT = Path(__file__).resolve().parents[2]

_ROLE = re.compile(r":(?:py:)?(?:mod|func|class|meth|attr|data|exc|obj|const):`~?\.?([^`]+)`")
_LITERAL = re.compile(r"(?<=\S)::[ \t]*$", re.MULTILINE)
_BORDER = re.compile(r"^[ \t]*=+(?:[ \t]+=+)+[ \t]*$")


class PackageDirs(griffe.Extension):
    """Attach folder ``path`` as subpackage ``name`` of its parent when the parent is visited.

    Args:
        packages: ``{"lava_nt.processes": "processes", ...}``, folders relative to the
            repository root.
    """

    def __init__(self, packages: dict[str, str]) -> None:
        super().__init__()
        self.packages = {name: ROOT / path for name, path in packages.items()}

    def on_module_members(self, *, mod: griffe.Module, agent, **kwargs) -> None:
        for name, folder in self.packages.items():
            parent, _, child = name.rpartition(".")
            if mod.path != parent or child in mod.members:
                continue
            if not (folder / "__init__.py").is_file():
                raise griffe.LoadingError(f"{name}: no package at {folder}")
            loader = griffe.GriffeLoader(
                search_paths=[folder.parent],
                docstring_parser=agent.docstring_parser,
                docstring_options=agent.docstring_options,
                lines_collection=mod.lines_collection,
                modules_collection=mod.modules_collection,
            )
            sub = loader.load(folder.name)
            # the folder was loaded as a top-level package: keep only its place under the parent
            mod.modules_collection.members.pop(folder.name, None)
            mod.set_member(child, sub)


def _tables_as_text(text: str) -> str:
    """Wrap each reStructuredText simple table (three ``=`` border lines, or two around rows
    without a header) in a fenced text block, without its inline-literal backquotes."""
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        if not _BORDER.match(lines[i]):
            out.append(lines[i])
            i += 1
            continue
        j, borders = i + 1, 1
        while j < len(lines):
            if _BORDER.match(lines[j]):
                borders += 1
                if j + 1 == len(lines) or not lines[j + 1].strip():
                    break
            j += 1
        indent = re.match(r"[ \t]*", lines[i]).group(0)
        block = [ln[len(indent) :] if ln.startswith(indent) else ln for ln in lines[i : j + 1]]
        block = [ln.replace("``", "") for ln in block]  # inline literals inside preformatted text
        out += ["", indent + "```text", *(indent + ln for ln in block), indent + "```", ""]
        i = j + 1
    return "\n".join(out)


def plain_markdown(text: str) -> str:
    """The docstring ``text`` with Sphinx roles, ``::`` and simple tables made Markdown."""
    text = _ROLE.sub(r"`\1`", text)
    text = _LITERAL.sub(":", text)
    return _tables_as_text(text) if "==" in text else text


class PlainDocstrings(griffe.Extension):
    """Rewrite every docstring with :func:`plain_markdown` before it is parsed."""

    def on_object(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = plain_markdown(obj.docstring.value)

    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:
        self.on_object(obj=pkg)

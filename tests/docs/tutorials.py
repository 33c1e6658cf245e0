"""Run the tutorials of ``docs/tutorials/`` (their ```python blocks, in order) and refresh them.

Each page is a sequence of fenced code blocks. Its ```python blocks are executed in order in one
fresh namespace with the working directory set to a scratch folder, as a reader would run them in
a notebook. A ```text title="Output" block right after a python block holds what that block
printed (or, between ``<!-- output: markdown -->`` and ``<!-- end output -->``, the Markdown it
printed, so that tables render), and ``![..](img/NAME.png)`` shows a figure the page's code saved
as ``img/NAME.png``.

The pages read ``LAVA_NT_TUTORIAL_FAST``: ``1`` makes them small (the test suite,
``tests/test_docs.py``, runs them that way so they never go stale); unset, they run at the sizes
whose results the pages show. To refresh the shown outputs and figures after changing a page or
the library (full sizes, a few minutes)::

    .venv/bin/python tests/docs/tutorials.py --write [PAGE ...]

which rewrites the Output blocks with what the blocks printed and copies the figures into
``docs/tutorials/img/``. ``--fast`` runs the pages small without writing anything.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from lava_nt.io import atomic_write_bytes, atomic_write_text

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = ROOT / "docs" / "tutorials"
IMG = TUTORIALS / "img"
FAST_ENV = "LAVA_NT_TUTORIAL_FAST"
OUTPUT_INFO = 'text title="Output"'
MD_BEGIN, MD_END = "<!-- output: markdown -->", "<!-- end output -->"
IMAGE = re.compile(r"!\[[^\]]*\]\((img/[^)\s]+\.png)\)")
MAX_IMAGE_BYTES = 100_000


@dataclass
class Block:
    """A fenced code block: ``info`` string, code, and its line span in the page (0-based,
    ``start`` = the opening fence, ``end`` = the closing fence)."""

    info: str
    code: str
    start: int
    end: int


def pages() -> list[Path]:
    """The numbered tutorial pages, in order."""
    return sorted(TUTORIALS.glob("[0-9][0-9]-*.md"))


def blocks(text: str) -> list[Block]:
    """Every fenced (```) block of a Markdown page."""
    lines = text.split("\n")
    found, i = [], 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            info = line[3:].strip()
            j = i + 1
            while j < len(lines) and lines[j].rstrip() != "```":
                j += 1
            if j == len(lines):
                raise ValueError(f"unclosed code fence at line {i + 1}")
            found.append(Block(info, "\n".join(lines[i + 1 : j]), i, j))
            i = j + 1
        else:
            i += 1
    return found


def python_blocks(text: str) -> list[Block]:
    return [b for b in blocks(text) if b.info == "python"]


def images(text: str) -> list[str]:
    """Figure paths the page shows (``img/NAME.png``, relative to the page)."""
    return IMAGE.findall(text)


def run_page(page: Path, workdir: Path, *, fast: bool = True) -> list[str]:
    """Execute the page's python blocks in order in ``workdir``; return what each printed.

    A failing block raises with a traceback that points into the page (file and line)."""
    text = page.read_text(encoding="utf-8")
    env = {FAST_ENV: "1" if fast else None, "MPLBACKEND": "Agg"}
    saved = {k: os.environ.get(k) for k in env}
    cwd = Path.cwd()
    outputs = []
    namespace = {"__name__": "__tutorial__"}
    try:
        for k, v in env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        workdir.mkdir(parents=True, exist_ok=True)
        os.chdir(workdir)
        for block in python_blocks(text):
            # leading newlines: line numbers in tracebacks are the page's own
            code = compile("\n" * (block.start + 1) + block.code, str(page), "exec")
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                exec(code, namespace)
            outputs.append(buf.getvalue())
    finally:
        os.chdir(cwd)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        with contextlib.suppress(Exception):
            import matplotlib.pyplot as plt

            plt.close("all")
    return outputs


def _clean(output: str, workdir: Path) -> list[str]:
    out = output.replace(str(workdir) + os.sep, "").replace(str(workdir), ".")
    lines = [ln.rstrip() for ln in out.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _output_after(lines: list[str], block: Block, all_blocks: list[Block]):
    """``(first, last exclusive, kind)`` of the output region right after ``block`` (only blank
    lines between), kind "text" or "markdown"; None if there is none."""
    i = block.end + 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i < len(lines) and lines[i].strip() == MD_BEGIN:
        for j in range(i + 1, len(lines)):
            if lines[j].strip() == MD_END:
                return block.end + 1, j + 1, "markdown"
        raise ValueError(f"{MD_BEGIN} at line {i + 1} has no {MD_END}")
    nxt = next((b for b in all_blocks if b.start == i), None)
    if nxt is not None and nxt.info == OUTPUT_INFO:
        return block.end + 1, nxt.end + 1, "text"
    return None


def with_outputs(text: str, outputs: list[str], workdir: Path) -> str:
    """``text`` with the output after each python block set to what it printed: a text block
    (added, replaced, or removed when the block printed nothing), or, where the page has a
    ``<!-- output: markdown -->`` region, the printed Markdown itself (tables render)."""
    lines = text.split("\n")
    all_blocks = blocks(text)
    py = [b for b in all_blocks if b.info == "python"]
    if len(py) != len(outputs):
        raise ValueError("outputs do not match the page's python blocks")
    edits = []  # (first line, last line exclusive, replacement lines)
    for block, output in zip(py, outputs, strict=True):
        found = _output_after(lines, block, all_blocks)
        new = _clean(output, workdir)
        if found and found[2] == "markdown":
            edits.append((found[0], found[1], ["", MD_BEGIN, "", *new, "", MD_END]))
            continue
        body = ["", f"```{OUTPUT_INFO}", *new, "```"] if new else []
        if found:
            edits.append((found[0], found[1], body))
        elif new:
            edits.append((block.end + 1, block.end + 1, body))
    for first, last, body in reversed(edits):
        lines[first:last] = body
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="full sizes; rewrite outputs, figures")
    mode.add_argument("--fast", action="store_true", help="small sizes; only check they run")
    ap.add_argument("pages", nargs="*", help="page files or numbers (default: all)")
    args = ap.parse_args(argv)
    chosen = pages()
    if args.pages:
        chosen = [p for p in chosen if any(p.name.startswith(s) or p == Path(s).resolve()
                                           for s in args.pages)]  # fmt: skip
    for page in chosen:
        with tempfile.TemporaryDirectory(prefix="lava-nt-tutorial-") as tmp:
            work = Path(tmp)
            t0 = time.perf_counter()
            outputs = run_page(page, work, fast=args.fast)
            print(f"{page.name}: ran in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
            text = page.read_text(encoding="utf-8")
            for rel in images(text):
                if not (work / rel).is_file():
                    raise SystemExit(f"{page.name}: the code did not write {rel}")
            if args.write:
                atomic_write_text(page, with_outputs(text, outputs, work))
                for rel in images(text):
                    dest = TUTORIALS / rel
                    atomic_write_bytes(dest, (work / rel).read_bytes(), make_parents=True)
                    dest.chmod(0o644)
                    size = (TUTORIALS / rel).stat().st_size
                    if size > MAX_IMAGE_BYTES:
                        print(f"  {rel}: {size:,} bytes (> {MAX_IMAGE_BYTES:,})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

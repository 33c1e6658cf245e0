"""The layering rules of ``docs/architecture.md``, checked on the source.

* no import cycle between the modules of ``lava_nt`` (``processes/``, ``converters/`` and
  ``examples/`` included, as installed: ``lava_nt.processes`` ...), counting imports inside
  functions too: a cycle hidden by a late import is still a cycle;
* the library never imports the examples (only the CLI commands that run them may);
* imports sit at the top of a module; one inside a function needs a reason: Lava (its start
  method and start-up cost), an optional extra, the CLI's start-up time (``lava_nt.cli`` and
  ``lava_nt.commands``), or a ``# lazy: <reason>`` comment on the line (or the line above).

The walk is static (``ast``), so it also sees imports in code paths no test runs.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# source folder -> installed package (pyproject's package-dir)
SOURCES = {
    "lava_nt": "lava_nt",
    "processes": "lava_nt.processes",
    "converters": "lava_nt.converters",
    "examples": "lava_nt.examples",
}
TOP_ALIASES = {"processes", "converters", "examples"}  # legacy spellings of lava_nt.<name>
# top-level packages imported late on purpose: heavy start-up or optional extras
LAZY_OK = {
    "lava",  # Lava: its multiprocessing start method must be set first; ~1 s to import
    "ray",  # optional extra [ray]
    "matplotlib",  # optional extra [plots]
    "sklearn",  # optional extra [images]
    "mlxtend",  # optional extra [images]
    "snntorch",  # optional extra [bench]/[test]
    "nirtorch",  # Norse's NIR bridge, only for norse interop
    "norse",  # imported by the torch engine; late where only one code path needs it
    "mkdocs",
}
CLI_MODULES = ("lava_nt.cli", "lava_nt.commands")  # the CLI imports every command to build --help
EXAMPLE_USERS = ("lava_nt.examples", "lava_nt.commands", "lava_nt.cli")


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    target: str  # imported lava_nt module (resolved), or the top-level name of a third-party one
    line: int
    in_function: bool
    commented: bool


def _modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for folder, package in SOURCES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            out[".".join([package, *parts])] = (path, is_package)
    return out


MODULES = _modules()


def _canonical(name: str) -> str:
    head = name.split(".")[0]
    return f"lava_nt.{name}" if head in TOP_ALIASES else name


def _resolve(name: str) -> str | None:
    """The longest known lava_nt module that ``name`` lies in (None: third party)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _function_lines(tree: ast.AST) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    lines.add(inner.lineno)
    return lines


def _imports(module: str) -> list[Import]:
    path, is_package = MODULES[module]
    text = path.read_text()
    lines = text.splitlines()
    tree = ast.parse(text)
    in_function = _function_lines(tree)
    package = module if is_package else module.rpartition(".")[0]
    found = []

    def add(target_name: str, node: ast.stmt) -> None:
        resolved = _resolve(target_name)
        target = resolved if resolved else target_name.split(".")[0]
        here = lines[node.lineno - 1]
        above = lines[node.lineno - 2] if node.lineno >= 2 else ""
        commented = "# lazy" in here.lower() or above.strip().lower().startswith("# lazy")
        found.append(Import(module, target, node.lineno, node.lineno in in_function, commented))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(_canonical(alias.name), node)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                origin = base + (f".{node.module}" if node.module else "")
            else:
                origin = _canonical(node.module or "")
            for alias in node.names:
                full = f"{origin}.{alias.name}"
                add(full if full in MODULES else origin, node)
    return found


IMPORTS = {module: _imports(module) for module in MODULES}


def _ancestors(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def _graph() -> dict[str, set[str]]:
    """Module -> the lava_nt modules it imports (a package's own ancestors excluded: importing
    ``a.b.c`` always runs ``a`` and ``a.b`` first, that is not a dependency of ``a.b.c``)."""
    graph = {}
    for module, imports in IMPORTS.items():
        skip = _ancestors(module) | {module}
        graph[module] = {i.target for i in imports if i.target in MODULES and i.target not in skip}
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components of more than one module (the cycles)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return cycles


def test_the_walk_sees_the_library():
    assert "lava_nt.spec.ntlif" in MODULES
    assert "lava_nt.processes.ntlif.models" in MODULES
    assert "lava_nt.converters.quantize" in MODULES
    graph = _graph()
    # spot checks that resolution works: the Lava models call the spec
    assert "lava_nt.spec.ntlif" in graph["lava_nt.spec"] or any(
        t.startswith("lava_nt.spec") for t in graph["lava_nt.processes.ntlif.models"]
    )


def test_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert strongly_connected(graph) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    cycles = strongly_connected(_graph())
    graph = _graph()
    message = []
    for component in cycles:
        inside = set(component)
        message.append(
            "cycle: " + "; ".join(f"{m} -> {sorted(graph[m] & inside)}" for m in component)
        )
    assert not cycles, "\n".join(message)


def test_library_never_imports_examples():
    bad = [
        f"{i.source}:{i.line} imports {i.target}"
        for imports in IMPORTS.values()
        for i in imports
        if i.target.startswith("lava_nt.examples") and not i.source.startswith(EXAMPLE_USERS)
    ]
    assert not bad, "\n".join(bad)


def _late_import_allowed(i: Import) -> bool:
    return (
        not i.in_function
        or i.commented
        or i.source.startswith(CLI_MODULES)
        or i.target.split(".")[0] in LAZY_OK
        or i.target.startswith("lava_nt.processes")  # Lava processes: Lava's start-up, as above
        or i.target.startswith("lava_nt.lava")
    )


_LAVA_LOADED = (
    "import sys, lava_nt, lava_nt.cli; lava_nt.cli.build_parser(); "
    "print(sorted(m for m in sys.modules if m == 'lava' or m.startswith('lava.')))"
)


def test_cli_start_up_imports_no_lava():
    """``import lava_nt`` and ``lava-nt --help`` (the parser with every command) leave Lava
    unimported: its start method and start-up cost belong to the commands that run it."""
    out = subprocess.run(
        [sys.executable, "-c", _LAVA_LOADED], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout
    # the probe itself sees Lava when it is imported
    probe = _LAVA_LOADED.replace("lava_nt.cli.build_parser(); ", "import lava.magma; ")
    seen = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "'lava.magma'" in seen.stdout


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_at_module_top(module):
    late = [
        f"{module}:{i.line} imports {i.target} inside a function"
        for i in IMPORTS[module]
        if not _late_import_allowed(i)
    ]
    assert not late, (
        "move these imports to the top of the module, or say on the line why they are late "
        "(# lazy: <reason>):\n" + "\n".join(late)
    )

"""Installed layout: processes/, converters/, examples/ are importable only through lava_nt."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAPPED = {
    "processes": "lava_nt/processes",
    "converters": "lava_nt/converters",
    "examples": "lava_nt/examples",
}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("lava_nt", *MAPPED):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(src)],
        check=True,
    )  # fmt: skip
    (whl,) = out.glob("lava_nt-*.whl")
    return whl


def test_wheel_has_no_top_level_processes_or_converters(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert tops == {"lava_nt"}, tops
    for folder, installed in MAPPED.items():
        sources = [p.relative_to(ROOT / folder) for p in (ROOT / folder).rglob("*.py")]
        assert sources, folder
        for rel in sources:
            assert f"{installed}/{rel.as_posix()}" in names, (
                f"{folder}/{rel} missing from the wheel"
            )


def test_every_source_package_is_listed_in_pyproject(wheel):
    """A new subpackage that is not listed in pyproject.toml would silently be left out."""
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in ("lava_nt", *MAPPED):
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.relative_to(ROOT / folder).as_posix()
            installed = "lava_nt" if folder == "lava_nt" else MAPPED[folder]
            assert f"{installed}/{rel}" in names, f"{folder}/{rel}: package not installed"


def test_installed_wheel_imports_through_lava_nt_only(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    code = (
        "import importlib.util, sys\n"
        "import lava_nt, lava_nt.processes, lava_nt.converters, lava_nt.examples\n"
        f"assert lava_nt.__file__.startswith({str(target)!r}), lava_nt.__file__\n"
        "from lava_nt.processes.ntlif import process\n"
        "for bare in ('processes', 'converters', 'examples'):\n"
        "    assert importlib.util.find_spec(bare) is None, bare\n"
        "print('ok')\n"
    )
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"


def test_console_script_help_and_version():
    exe = Path(sys.executable).with_name("lava-nt")
    assert exe.exists(), "the lava-nt console script is not installed in the venv"
    res = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    import lava_nt

    assert res.stdout.strip() == f"lava-nt {lava_nt.__version__}"
    res = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True)
    assert "smoke" in res.stdout

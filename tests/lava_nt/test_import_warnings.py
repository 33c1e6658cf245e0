"""Commands print no torch.jit.script FutureWarning: Norse's import-time warning is silenced
where Norse is imported (lava_nt.nn.ntlif, converters.nir_io.norse), by its exact message."""

import subprocess
import sys

# every place lava-nt imports Norse, in a fresh interpreter that turns FutureWarnings into errors
IMPORT_NORSE = (
    "import lava_nt.converters.nir_io.norse as n\n"
    "n._norse_modules(1.0, None)\n"  # its lazy Norse imports, before anything else imported Norse
    "import lava_nt.nn.ntlif\n"
    "import sys\n"
    "assert 'norse' in sys.modules\n"
)


def _python(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=300, check=False
    )


def test_norse_imports_raise_no_future_warning():
    for first in ("import lava_nt.nn.ntlif\n", ""):  # either import site first
        r = _python("-W", "error::FutureWarning", "-c", first + IMPORT_NORSE)
        assert r.returncode == 0, r.stderr
        assert "FutureWarning" not in r.stderr


def test_other_future_warnings_are_not_hidden():
    """The filter is scoped to Norse's import: a FutureWarning raised afterwards still shows."""
    code = (
        "import warnings, lava_nt.nn.ntlif\n"
        "warnings.warn('`torch.jit.script` is deprecated (raised later)', FutureWarning)\n"
    )
    r = _python("-c", code)
    assert r.returncode == 0, r.stderr
    assert "FutureWarning: `torch.jit.script` is deprecated (raised later)" in r.stderr


def test_lava_nt_help_prints_no_warning():
    for args in (["--help"], ["eeg", "--help"]):
        r = _python("-m", "lava_nt.cli", *args)
        assert r.returncode == 0, r.stderr
        assert "Warning" not in r.stderr, r.stderr
        assert "usage: lava-nt" in r.stdout


def test_a_training_command_prints_no_warning(tmp_path):
    """A command that imports torch and Norse and trains (the filters once lived in the command
    modules; now only at Norse's import sites)."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = (rng.random((5, 12, 6)) < 0.3).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(12) % 2)
    r = _python(
        "-m", "lava_nt.cli", "train", "--data", str(tmp_path / "d.npz"), "--hidden", "4",
        "--population", "2", "--epochs", "1", "--no-progress", "--out", str(tmp_path / "m.h5"),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "m.h5").exists()
    assert "Warning" not in r.stderr, r.stderr

"""segmint._startup: scipy.special is loaded before pandas (skops' ufunc search stays short)."""

from __future__ import annotations

import subprocess
import sys


def _python(code: str) -> str:
    """Run ``code`` in a fresh interpreter; its stdout, stripped."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_early_loads_scipy_special_before_pandas() -> None:
    code = (
        "import sys\n"
        "from segmint._startup import early\n"
        "early()\n"
        "names = list(sys.modules)\n"
        "print(names.index('scipy.special._ufuncs') < names.index('pandas'))\n"
    )
    assert _python(code) == "True"


def test_cli_startup_does_not_import_the_heavy_libraries() -> None:
    code = (
        "import sys\n"
        "import segmint.cli\n"
        "heavy = {'pandas', 'sklearn', 'scipy', 'matplotlib', 'duckdb', 'skops'}\n"
        "print(sorted(heavy & {name.split('.')[0] for name in sys.modules}))\n"
    )
    assert _python(code) == "[]"

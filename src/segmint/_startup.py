"""Start-up speed: the order of the heavy imports, and one import in the background."""

from __future__ import annotations

import contextlib
import importlib
import threading

__all__ = ["early", "import_in_background"]


def early() -> None:
    """Import NumPy, then ``scipy.special``, then pandas, before anything else heavy.

    skops, imported to save or load a model, looks each SciPy ufunc up in every loaded module
    in import order (``sys.modules``); with ``scipy.special`` early in that order the search
    takes 0.7 s instead of 1.5 s on the reference machine. SciPy is a dependency of
    scikit-learn, imported by every run anyway.
    """
    # The order is the point: ruff's import sorting is off here.
    # isort: off
    import numpy  # noqa: F401
    import scipy.special  # noqa: F401
    import pandas  # noqa: F401
    # isort: on


def import_in_background(module: str) -> threading.Thread:
    """Start importing ``module`` on a thread; a later ``import`` waits for it to finish.

    Importing scikit-learn takes about 2 s on the reference machine; the engine reading the
    log meanwhile runs in DuckDB's threads, outside the GIL, so on two cores the two overlap.
    Call it after :func:`early`, so that NumPy and pandas, which both sides
    import, are already loaded. An import that fails on the thread fails again, with its usual
    message, where the module is used.
    """

    def load() -> None:
        with contextlib.suppress(Exception):
            importlib.import_module(module)

    thread = threading.Thread(target=load, name=f"import {module}", daemon=True)
    thread.start()
    return thread

"""segmint: customer segments from retail transaction logs.

The public API mirrors the command line::

    import segmint
    table = segmint.customer_features("online_retail.csv").table
    result = segmint.run("online_retail.csv", "out/")

Heavy libraries are imported on first use, so ``import segmint`` is cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from segmint.errors import SegmintError

if TYPE_CHECKING:
    from segmint.features import FeatureTable
    from segmint.model import Segmenter
    from segmint.model import load as load_model
    from segmint.pipeline import RunResult, customer_features, load, run
    from segmint.scoring import score

__version__ = "0.1.0"

__all__ = [
    "FeatureTable",
    "RunResult",
    "Segmenter",
    "SegmintError",
    "customer_features",
    "load",
    "load_model",
    "run",
    "score",
]

_LAZY = {
    "FeatureTable": "segmint.features",
    "customer_features": "segmint.pipeline",
    "load": "segmint.pipeline",
    "Segmenter": "segmint.model",
    "load_model": "segmint.model",
    "RunResult": "segmint.pipeline",
    "run": "segmint.pipeline",
    "score": "segmint.scoring",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = import_module(_LAZY[name])
        return getattr(module, "load" if name == "load_model" else name)
    raise AttributeError(f"module 'segmint' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)

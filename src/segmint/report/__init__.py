"""The report of a finished run: plots for ``OUTDIR/plots/`` and a self-contained ``report.html``.

Built in two steps (docs/ARCHITECTURE.md): :func:`summarize` turns the run's outputs into a
plain dict, then :func:`render_html` renders that dict and the figures with one Jinja template.
:func:`render_report` does the whole job from the files of an OUTDIR (:func:`read_run`) and
returns the files' bytes; it writes nothing: :func:`segmint.pipeline.write_report` (behind
``segmint report OUTDIR``) and :func:`segmint.pipeline.run` write them.

Examples
--------
>>> from segmint.report import render_report
>>> sorted(render_report(Path("out")))  # doctest: +SKIP
['plots/contingency.png', ..., 'report.html']
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from segmint._parallel import run_tasks
from segmint.errors import SegmintError
from segmint.report.html import render_html
from segmint.report.summarize import FIGURES, SECTIONS, summarize

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "FIGURES",
    "PLOTS_FOLDER",
    "REPORT_FILE",
    "SECTIONS",
    "preload",
    "read_run",
    "render_figures",
    "render_html",
    "render_report",
    "summarize",
]

_RUN_FILES = ("segments.csv", "profiles.csv", "metrics.json")

#: Where :func:`render_report` puts the report and the figures, relative to OUTDIR.
REPORT_FILE = "report.html"
PLOTS_FOLDER = "plots"


def _missing_file(outdir: Path, name: str) -> SegmintError:
    return SegmintError(
        f"{outdir}: no {name}; is this the OUTDIR of a finished run? "
        "Run `segmint run LOG.csv -o OUTDIR` first, then `segmint report OUTDIR`"
    )


def read_run(outdir: Path) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """Read ``metrics.json``, ``segments.csv`` and ``profiles.csv`` of a finished run.

    Only the columns the report uses are read from ``segments.csv`` (the features, the two
    segment numbers and ``gmm_probability``), so a table of millions of customers loads fast.

    Parameters
    ----------
    outdir : pathlib.Path
        The OUTDIR of a run (docs/CONTRACTS.md, "Files in OUTDIR").

    Returns
    -------
    (dict, pandas.DataFrame, pandas.DataFrame)
        ``(metrics, segments, profiles)``.

    Raises
    ------
    SegmintError
        When a file is missing or unreadable, or ``segments.csv`` lacks a column.
    """
    outdir = Path(outdir)
    for name in _RUN_FILES:
        if not (outdir / name).is_file():
            raise _missing_file(outdir, name)
    try:
        metrics = json.loads((outdir / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SegmintError(
            f"{outdir / 'metrics.json'}: not readable JSON ({error}); re-run `segmint run`"
        ) from error
    if not isinstance(metrics, dict):
        raise SegmintError(
            f"{outdir / 'metrics.json'}: expected a JSON object; re-run `segmint run`"
        )
    path = outdir / "segments.csv"
    try:
        header = pd.read_csv(path, nrows=0).columns.tolist()
        features = [str(f) for f in metrics.get("features") or []]
        if not features:
            skip = {
                "customer_id",
                "kmeans_name",
                "gmm_name",
                "kmeans_segment",
                "gmm_segment",
                "gmm_probability",
            }
            features = [c for c in header if c not in skip]
        wanted = [*features, "kmeans_segment", "gmm_segment"]
        missing = [c for c in wanted if c not in header]
        if missing:
            raise SegmintError(
                f"{path}: no column {', '.join(missing)}; columns are {header}; "
                "re-run `segmint run` to write a complete OUTDIR"
            )
        if "gmm_probability" in header:
            wanted.append("gmm_probability")
        try:
            segments = pd.read_csv(path, usecols=wanted, engine="pyarrow")
        except ImportError:  # pragma: no cover - pyarrow is a dependency
            segments = pd.read_csv(path, usecols=wanted)
        segments = segments[wanted]
        profiles = pd.read_csv(outdir / "profiles.csv")
    except (OSError, ValueError) as error:
        raise SegmintError(f"{outdir}: cannot read the run's tables ({error})") from error
    return metrics, segments, profiles


def render_figures(
    summary: Mapping[str, Any], segments: pd.DataFrame, *, n_jobs: int | None = None
) -> dict[str, bytes]:
    """Draw every figure of the report as PNG bytes, on up to ``n_jobs`` processes.

    Parameters
    ----------
    summary : mapping
        The dict of :func:`summarize` (names, colours, sweep, grid, the list of figures).
    segments : pandas.DataFrame
        One row per customer with the features, ``kmeans_segment`` and ``gmm_segment``.
    n_jobs : int or None, default=None
        Processes drawing figures side by side (:func:`segmint._parallel.run_tasks`; default
        one per core). The PNGs do not depend on it.

    Returns
    -------
    dict of str to bytes
        PNG bytes by figure key, in the order of ``summary["figures"]``; figures without data
        (an empty sweep or grid) are left out. Byte-identical for the same input.
    """
    from segmint.report import plots

    features = [f["name"] for f in summary["features"]]
    kmeans, gmm = summary["kmeans"], summary["gmm"]
    names = {
        "kmeans": {s["segment"]: s["name"] for s in kmeans["segments"]},
        "gmm": {s["segment"]: s["name"] for s in gmm["segments"]},
    }
    colors = {
        "kmeans": {s["segment"]: s["color"] for s in kmeans["segments"]},
        "gmm": {s["segment"]: s["color"] for s in gmm["segments"]},
    }
    sweep = [
        {"k": r["k"], "wcss": r["wcss"], "silhouette": r["silhouette"]} for r in kmeans["sweep"]
    ]
    grid = _grid_rows(gmm["grid"])
    mixture = gmm.get("mixture")  # "count" or "gaussian": the words of titles and labels

    def sizes(method: Literal["kmeans", "gmm"]) -> Figure:
        ax = plots.segment_sizes(
            segments,
            method=method,
            mixture=mixture,
            names=names[method],
            colors=colors[method],
        )
        return ax.get_figure(root=True)  # type: ignore[return-value]

    def contingency() -> Figure:
        ax = plots.contingency_heatmap(
            segments, kmeans_names=names["kmeans"], gmm_names=names["gmm"], mixture=mixture
        )
        return ax.get_figure(root=True)  # type: ignore[return-value]

    business = summary.get("business") or {}
    monthly_rows = list((summary.get("monthly") or {}).get("kmeans") or [])

    def monthly() -> Figure:
        from segmint.report.business_plots import monthly_figure

        return monthly_figure(
            monthly_rows,
            names=names["kmeans"],
            colors=colors["kmeans"],
            currency=business.get("currency"),
        )

    draw: dict[str, Callable[[], Figure] | None] = {
        "monthly": monthly if monthly_rows else None,
        "correlation": lambda: plots.correlation_figure(segments, features=features),
        "kmeans_selection": (
            (lambda: plots.kmeans_selection_figure(sweep, knee=kmeans["knee"], k=kmeans["k"]))
            if sweep
            else None
        ),
        "kmeans_sizes": lambda: sizes("kmeans"),
        "kmeans_pairs": lambda: plots.pair_plot(
            segments,
            method="kmeans",
            features=features,
            names=names["kmeans"],
            colors=colors["kmeans"],
        ),
        "kmeans_violins": lambda: plots.segment_violins(
            segments,
            method="kmeans",
            features=features,
            names=names["kmeans"],
            colors=colors["kmeans"],
        ),
        "gmm_selection": (
            (
                lambda: plots.gmm_selection_figure(
                    grid,
                    n_components=gmm["n_components"],
                    covariance_type=gmm["covariance_type"],
                    criterion=gmm["criterion"].lower(),
                )
            )
            if grid
            else None
        ),
        "gmm_sizes": lambda: sizes("gmm"),
        "gmm_violins": lambda: plots.segment_violins(
            segments,
            method="gmm",
            mixture=mixture,
            features=features,
            names=names["gmm"],
            colors=colors["gmm"],
        ),
        "contingency": contingency,
    }
    preload()  # here, once, rather than in each process drawing figures (~0.8 s apiece)
    todo = [(meta["key"], draw.get(meta["key"])) for meta in summary["figures"]]
    jobs = [(key, make) for key, make in todo if make is not None]
    pngs = run_tasks(
        [functools.partial(_png, make) for _, make in jobs],
        n_jobs=n_jobs,
    )
    return {key: png for (key, _), png in zip(jobs, pngs, strict=True)}


def preload() -> None:
    """Import what drawing the figures needs (matplotlib's Agg canvas, Pillow): about 0.8 s."""
    import matplotlib.backends.backend_agg
    import matplotlib.figure  # noqa: F401
    import PIL.Image  # noqa: F401

    import segmint.report.plots  # noqa: F401


def _png(make: Callable[[], Figure]) -> bytes:
    from segmint.report.plots import figure_to_png

    return figure_to_png(make())


def _grid_rows(grid: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Back from the summary's BIC/AIC table to rows; the summary keeps only its criterion."""
    return list(grid.get("long", []))


def render_report(
    outdir: Path, *, plots_only: bool = False, n_jobs: int | None = None
) -> dict[str, bytes]:
    """Render ``plots/*.png`` and ``report.html`` of a finished run, without refitting or writing.

    Reads ``segments.csv``, ``profiles.csv`` and ``metrics.json`` from ``outdir``
    (:func:`read_run`). The same inputs give byte-identical files.

    Parameters
    ----------
    outdir : pathlib.Path
        The OUTDIR of a run.
    plots_only : bool, default=False
        Render only the figures, not ``report.html``.
    n_jobs : int or None, default=None
        Processes drawing the figures, see :func:`render_figures`.

    Returns
    -------
    dict of str to bytes
        The files' contents by their path relative to ``outdir``, with ``/`` separators: the
        figures first (``"plots/<key>.png"``, in the order of :data:`FIGURES`), then
        ``"report.html"`` (UTF-8) unless ``plots_only``.

    Raises
    ------
    SegmintError
        When a file of the run is missing or incomplete.
    """
    metrics, segments, profiles = read_run(Path(outdir))
    summary = summarize(metrics, segments, profiles)
    figures = render_figures(summary, segments, n_jobs=n_jobs)
    files = {f"{PLOTS_FOLDER}/{key}.png": png for key, png in figures.items()}
    if not plots_only:
        files[REPORT_FILE] = render_html(summary, figures).encode("utf-8")
    return files

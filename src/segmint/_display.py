"""Compact HTML summaries of the API's results, for notebooks (``_repr_html_``).

Plain text in, escaped HTML out; no styling beyond a table, so it reads in Jupyter, VS Code
and JupyterLab alike, light or dark.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

__all__ = ["run_html", "summary_html"]


def summary_html(
    title: str,
    rows: Sequence[tuple[str, str]],
    *,
    table: Sequence[Sequence[str]] = (),
    header: Sequence[str] = (),
    warnings: Sequence[str] = (),
    notes: Sequence[str] = (),
) -> str:
    """An HTML block: a title, label/value rows, an optional small table, warnings, notes.

    Parameters
    ----------
    title : str
        The heading (the object's type).
    rows : sequence of (str, str)
        Label and value of each figure.
    table, header : sequence
        Rows of a small table (segments) and its column names; left out when empty.
    warnings, notes : sequence of str
        Listed after the figures, warnings first.

    Returns
    -------
    str
    """
    out = [f'<div class="segmint-summary"><strong>{escape(title)}</strong>']
    out.append('<table style="text-align:left">')
    out += [f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows]
    out.append("</table>")
    if table:
        out.append('<table style="text-align:right">')
        out.append("<tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr>")
        out += ["<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in table]
        out.append("</table>")
    for label, items in (("warning", warnings), ("note", notes)):
        if items:
            out.append("<ul>" + "".join(f"<li>{label}: {escape(i)}</li>" for i in items) + "</ul>")
    out.append("</div>")
    return "\n".join(out)


def run_html(result: Any) -> str:
    """The summary of a :class:`segmint.pipeline.RunResult` (duck-typed: this layer is lower)."""
    km, gm = result.metrics.get("kmeans") or {}, result.metrics.get("gmm") or {}
    rows = [
        ("source", result.features.source),
        ("customers", f"{len(result.segments):,}"),
        ("features", ", ".join(result.features.features)),
        ("KMeans", f"{km.get('k')} segments ({km.get('reason', '')})"),
        # "count mixture (negative binomial ...)" -> "count mixture"; older runs: Gaussian
        (
            str(gm.get("model") or "Gaussian mixture").split(" (")[0],
            f"{gm.get('n_components')} components"
            + (
                f" in {gm.get('n_segments')} segments"
                if (gm.get("combination") or {}).get("combined")
                else ""
            ),
        ),
    ]
    if result.outdir is not None and (result.outdir / "report.html").exists():
        rows.append(("report", str(result.outdir / "report.html")))
    sizes = result.profiles[result.profiles["method"] == "kmeans"]
    table = [[str(r.segment), str(r.name), f"{int(r.size):,}"] for r in sizes.itertuples()]
    return summary_html(
        "segmint RunResult",
        rows,
        table=table,
        header=["KMeans segment", "name", "customers"],
        warnings=result.warnings,
        notes=result.features.notes,
    )

"""``segmint track``: segments over time, who moved where, who is new and who lapsed.

With a saved model and a log, every customer is scored at the end of every month or quarter,
each time on the features over the model's window (:mod:`segmint.windows`, all period ends in
one query). Between two consecutive period ends each customer moves *from* a segment, or is
``new`` (first line in the log after the earlier end), or ``lapsed`` (bought before but not in
the earlier window) *to* a segment or to ``lapsed`` (no purchase in the later window). A verb of
the pipeline layer: it writes its outputs atomically through :mod:`segmint.io.outputs`.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segmint._export import check_output
from segmint.errors import SegmintError
from segmint.io.outputs import atomic_folder, write_files
from segmint.io.tables import write_table

if TYPE_CHECKING:
    import pandas as pd

    from segmint.io.sources import Inputs

__all__ = ["LAPSED", "NEW", "Tracked", "flows", "track"]

#: The states besides the segments.
NEW = "new"
LAPSED = "lapsed"


@dataclass
class Tracked:
    """What :func:`track` produced.

    Attributes
    ----------
    transitions : pandas.DataFrame
        ``transitions.csv``: per pair of consecutive period ends and (from, to) state:
        ``period_from``, ``period_to``, ``from_segment``, ``from_name``, ``to_segment``,
        ``to_name``, ``customers``, ``net_spend_from``, ``net_spend_to``.
    timeline : pandas.DataFrame
        ``timeline.csv``: per period end and segment (and ``all``): ``customers``, ``share``,
        ``net_spend``, ``stayed``, ``joined``, ``left``, ``turnover`` (share of the segment's
        customers at the previous end who left it; empty at the first end).
    scores : pandas.DataFrame
        Every (``period_end``, customer) in a window: features, ``net_spend``, segment.
    summary : list of str
        What changed, in plain words.
    warnings : list of str
        For example a window other than the model's.
    movers : pandas.DataFrame or None
        The ten customers who left the most valuable segment with the most spend.
    window : str or None
        The window the features were computed over.
    names : dict of int to str
        The segment names.
    """

    transitions: pd.DataFrame
    timeline: pd.DataFrame
    scores: pd.DataFrame
    summary: list[str]
    warnings: list[str] = field(default_factory=list)
    movers: pd.DataFrame | None = None
    window: str | None = None
    names: dict[int, str] = field(default_factory=dict)


def _window_words(window: str | None) -> str:
    if window is None:
        return "every earlier day"
    n, unit = int(window[:-1]), "day" if window[-1] == "D" else "month"
    return f"{n} {unit}{'s' if n != 1 else ''}"


def flows(
    scores: pd.DataFrame, first_days: pd.DataFrame, names: Mapping[int, str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The transitions between consecutive period ends, and each mover's row.

    Parameters
    ----------
    scores : pandas.DataFrame
        ``period_end``, ``customer_id``, ``net_spend``, ``segment`` (int).
    first_days : pandas.DataFrame
        ``customer_id``, ``first_day`` (:func:`segmint.windows.first_days`).
    names : mapping of int to str
        Segment names.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        The transitions (see :class:`Tracked`) and one row per (pair, customer): ``period_from``,
        ``period_to``, ``customer_id``, ``from_segment``, ``to_segment``, ``net_spend_from``,
        ``net_spend_to``.
    """
    import pandas as pd

    ends = sorted(scores["period_end"].unique())
    first = dict(zip(first_days["customer_id"], first_days["first_day"], strict=True))
    by_end = {e: scores[scores["period_end"] == e].set_index("customer_id") for e in ends}
    label = {**{str(s): n for s, n in names.items()}, NEW: "new customers", LAPSED: "lapsed"}
    back = {**label, LAPSED: "back after a gap"}  # lapsed on the earlier side: came back
    order = {**{str(s): i for i, s in enumerate(sorted(names))}, NEW: 1000, LAPSED: 1001}
    rows = []
    for p0, p1 in itertools.pairwise(ends):
        a, b = by_end[p0], by_end[p1]
        ids = a.index.union(b.index)
        frame = pd.DataFrame({"customer_id": ids})
        seg0 = a["segment"].reindex(ids)
        seg1 = b["segment"].reindex(ids)
        is_new = [first[c] > p0 for c in ids]
        frame["from_segment"] = [
            str(int(s)) if s == s else (NEW if n else LAPSED)
            for s, n in zip(seg0, is_new, strict=True)
        ]
        frame["to_segment"] = [str(int(s)) if s == s else LAPSED for s in seg1]
        frame["net_spend_from"] = a["net_spend"].reindex(ids).fillna(0.0).to_numpy()
        frame["net_spend_to"] = b["net_spend"].reindex(ids).fillna(0.0).to_numpy()
        frame.insert(0, "period_to", p1)
        frame.insert(0, "period_from", p0)
        rows.append(frame)
    columns = ["period_from", "period_to", "customer_id", "from_segment", "to_segment"]
    movers = (
        pd.concat(rows, ignore_index=True)
        if rows
        else pd.DataFrame(columns=[*columns, "net_spend_from", "net_spend_to"])
    )
    keys = ["period_from", "period_to", "from_segment", "to_segment"]
    grouped = (
        movers.groupby(keys, sort=False)
        .agg(
            customers=("customer_id", "size"),
            net_spend_from=("net_spend_from", "sum"),
            net_spend_to=("net_spend_to", "sum"),
        )
        .reset_index()
    )
    grouped["from_name"] = grouped["from_segment"].map(back)
    grouped["to_name"] = grouped["to_segment"].map(label)
    grouped["_a"] = grouped["from_segment"].map(order)
    grouped["_b"] = grouped["to_segment"].map(order)
    grouped = grouped.sort_values(["period_from", "_a", "_b"], kind="stable")
    for col in ("net_spend_from", "net_spend_to"):
        grouped[col] = grouped[col].round(2)
    transitions = grouped[
        [
            "period_from",
            "period_to",
            "from_segment",
            "from_name",
            "to_segment",
            "to_name",
            "customers",
            "net_spend_from",
            "net_spend_to",
        ]
    ].reset_index(drop=True)
    return transitions, movers


def _timeline(scores: pd.DataFrame, movers: pd.DataFrame, names: Mapping[int, str]) -> Any:
    import pandas as pd

    ends = sorted(scores["period_end"].unique())
    rows: list[dict[str, Any]] = []
    for i, end in enumerate(ends):
        now = scores[scores["period_end"] == end]
        moved = movers[movers["period_to"] == end] if i else None
        total = len(now)
        for seg in [*sorted(names), "all"]:
            part = now if seg == "all" else now[now["segment"] == seg]
            row: dict[str, Any] = {
                "period_end": end,
                "segment": str(seg),
                "name": "all customers" if seg == "all" else names[int(str(seg))],
                "customers": len(part),
                "share": round(len(part) / total, 4) if total else 0.0,
                "net_spend": round(float(part["net_spend"].sum()), 2),
                "stayed": None,
                "joined": None,
                "left": None,
                "turnover": None,
            }
            if moved is not None:
                if seg == "all":
                    was, now_in = moved["from_segment"], moved["to_segment"]
                    before = ~was.isin([NEW, LAPSED])
                    after = now_in != LAPSED
                else:
                    before = moved["from_segment"] == str(seg)
                    after = moved["to_segment"] == str(seg)
                row["stayed"] = int((before & after).sum())
                row["joined"] = int((~before & after).sum())
                row["left"] = int((before & ~after).sum())
                n_before = int(before.sum())
                row["turnover"] = round(row["left"] / n_before, 4) if n_before else None
            rows.append(row)
    table = pd.DataFrame(rows)
    for col in ("stayed", "joined", "left"):
        table[col] = table[col].astype("Int64")
    table["turnover"] = table["turnover"].astype("float64")
    return table


def _summary(
    transitions: pd.DataFrame, timeline: pd.DataFrame, movers: pd.DataFrame, window: str | None
) -> tuple[list[str], pd.DataFrame | None, Any]:
    """Plain sentences on the last two period ends, the top movers out of the best segment."""
    ends = sorted(timeline["period_end"].unique())
    last = timeline[(timeline["period_end"] == ends[-1]) & (timeline["segment"] == "all")]
    lines = [
        f"{int(last['customers'].iloc[0]):,} customers bought in the {_window_words(window)} "
        f"to {ends[-1]}."
    ]
    if len(ends) < 2:
        return lines, None, None
    p0, p1 = ends[-2], ends[-1]
    pair = transitions[transitions["period_to"] == p1]
    new = int(pair.loc[pair["from_segment"] == NEW, "customers"].sum())
    back = int(pair.loc[pair["from_segment"] == LAPSED, "customers"].sum())
    gone = int(pair.loc[pair["to_segment"] == LAPSED, "customers"].sum())
    lines.append(
        f"Since {p0}: {new:,} new customers, {back:,} came back after a gap, "
        f"{gone:,} lapsed (no purchase in the window)."
    )
    moves = pair[pair["from_segment"] != pair["to_segment"]].sort_values(
        "customers", ascending=False, kind="stable"
    )
    if len(moves):
        top = moves.iloc[0]
        lines.append(
            f"The largest movement: {int(top['customers']):,} customers from "
            f"{top['from_name']} to {top['to_name']}."
        )
    before = timeline[(timeline["period_end"] == p0) & (timeline["segment"] != "all")]
    before = before[before["customers"] > 0]
    if before.empty:
        return lines, None, pair
    value = before["net_spend"] / before["customers"]
    best = before.loc[value.idxmax()]
    seg = str(best["segment"])
    out = movers[
        (movers["period_to"] == p1)
        & (movers["from_segment"] == seg)
        & (movers["to_segment"] != seg)
    ].copy()
    out["lost_spend"] = (out["net_spend_from"] - out["net_spend_to"]).round(2)
    out = out.sort_values(["lost_spend", "customer_id"], ascending=[False, True], kind="stable")
    lost = float(out["lost_spend"].clip(lower=0).sum())
    lines.append(
        f"The most valuable segment at {p0}, {best['name']} ({int(best['customers']):,} "
        f"customers, {float(value.max()):,.0f} net spend each), lost {len(out):,} of them "
        f"by {p1}, and {lost:,.0f} of net spend with them."
    )
    return lines, out.head(10).reset_index(drop=True), pair


def _records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    if frame is None:
        return []
    out = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return [
        {str(k): (str(v) if str(k).startswith("period") else v) for k, v in r.items()} for r in out
    ]


def _page(result: Tracked, pair: pd.DataFrame | None, source: str, every: str) -> dict[str, Any]:
    """The plain dict :func:`segmint.report.timeline.render_timeline` draws."""
    timeline = _records(result.timeline)
    for row in timeline:
        seg = row["segment"]
        row["label"] = row["name"] if seg == "all" else f"{seg}: {row['name']}"
    names = {str(k): f"{k}: {v}" for k, v in result.names.items()}
    movers = _records(result.movers)
    for m in movers:
        m["to_name"] = names.get(m["to_segment"], m["to_segment"])
    best = names[movers[0]["from_segment"]] if movers else ""
    return {
        "source": source,
        "every": every,
        "window": _window_words(result.window),
        "summary": result.summary,
        "warnings": result.warnings,
        "timeline": timeline,
        "pair": _records(pair),
        "movers": movers,
        "best": best,
    }


def track(
    model: str | os.PathLike[str],
    inputs: Inputs,
    outdir: str | os.PathLike[str] | None = None,
    *,
    every: str = "month",
    window: str | None = None,
    columns: Mapping[str, str] | None = None,
    encoding: str | None = None,
    force: bool = False,
    report: bool = True,
    progress: Callable[[str], None] = lambda _: None,
) -> Tracked:
    """Score a log at every month or quarter end with a saved model, and who moved where.

    Parameters
    ----------
    model : path
        ``model.skops`` written by :func:`segmint.run`.
    inputs : path, glob, sequence of them, or pandas.DataFrame
        The log.
    outdir : path, optional
        Folder for ``transitions.csv``, ``timeline.csv`` and ``timeline.html``; nothing is
        written when ``None``.
    every : {"month", "quarter"}, default="month"
        The period ends (:func:`segmint.windows.period_ends`).
    window : str, optional
        Features over this window (default the model's; a model trained on the whole log
        needs one).
    columns, encoding
        See :func:`segmint.customer_features`.
    force : bool, default=False
        Replace an existing ``outdir``.
    report : bool, default=True
        Write ``timeline.html``.
    progress : callable, optional
        Called with a short message as each stage starts.

    Returns
    -------
    Tracked
    """
    from segmint._startup import early

    early()
    from segmint.clean import clean
    from segmint.io.sources import resolve_source
    from segmint.model import load
    from segmint.pipeline import get_engine
    from segmint.windows import (
        EVERY,
        first_days,
        log_days,
        parse_window,
        period_ends,
        window_features,
        window_note,
    )

    if every not in EVERY:
        raise SegmintError(f"--every {every}: use one of {', '.join(EVERY)}")
    target = Path(outdir) if outdir is not None else None
    if target is not None:
        check_output(target, inputs, force=force, folder=True, also=[model])
    segmenter = load(model)
    if not hasattr(segmenter, "feature_names_in_"):
        raise SegmintError(f"{model} was fitted on an array; pass a model.skops from segmint run")
    rules = getattr(segmenter, "metadata_", {}) or {}
    trained = (rules.get("period") or {}).get("window")
    span = trained if window is None else parse_window(window)
    if span is None:
        raise SegmintError(
            f"{model} was trained on the whole log, without a window; pass --window (e.g. 3M), "
            "or train with segmint run --window 3M"
        )
    warnings = [note] if (note := window_note(trained, span)) else []
    names = list(segmenter.feature_names_in_)
    wanted = names + [f for f in ("monetary",) if f not in names]
    progress("reading, cleaning and scoring every period end")
    engine = get_engine("duckdb")
    try:
        source = resolve_source(inputs, encoding=encoding)
        cleaned = clean(
            engine,
            source,
            features=wanted,
            columns=columns,
            exclude_service_codes=bool(rules.get("exclude_service_codes")),
            dated=True,
        )
        first, last = log_days(cleaned)
        ends = period_ends(first, last, every)
        scores = window_features(cleaned, ends, span, [*names, "net_spend"])
        firsts = first_days(cleaned)
    finally:
        engine.close()
    scores["segment"] = segmenter.predict(scores[names])
    seg_names = dict(enumerate(segmenter.kmeans_names_))
    scores["name"] = scores["segment"].map(seg_names)
    transitions, movers = flows(scores, firsts, seg_names)
    timeline = _timeline(scores, movers, seg_names)
    summary, top, pair = _summary(transitions, timeline, movers, span)
    result = Tracked(transitions, timeline, scores, summary, warnings, top, span, seg_names)
    if target is None:
        return result
    files: dict[str, bytes] = {}
    if report:
        from segmint.report.timeline import render_timeline

        progress("drawing the timeline page")
        files = render_timeline(_page(result, pair, source.label, every))
    with atomic_folder(target, force=force) as tmp:
        write_table(transitions, tmp / "transitions.csv")
        write_table(timeline, tmp / "timeline.csv")
        write_files(tmp, files)
    return result

"""Features as of a date over a window, and for many period ends in one pass.

A *window* is a number of days (``90D``) or calendar months (``12M``; ``1Y`` is ``12M``). The
features of a customer *as of* a day ``d`` over a window ``w`` are those of its clean lines
dated in ``(d - w, d]``, with recency measured to ``d``; a customer without a line there is not
in the table (for :mod:`segmint.track` it has *lapsed*). Without a window every line up to
``d`` counts. The lines come from the table ``dated`` that :func:`segmint.clean.clean` keeps
with ``dated=True``; every period end is computed by one SQL (:func:`segmint.rules.
window_feature_sql`): the lines joined to a small table of period ends, grouped by
(period end, customer).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from segmint.errors import SegmintError
from segmint.rules import FEATURE_DTYPES, WINDOW_FEATURE_SQL, window_feature_sql

if TYPE_CHECKING:
    import pandas as pd

    from segmint.clean import Cleaned
    from segmint.engines.base import Engine
    from segmint.features import FeatureTable
    from segmint.io.sources import Source
    from segmint.presets import Request

__all__ = [
    "EVERY",
    "customer_table",
    "dated_features",
    "first_days",
    "log_days",
    "parse_as_of",
    "parse_window",
    "period_ends",
    "window_days",
    "window_features",
    "window_note",
    "window_start",
]

#: Period lengths of ``track --every``.
EVERY: tuple[str, ...] = ("month", "quarter")

_WINDOW = re.compile(r"^\s*(\d+)\s*([dDwWmMyY]?)\s*$")


def parse_window(text: str | int | None) -> str | None:
    """A window as ``"<n>D"`` (days) or ``"<n>M"`` (calendar months); ``None`` is the whole log.

    Accepts ``90``, ``90D``, ``13W``, ``12M``, ``1Y`` (case-insensitive); ``all`` means none.
    """
    if text is None or (isinstance(text, str) and text.strip().lower() in ("", "all")):
        return None
    match = _WINDOW.match(str(text))
    n = int(match.group(1)) if match else 0
    if match is None or n <= 0:
        raise SegmintError(f"--window {text}: write it as days or months, e.g. 90D or 12M (or all)")
    unit = (match.group(2) or "D").upper()
    if unit == "W":
        return f"{7 * n}D"
    if unit == "Y":
        return f"{12 * n}M"
    return f"{n}{unit}"


def parse_as_of(text: str | dt.date | None) -> dt.date | None:
    """``--as-of`` as a date (``YYYY-MM-DD``)."""
    if text is None or isinstance(text, dt.date):
        return text
    try:
        return dt.date.fromisoformat(str(text).strip())
    except ValueError:
        raise SegmintError(f"--as-of {text}: write the date as YYYY-MM-DD") from None


def _minus_months(day: dt.date, months: int) -> dt.date:
    total = day.year * 12 + day.month - 1 - months
    year, month = divmod(total, 12)
    month += 1
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    last = (nxt - dt.timedelta(days=1)).day
    # a month end maps to a month end (31 Mar - 1M = 28/29 Feb, 28 Feb - 1M = 31 Jan)
    end_of_month = (day + dt.timedelta(days=1)).day == 1
    return dt.date(year, month, last if end_of_month else min(day.day, last))


def window_start(end: dt.date, window: str | None) -> dt.date:
    """The day before a window's first day: the window is ``(start, end]``."""
    if window is None:
        return dt.date(1, 1, 1)
    n, unit = int(window[:-1]), window[-1]
    return end - dt.timedelta(days=n) if unit == "D" else _minus_months(end, n)


def window_days(window: str | None, end: dt.date) -> int | None:
    """Days in the window ending on ``end`` (``None`` for the whole log)."""
    return None if window is None else (end - window_start(end, window)).days


def period_ends(first: dt.date, last: dt.date, every: str) -> list[dt.date]:
    """The ends of every month or quarter from ``first`` to ``last``, and ``last`` itself.

    A period end is the last day of a calendar month (``month``) or of March, June, September
    and December (``quarter``) that falls in ``[first, last]``; ``last`` closes the list when
    the log ends between two period ends.
    """
    if every not in EVERY:
        raise SegmintError(f"--every {every}: use one of {', '.join(EVERY)}")
    step = 1 if every == "month" else 3
    ends: list[dt.date] = []
    year, month = first.year, first.month
    while True:
        nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
        end = nxt - dt.timedelta(days=1)
        if end > last:
            break
        if end >= first and (month % step == 0):
            ends.append(end)
        year, month = nxt.year, nxt.month
    if not ends or ends[-1] != last:
        ends.append(last)
    return ends


def log_days(cleaned: Cleaned) -> tuple[dt.date, dt.date]:
    """The first and last day of the clean lines."""
    _need_dated(cleaned)
    row = cleaned.engine.fetch("SELECT MIN(day) AS a, MAX(day) AS b FROM dated").to_pylist()[0]
    if row["a"] is None:
        raise SegmintError(
            f"{cleaned.source.label} has no dated line; check the InvoiceDate column"
        )
    return row["a"], row["b"]


def _need_dated(cleaned: Cleaned) -> None:
    if not cleaned.dated:
        raise ValueError("clean(..., dated=True) keeps the lines that windows need")


def window_features(
    cleaned: Cleaned,
    ends: Sequence[dt.date],
    window: str | None,
    features: Sequence[str],
) -> pd.DataFrame:
    """The features of every customer at every period end, over the window, in one query.

    Parameters
    ----------
    cleaned : Cleaned
        From :func:`segmint.clean.clean` with ``dated=True``.
    ends : sequence of datetime.date
        The days the features are computed as of.
    window : str or None
        From :func:`parse_window`; ``None`` counts every line up to each end.
    features : sequence of str
        Feature names (:data:`segmint.rules.WINDOW_FEATURE_SQL`, ``net_spend`` included).

    Returns
    -------
    pandas.DataFrame
        ``period_end`` (datetime.date), ``customer_id`` (str), then the features (the
        contract dtypes; ``net_spend`` float64): one row per (period end, customer with a
        line in the window), sorted by both.
    """
    _need_dated(cleaned)
    unknown = [f for f in features if f not in WINDOW_FEATURE_SQL]
    if unknown:
        raise SegmintError(f"feature {unknown[0]!r} cannot be computed over a window yet")
    values = ", ".join(
        f"(DATE '{end.isoformat()}', DATE '{window_start(end, window).isoformat()}')"
        for end in sorted(set(ends))
    )
    engine = cleaned.engine
    engine.materialize("ends", f"SELECT * FROM (VALUES {values}) AS v(period_end, window_start)")
    table = engine.fetch(window_feature_sql(list(features))).to_pandas()
    table["customer_id"] = table["customer_id"].astype(str)
    table["period_end"] = [v if isinstance(v, dt.date) else v.date() for v in table["period_end"]]
    for name in features:
        table[name] = table[name].fillna(0).astype(FEATURE_DTYPES.get(name, "float64"))
    return table


def first_days(cleaned: Cleaned) -> pd.DataFrame:
    """``customer_id`` and ``first_day``: each customer's first clean line in the log."""
    _need_dated(cleaned)
    table = cleaned.engine.fetch(
        "SELECT customer_id, MIN(day) AS first_day FROM dated GROUP BY customer_id "
        "ORDER BY customer_id"
    ).to_pandas()
    table["customer_id"] = table["customer_id"].astype(str)
    return table


def customer_table(
    cleaned: Cleaned,
    features: Sequence[str],
    *,
    as_of: dt.date | None = None,
    window: str | None = None,
) -> tuple[pd.DataFrame, dict[str, str | None]]:
    """The customer table as of a day over a window, and the period it covers.

    Parameters
    ----------
    cleaned : Cleaned
        From :func:`segmint.clean.clean`; with ``dated=True`` when ``as_of`` or ``window`` is set.
    features : sequence of str
        The feature columns.
    as_of : datetime.date, optional
        Default the last day of the log.
    window : str, optional
        From :func:`parse_window`; default every line up to ``as_of``.

    Returns
    -------
    (pandas.DataFrame, dict)
        The table as :func:`segmint.features.aggregate` gives it (without ``period_end``), and
        ``{"as_of", "window", "first_day"}`` (ISO dates; ``first_day`` is the first day of
        the window, or of the log). Without ``as_of`` and ``window``: ``aggregate`` and ``{}``.
    """
    from segmint.features import aggregate

    if as_of is None and window is None:
        return aggregate(cleaned, features), {}
    first, last = log_days(cleaned)
    end = as_of if as_of is not None else last
    table = window_features(cleaned, [end], window, features).drop(columns="period_end")
    if table.empty:
        raise SegmintError(
            f"{cleaned.source.label} has no customer with a purchase in the window "
            f"ending {end}; pick an --as-of between {first} and {last} or a longer --window"
        )
    start = max(first, window_start(end, window) + dt.timedelta(days=1))
    period = {"as_of": end.isoformat(), "window": window, "first_day": start.isoformat()}
    return table.reset_index(drop=True), period


def dated_features(
    engine: Engine,
    source: Source,
    features: Sequence[str],
    *,
    columns: Mapping[str, str] | None = None,
    exclude_service_codes: bool = False,
    as_of: dt.date | None = None,
    window: str | None = None,
    request: Request | None = None,
    pseudonymize: bool | None = None,
    pseudonymize_key: str | None = None,
) -> tuple[FeatureTable, pd.DataFrame]:
    """Clean ``source`` keeping the days, then the customer table and each customer's first day.

    The table is as of ``as_of`` (default the log's last day) over ``window``
    (:func:`customer_table`); the first days are over the whole log (:func:`first_days`).
    ``request`` says how to read a shop's export (:mod:`segmint.presets`); ``pseudonymize``
    and ``pseudonymize_key`` as in :func:`segmint.features.feature_table`, the first days
    then under the same tokens.
    """
    from segmint.clean import clean
    from segmint.features import feature_table, pseudonymous_ids

    cleaned = clean(
        engine,
        source,
        features=features,
        columns=columns,
        exclude_service_codes=exclude_service_codes,
        dated=True,
        request=request,
    )
    end = as_of if as_of is not None else log_days(cleaned)[1]
    table, period = customer_table(cleaned, features, as_of=end, window=window)
    result = feature_table(
        cleaned, table, pseudonymize=pseudonymize, pseudonymize_key=pseudonymize_key
    )
    result.period = period
    firsts = first_days(cleaned)
    if result.pseudonymized:
        firsts = pseudonymous_ids(firsts, pseudonymize_key)
    return result, firsts


def window_note(trained: str | None, scored: str | None) -> str | None:
    """A warning when a model is applied over another window than the one it was trained on."""
    if trained == scored:
        return None

    def words(w: str | None) -> str:
        if w is None:
            return "the whole log"
        n, unit = int(w[:-1]), "day" if w[-1] == "D" else "month"
        return f"{n} {unit}{'s' if n != 1 else ''}"

    return (
        f"the model was trained on features over {words(trained)} and is scoring over "
        f"{words(scored)}: counts and spend grow with the window, so segments shift for that "
        "reason alone; leave out --window to use the model's"
    )

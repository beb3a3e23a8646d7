"""What each segment is worth and who is in it, from the customer descriptors.

:func:`segment_values` describes every segment by the same descriptors
(:data:`segmint.features.DESCRIPTORS`), whatever the segments were clustered on: customers and
their share, turnover (the sum of net spend) and its share, the medians of the descriptors,
how many cancelled, the top countries and the top customers by net spend.
:func:`monthly_by_segment` gives turnover and active customers per segment and month.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["MEDIAN_COLUMNS", "TOP_CUSTOMERS", "monthly_by_segment", "segment_values"]

#: Customers listed per segment in ``top_customers``.
TOP_CUSTOMERS: int = 10
#: Countries listed per segment in ``top_countries``.
TOP_COUNTRIES: int = 3
#: Descriptors whose segment median is reported, as ``<name>_median``.
MEDIAN_COLUMNS: tuple[str, ...] = (
    "net_spend",
    "n_orders",
    "avg_order_value",
    "n_products",
    "n_canceled_orders",
    "recency_days",
    "tenure_days",
)


def _top_customers(part: pd.DataFrame) -> str:
    top = part.sort_values(["net_spend", "customer_id"], ascending=[False, True]).head(
        TOP_CUSTOMERS
    )
    return "; ".join(
        f"{c} {v:.2f}" for c, v in zip(top["customer_id"], top["net_spend"], strict=True)
    )


def _top_countries(part: pd.DataFrame) -> str:
    if "country" not in part or part["country"].isna().all():
        return ""
    counts = part["country"].dropna().value_counts()
    frame = counts.rename_axis("country").reset_index(name="n")
    frame = frame.sort_values(["n", "country"], ascending=[False, True]).head(TOP_COUNTRIES)
    n = len(part)
    return "; ".join(
        f"{c} {100 * k / n:.0f}%" for c, k in zip(frame["country"], frame["n"], strict=True)
    )


def segment_values(
    descriptors: pd.DataFrame, labels: np.ndarray, n_segments: int, method: str
) -> pd.DataFrame:
    """Value and description of every segment, one row per segment.

    Parameters
    ----------
    descriptors : pandas.DataFrame
        :func:`segmint.features.describe_customers`, one row per customer, in the order of
        ``labels``.
    labels : ndarray of int, shape (n_customers,)
        Stable segment numbers ``0 .. n_segments - 1``.
    n_segments : int
        Number of segments (an empty one gets a row of zeros).
    method : str
        ``"kmeans"`` or ``"gmm"``.

    Returns
    -------
    pandas.DataFrame
        ``method``, ``segment``, ``customers``, ``customer_share``; with spend: ``turnover``
        (sum of net spend), ``turnover_share`` (of the total net spend; NaN when that is not
        positive), ``gross_spend``, ``cancelled_value``; ``cancellers`` (customers with a
        cancelled order), ``canceller_share``, ``repeat_canceller_share`` (2 or more),
        ``cancel_rate`` (cancelled orders over all orders of the segment); ``<d>_median`` for
        the :data:`MEDIAN_COLUMNS` present; ``top_countries`` and ``top_customers`` (id and
        net spend, highest first) as text.
    """
    labels = np.asarray(labels, dtype=np.int64)
    frame = descriptors.reset_index(drop=True).copy()
    frame["__segment"] = labels
    n = len(frame)
    total = float(frame["net_spend"].sum()) if "net_spend" in frame else float("nan")
    rows = []
    for segment in range(n_segments):
        part = frame[frame["__segment"] == segment]
        size = len(part)
        row: dict[str, object] = {
            "method": method,
            "segment": segment,
            "customers": size,
            "customer_share": size / n if n else 0.0,
        }
        if "net_spend" in frame:
            turnover = round(float(part["net_spend"].sum()), 2)
            row["turnover"] = turnover
            row["turnover_share"] = turnover / total if total > 0 else float("nan")
            row["gross_spend"] = round(float(part["gross_spend"].sum()), 2)
            row["cancelled_value"] = round(float(part["cancelled_value"].sum()), 2)
        cancels = part["n_canceled_orders"]
        row["cancellers"] = int((cancels > 0).sum())
        row["canceller_share"] = float((cancels > 0).mean()) if size else 0.0
        row["repeat_canceller_share"] = float((cancels >= 2).mean()) if size else 0.0
        if "n_orders" in frame:
            orders = float(part["n_orders"].sum()) + float(cancels.sum())
            row["cancel_rate"] = float(cancels.sum()) / orders if orders else 0.0
        for name in MEDIAN_COLUMNS:
            if name in frame:
                value = part[name].median() if size else float("nan")
                row[f"{name}_median"] = float(value) if pd.notna(value) else float("nan")
        row["top_countries"] = _top_countries(part)
        row["top_customers"] = _top_customers(part) if "net_spend" in frame else ""
        rows.append(row)
    return pd.DataFrame(rows)


def overall_values(descriptors: pd.DataFrame) -> dict[str, float]:
    """The reference every segment is compared with: all customers as one segment.

    Returns the medians (``<d>_median``), ``canceller_share``, ``repeat_canceller_share`` and
    ``cancel_rate`` of all customers.
    """
    whole = segment_values(descriptors, np.zeros(len(descriptors), dtype=np.int64), 1, "all")
    row = whole.iloc[0]
    keys = [c for c in whole.columns if c.endswith("_median")]
    keys += [c for c in ("canceller_share", "repeat_canceller_share", "cancel_rate") if c in row]
    return {k: float(row[k]) for k in keys}


def monthly_by_segment(
    monthly: pd.DataFrame,
    customer_ids: Sequence[str],
    labels: np.ndarray,
    method: str,
) -> pd.DataFrame:
    """Turnover and active customers per segment and calendar month.

    Parameters
    ----------
    monthly : pandas.DataFrame
        :func:`segmint.features.monthly_activity`: ``customer_id``, ``month``, ``amount``,
        ``n_orders``.
    customer_ids : sequence of str
        The customers, in the order of ``labels``.
    labels : ndarray of int
        Their segments.
    method : str
        ``"kmeans"`` or ``"gmm"``.

    Returns
    -------
    pandas.DataFrame
        ``method``, ``segment``, ``month``, ``turnover`` (net spend in the month, to the
        cent), ``active_customers`` (customers with a purchase invoice in the month), sorted
        by segment and month; every (segment, month) pair of the period is present.
    """
    seg = pd.Series(np.asarray(labels, dtype=np.int64), index=pd.Index(customer_ids))
    frame = monthly.assign(segment=seg.reindex(monthly["customer_id"]).to_numpy())
    frame = frame[frame["segment"].notna()]
    frame["segment"] = frame["segment"].astype(np.int64)
    frame["active"] = frame["n_orders"] > 0
    grouped = frame.groupby(["segment", "month"], sort=True).agg(
        turnover=("amount", "sum"), active_customers=("active", "sum")
    )
    months = sorted(monthly["month"].unique())
    segments = sorted(set(np.asarray(labels, dtype=np.int64).tolist()))
    index = pd.MultiIndex.from_product([segments, months], names=["segment", "month"])
    grouped = grouped.reindex(index, fill_value=0).reset_index()
    grouped["turnover"] = grouped["turnover"].astype(float).round(2)
    grouped["active_customers"] = grouped["active_customers"].astype(np.int64)
    grouped.insert(0, "method", method)
    return grouped

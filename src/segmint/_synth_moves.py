"""A synthetic log over months with planted *migrations*, for tests of windows and ``track``.

Independent of the default synthetic log (:mod:`segmint.synth`, whose bytes it leaves alone):
small, in the same UCI layout, and built so that the movements are known exactly. Every active
customer buys in every calendar month, so with a window of one month (``1M``) a customer is in
the window at a month end exactly when active that month. Customer types:

==================  ===============================  ======================================
planted type        before ``change_month``          from ``change_month`` on
==================  ===============================  ======================================
broad               3 orders a month, 30-90          the same
                    products, one cancelled order
broad_lapses        as broad                         nothing (lapsed)
occasional          1 order a month, 1-5 products    the same
occasional_grows    as occasional                    as broad
new                 arrive ``new_per_month`` a month from month 1 on; then as occasional
==================  ===============================  ======================================
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


__all__ = ["MOVE_TYPES", "moves_log"]

#: The planted types of :func:`moves_log`.
MOVE_TYPES: tuple[str, ...] = ("broad", "broad_lapses", "occasional", "occasional_grows", "new")


def _month_start(start: dt.date, m: int) -> dt.date:
    total = start.year * 12 + start.month - 1 + m
    return dt.date(total // 12, total % 12 + 1, 1)


def moves_log(
    n_customers: int = 400,
    *,
    months: int = 6,
    change_month: int = 3,
    new_per_month: int = 20,
    lapse_share: float = 0.5,
    grow_share: float = 0.25,
    broad_share: float = 0.4,
    start: dt.date = dt.date(2011, 1, 1),
    first_id: int = 20000,
    product_scale: float = 1.0,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A log of ``months`` calendar months with planted movements, and its truth.

    Parameters
    ----------
    n_customers : int, default=400
        Customers present from the first month (``new`` ones come on top).
    months : int, default=6
        Calendar months from ``start``.
    change_month : int, default=3
        The month (0-based) from which ``broad_lapses`` stop and ``occasional_grows`` grow.
    new_per_month : int, default=20
        New customers whose first purchase is in each month from month 1 on.
    lapse_share, grow_share : float
        Shares of the broad and of the occasional customers that change.
    broad_share : float, default=0.4
        Share of broad customers among the first ``n_customers``.
    start : datetime.date
        First day of the first month.
    first_id : int, default=20000
        First customer id (another range makes another shop's customers).
    product_scale : float, default=1.0
        Multiplies the product counts (another shop).
    seed : int, default=0

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        The log (``InvoiceNo``, ``StockCode``, ``Description``, ``Quantity``, ``InvoiceDate``,
        ``UnitPrice``, ``CustomerID``, ``Country``) and the truth: ``customer_id``, ``type``,
        ``first_month`` (0-based month of the first purchase).
    """
    import pandas as pd

    from segmint.synth import COLUMNS

    rng = np.random.default_rng(seed)
    n_broad = round(n_customers * broad_share)
    n_lapse = round(n_broad * lapse_share)
    n_occ = n_customers - n_broad
    n_grow = round(n_occ * grow_share)
    types = (
        ["broad_lapses"] * n_lapse
        + ["broad"] * (n_broad - n_lapse)
        + ["occasional_grows"] * n_grow
        + ["occasional"] * (n_occ - n_grow)
    )
    first = [0] * n_customers
    for m in range(1, months):
        types += ["new"] * new_per_month
        first += [m] * new_per_month
    ids = np.arange(first_id, first_id + len(types))
    order = rng.permutation(len(types))  # ids do not give the type away
    types = [types[i] for i in order]
    first = [first[i] for i in order]
    orders: list[tuple[int, int, int, bool, int]] = []  # (day number, customer, n, cancel, m)
    for c, (kind, f) in enumerate(zip(types, first, strict=True)):
        for m in range(f, months):
            after = m >= change_month
            if kind == "broad_lapses" and after:
                continue
            broad = kind in ("broad", "broad_lapses") or (kind == "occasional_grows" and after)
            month0 = _month_start(start, m)
            n_orders = 3 if broad else 1
            days = rng.choice(np.arange(28), size=n_orders, replace=False)
            for d in sorted(days):
                n = (
                    int(rng.integers(10, 31) * product_scale)
                    if broad
                    else int(rng.integers(1, 6) * product_scale)
                )
                orders.append((month0.toordinal() + int(d), c, max(n, 1), False, m))
            if broad:
                orders.append((month0.toordinal() + int(rng.integers(0, 28)), c, 1, True, m))
    orders.sort()
    rows: list[tuple[str, str, str, int, str, float, str, str]] = []
    invoice = 600000
    for day, c, n, cancel, _ in orders:
        invoice += 1
        when = dt.datetime.fromordinal(day).replace(hour=9 + invoice % 9, minute=invoice % 60)
        stamp = when.strftime("%m/%d/%Y %H:%M")
        codes = rng.choice(4000, size=n, replace=False)
        for code in sorted(codes):
            qty = int(rng.integers(1, 13))
            price = round(float(rng.integers(50, 500)) / 100, 2)
            rows.append(
                (
                    f"C{invoice}" if cancel else str(invoice),
                    f"P{code:05d}",
                    f"ITEM {code}",
                    -qty if cancel else qty,
                    stamp,
                    price,
                    str(ids[c]),
                    "United Kingdom",
                )
            )
    log = pd.DataFrame(rows, columns=list(COLUMNS))
    truth = pd.DataFrame({"customer_id": ids.astype(str), "type": types, "first_month": first})
    return log, truth.sort_values("customer_id", kind="stable").reset_index(drop=True)

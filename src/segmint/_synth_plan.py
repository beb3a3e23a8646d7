"""The plan of a synthetic log: planted customer types, customers and invoices.

Everything :mod:`segmint.synth` decides before writing a line: how many customers of each
:data:`PLANTED_TYPES` type, their distinct products, cancelled and purchase orders and
country, and every invoice (kind, customer, lines, number, time), in invoice-number order. It
is small (one entry per invoice); :mod:`segmint._synth_rows` turns it into rows a chunk at a
time. The numbers of the planted types are in the table of :mod:`segmint.synth`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from segmint.errors import SegmintError

__all__ = [
    "ANON",
    "CANCEL",
    "COUNTRY_NAMES",
    "N_PRODUCTS",
    "PLANTED_TYPES",
    "PURCHASE",
    "ROWS_PER_CUSTOMER",
    "TYPES",
    "Plan",
    "default_customers",
    "int_text",
    "make_plan",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class _TypeSpec:
    """How one planted customer type buys: ranges are inclusive, drawn per customer."""

    name: str
    share: float  # share of the identified customers
    products: tuple[int, int]  # distinct products, log-uniform
    orders: tuple[int, int]  # purchase invoices, uniform
    cancel_prob: float  # chance of cancelling at all
    cancels: tuple[int, int]  # cancelled orders when cancelling, uniform
    repeat: float  # weight of repeat lines (same product again) per product
    quantity_boost: float  # mean extra packs per line (Poisson)
    foreign: float  # share of customers outside the United Kingdom


TYPES: tuple[_TypeSpec, ...] = (
    _TypeSpec("one_off", 0.55, (1, 8), (1, 1), 0.0, (0, 0), 0.05, 0.3, 0.08),
    _TypeSpec("loyal_broad", 0.22, (40, 150), (4, 16), 0.3, (1, 1), 1.0, 0.6, 0.10),
    _TypeSpec("frequent_canceller", 0.15, (10, 40), (3, 10), 1.0, (3, 10), 0.6, 0.6, 0.10),
    _TypeSpec("wholesaler", 0.08, (200, 800), (10, 40), 1.0, (1, 4), 1.0, 4.0, 0.15),
)

#: The planted customer types, in the order of their codes.
PLANTED_TYPES: tuple[str, ...] = tuple(spec.name for spec in TYPES)

#: Rows per customer at the default number of customers (UCI Online Retail: 541,909 rows,
#: 4,372 customers, so about 124).
ROWS_PER_CUSTOMER: int = 125

_ANON_SHARE = 0.20  # rows without a customer id
_DUP_SHARE = 0.01  # exact duplicate rows
_CANCEL_SHARE = 0.02  # cancellation lines
_ANON_LINES_PER_INVOICE = 30

_FIRST_INVOICE = 536365

PURCHASE, CANCEL, ANON = 0, 1, 2

N_PRODUCTS = 4001  # a prime, so a stride through the catalogue never repeats a product

_UK = "United Kingdom"
_FOREIGN = (
    ("Germany", 95), ("France", 87), ("Spain", 31), ("Belgium", 25), ("Switzerland", 21),
    ("Portugal", 19), ("Italy", 15), ("Finland", 12), ("Austria", 11), ("Norway", 10),
    ("Netherlands", 9), ("Australia", 9), ("Denmark", 9), ("Channel Islands", 9),
    ("Cyprus", 8), ("Sweden", 8), ("Japan", 8), ("Poland", 6), ("EIRE", 3), ("USA", 4),
)  # fmt: skip
_ANON_COUNTRIES = ((_UK, 0.975), ("EIRE", 0.01), ("Unspecified", 0.008), ("Hong Kong", 0.007))
COUNTRY_NAMES: tuple[str, ...] = (
    _UK,
    *(name for name, _ in _FOREIGN),
    *(name for name, _ in _ANON_COUNTRIES[2:]),
)


def _check_int(value: object, option: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise SegmintError(f"{option} must be a whole number, got {value!r}")
    if value < minimum:
        raise SegmintError(f"{option} must be >= {minimum}, got {value}")
    return int(value)


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def _allocate(total: int, weights: FloatArray) -> IntArray:
    """Split ``total`` into integers proportional to ``weights`` (all > 0), summing exactly."""
    if total == 0 or weights.size == 0:
        return np.zeros(weights.size, dtype=np.int64)
    cum = np.cumsum(weights)
    upto = np.floor(total * (cum / cum[-1])).astype(np.int64)
    upto[-1] = total
    return np.diff(upto, prepend=0)


def _allocate_groups(totals: IntArray, sizes: IntArray, weights: FloatArray) -> IntArray:
    """:func:`_allocate` within contiguous groups: group ``g`` has ``sizes[g]`` items."""
    if weights.size == 0:
        return np.zeros(0, dtype=np.int64)
    group = np.repeat(np.arange(sizes.size), sizes)
    cum = np.cumsum(weights)
    end = cum[np.cumsum(sizes) - 1]
    start = np.concatenate(([0.0], end[:-1]))
    frac = (cum - start[group]) / (end - start)[group]
    upto = np.floor(totals[group] * frac).astype(np.int64)
    last = np.cumsum(sizes) - 1
    upto[last] = totals
    first = last - sizes + 1
    out = np.diff(upto, prepend=0)
    out[first] = upto[first]
    return out


def _positive(rng: np.random.Generator, n: int) -> FloatArray:
    """Random weights, exponential and strictly positive."""
    return rng.standard_exponential(n) + 1e-9


def int_text(numbers: IntArray) -> pa.Array:
    return pa.array(numbers, pa.int64()).cast(pa.string())


@dataclass(frozen=True)
class Plan:
    n_rows: int
    n_dup: int
    cust_type: IntArray
    cust_products: IntArray
    cust_offset: IntArray
    cust_stride: IntArray
    cust_text: pa.Array  # '17850.0', as in the UCI CSV
    truth: pd.DataFrame
    inv_kind: IntArray  # PURCHASE, CANCEL or ANON; invoices in number (= date) order
    inv_cust: IntArray  # -1 for anonymous invoices
    inv_lines: IntArray
    inv_base: IntArray  # purchase lines of the same customer on earlier invoices
    inv_number: IntArray
    inv_time: npt.NDArray[np.datetime64]
    inv_country: IntArray


def default_customers(n_rows: int) -> int:
    """Number of customers :func:`generate` plants when ``n_customers`` is None.

    Parameters
    ----------
    n_rows : int
        Rows in the log.

    Returns
    -------
    int
        ``round(n_rows / ROWS_PER_CUSTOMER)``, at least 1: about 124 rows a customer, as in
        UCI Online Retail, leaves the planted types the rows they need.
    """
    n_rows = _check_int(n_rows, "--rows", 1)
    return max(1, _round_half_up(n_rows / ROWS_PER_CUSTOMER))


def _log_uniform(rng: np.random.Generator, low: IntArray, high: IntArray) -> IntArray:
    draw = np.exp(rng.uniform(np.log(low), np.log(high + 1)))
    return np.minimum(np.floor(draw).astype(np.int64), high)


def make_plan(n_rows: int, n_customers: int | None, seed: int) -> Plan:
    """Check the arguments, then decide every customer and invoice (not yet the lines)."""
    n_rows = _check_int(n_rows, "--rows", 1)
    seed = _check_int(seed, "--seed", 0)
    if n_customers is None:
        n_customers = default_customers(n_rows)
    n_customers = _check_int(n_customers, "--customers", 1)
    n_anon = _round_half_up(_ANON_SHARE * n_rows)
    n_dup = _round_half_up(_DUP_SHARE * n_rows)
    n_ident = n_rows - n_anon - n_dup
    if n_customers > n_ident:
        raise SegmintError(
            f"--customers must be <= {n_ident} for --rows {n_rows} (each customer needs a row "
            f"with a customer id), got {n_customers}; lower --customers or raise --rows"
        )
    rng = np.random.default_rng([seed, 0])
    m = n_customers

    # Customers: planted type, distinct products, cancelled orders, purchase orders.
    shares = np.array([spec.share for spec in TYPES])
    ctype = rng.permutation(np.repeat(np.arange(len(TYPES)), _allocate(m, shares)))

    def ints(values: list[int]) -> IntArray:
        return np.array(values, dtype=np.int64)[ctype]

    def floats(values: list[float]) -> FloatArray:
        return np.array(values, dtype=np.float64)[ctype]

    products = _log_uniform(
        rng, ints([s.products[0] for s in TYPES]), ints([s.products[1] for s in TYPES])
    )
    n_cancels = rng.integers(
        ints([s.cancels[0] for s in TYPES]), ints([s.cancels[1] for s in TYPES]) + 1
    )
    cancels = np.where(rng.random(m) < floats([s.cancel_prob for s in TYPES]), n_cancels, 0).astype(
        np.int64
    )
    orders = rng.integers(
        ints([s.orders[0] for s in TYPES]), ints([s.orders[1] for s in TYPES]) + 1
    ).astype(np.int64)
    offset = np.floor(N_PRODUCTS * rng.random(m) ** 2.5).astype(np.int64)
    stride = np.minimum(rng.geometric(0.25, m), N_PRODUCTS - 1).astype(np.int64)
    foreign_weights = np.array([w for _, w in _FOREIGN], dtype=np.float64)
    country = np.where(
        rng.random(m) < floats([s.foreign for s in TYPES]),
        1 + rng.choice(len(_FOREIGN), m, p=foreign_weights / foreign_weights.sum()),
        0,
    ).astype(np.int64)

    # Cancellation lines: about 2% of the rows, at least one per cancelled order.
    n_cancel_orders = int(cancels.sum())
    room = n_ident - m  # every customer keeps at least one purchase line
    if n_cancel_orders > room:
        owner = np.repeat(np.arange(m), cancels)
        kept = rng.choice(n_cancel_orders, size=room, replace=False)
        cancels = np.bincount(owner[kept], minlength=m).astype(np.int64)
        n_cancel_orders = room
    n_cancel_lines = 0
    if n_cancel_orders:
        n_cancel_lines = min(room, max(_round_half_up(_CANCEL_SHARE * n_rows), n_cancel_orders))
    cancel_lines = 1 + _allocate(n_cancel_lines - n_cancel_orders, _positive(rng, n_cancel_orders))

    # Purchase lines: each product once, the rest repeats, weighted by the planted type.
    n_purchase = n_ident - n_cancel_lines
    if int(products.sum()) <= n_purchase:
        repeat = floats([s.repeat for s in TYPES]) * rng.gamma(2.0, 0.5, m)
        lines = products + _allocate(n_purchase - int(products.sum()), products * repeat)
    else:  # too few rows for the planted products: shrink them in proportion
        lines = 1 + _allocate(n_purchase - m, (products - 1).astype(np.float64))
        products = np.minimum(products, lines)
    orders = np.minimum(orders, lines)
    basket = rng.gamma(4.0, 1.0, int(orders.sum())) + 1e-9  # fairly even baskets
    order_lines = 1 + _allocate_groups(lines - orders, orders, basket)

    # Anonymous invoices: large baskets, no customer id.
    n_anon_orders = min(n_anon, math.ceil(n_anon / _ANON_LINES_PER_INVOICE))
    anon_lines = 1 + _allocate(n_anon - n_anon_orders, rng.lognormal(0.0, 0.8, n_anon_orders))
    anon_p = np.array([p for _, p in _ANON_COUNTRIES])
    anon_country = rng.choice(len(_ANON_COUNTRIES), n_anon_orders, p=anon_p / anon_p.sum())
    anon_country_codes = np.array([COUNTRY_NAMES.index(c) for c, _ in _ANON_COUNTRIES])

    # All invoices, dated, then numbered in date order.
    kind = np.concatenate(
        [
            np.full(int(orders.sum()), PURCHASE),
            np.full(n_cancel_orders, CANCEL),
            np.full(n_anon_orders, ANON),
        ]
    ).astype(np.int64)
    inv_cust = np.concatenate(
        [
            np.repeat(np.arange(m), orders),
            np.repeat(np.arange(m), cancels),
            np.full(n_anon_orders, -1),
        ]
    ).astype(np.int64)
    inv_lines = np.concatenate([order_lines, cancel_lines, anon_lines]).astype(np.int64)
    inv_country = np.concatenate(
        [country[inv_cust[kind != ANON]], anon_country_codes[anon_country]]
    ).astype(np.int64)
    inv_time = _invoice_times(rng, kind.size)
    order = np.lexsort((rng.random(kind.size), inv_time))
    kind, inv_cust, inv_lines = kind[order], inv_cust[order], inv_lines[order]
    inv_country, inv_time = inv_country[order], inv_time[order]

    # Each purchase invoice's first line number within its customer's purchase lines.
    purchase = np.flatnonzero(kind == PURCHASE)
    by_customer = purchase[np.argsort(inv_cust[purchase], kind="stable")]
    before = np.cumsum(inv_lines[by_customer]) - inv_lines[by_customer]
    owner = inv_cust[by_customer]
    first = np.r_[True, owner[1:] != owner[:-1]] if owner.size else np.zeros(0, dtype=bool)
    inv_base = np.zeros(kind.size, dtype=np.int64)
    inv_base[by_customer] = before - before[first][np.cumsum(first) - 1]

    cust_number = _customer_numbers(rng, m)
    number_text = int_text(cust_number)
    truth = pd.DataFrame(
        {
            "customer_id": pd.Series(number_text.to_pylist(), dtype="str"),
            "planted_type": pd.Series(np.asarray(PLANTED_TYPES)[ctype], dtype="str"),
        }
    )
    truth = truth.sort_values("customer_id", kind="stable", ignore_index=True)
    return Plan(
        n_rows=n_rows,
        n_dup=n_dup,
        cust_type=ctype.astype(np.int64),
        cust_products=products,
        cust_offset=offset,
        cust_stride=stride,
        cust_text=pc.binary_join_element_wise(number_text, ".0", ""),
        truth=truth,
        inv_kind=kind,
        inv_cust=inv_cust,
        inv_lines=inv_lines,
        inv_base=inv_base,
        inv_number=_FIRST_INVOICE + np.arange(kind.size, dtype=np.int64),
        inv_time=inv_time.astype("datetime64[s]"),
        inv_country=inv_country,
    )


def _invoice_times(rng: np.random.Generator, n: int) -> IntArray:
    """Invoice times in seconds since the epoch: trading days, busier towards November."""
    days = np.arange("2010-12-01", "2011-12-10", dtype="datetime64[D]")
    day_number = days.astype(np.int64)
    weekday = (day_number + 3) % 7  # Monday = 0; 1970-01-01 was a Thursday
    month = days.astype("datetime64[M]").astype(np.int64) % 12  # January = 0
    month_weight = np.array([0.7, 0.6, 0.8, 0.7, 0.9, 0.9, 0.9, 0.9, 1.3, 1.5, 1.9, 1.2])
    weight = month_weight[month] * np.where(weekday == 5, 0.0, np.where(weekday == 6, 0.6, 1.0))
    closed = (days >= np.datetime64("2010-12-24")) & (days <= np.datetime64("2011-01-03"))
    weight[closed] = 0.0
    day = rng.choice(day_number, size=n, p=weight / weight.sum())
    minute = rng.normal(12.9 * 60, 130.0, n)  # opening hours 07:00 to 20:30, busiest at noon
    outside = np.flatnonzero((minute < 7 * 60) | (minute > 20 * 60 + 30))
    minute[outside] = rng.uniform(7 * 60, 20 * 60 + 30, outside.size)
    return day * 86_400 + np.round(minute).astype(np.int64) * 60


def _customer_numbers(rng: np.random.Generator, m: int) -> IntArray:
    """Increasing customer numbers of one width (so text order is number order)."""
    numbers = np.cumsum(1 + (rng.random(m) < 0.35)) - 1
    start, width = 12346, 5
    while start + int(numbers[-1]) >= 10**width:
        width += 1
        start = 10 ** (width - 1) + 2346
    return (start + numbers).astype(np.int64)

"""Synthetic transaction logs in the UCI Online Retail layout, with planted customer types.

The log looks like the UCI "Online Retail" file (columns ``InvoiceNo``, ``StockCode``,
``Description``, ``Quantity``, ``InvoiceDate``, ``UnitPrice``, ``CustomerID``, ``Country``)
and is skewed like it: most customers buy a handful of products once, a few buy hundreds; most
cancel nothing. Every identified customer is given one of the :data:`PLANTED_TYPES`, and the
type decides how many distinct products the customer buys, how many orders they cancel and
how many lines they take in the log:

==================  =====  =================  ================  ===============
planted type        share  distinct products  cancelled orders  purchase orders
==================  =====  =================  ================  ===============
one_off             55%    1-8                0                 1
loyal_broad         22%    40-150             0 (70%) or 1      4-16
frequent_canceller  15%    10-40              3-10              3-10
wholesaler          8%     200-800            1-4               10-40
==================  =====  =================  ================  ===============

so the types sit apart in (log1p ``n_products``, log1p ``n_canceled_orders``) space, the two
default features, and a test or benchmark can measure how well segments recover them. The
numbers hold exactly in the cleaned log (duplicates and anonymous rows removed) whenever the
log has rows enough for them, which it has at the default number of customers (one per
:data:`ROWS_PER_CUSTOMER` rows, as in UCI Online Retail). With many more customers than that,
every customer's products shrink in proportion (the types stay apart on the log scale) and
the planted cancellations, one line each at least, push the cancellation share above 2%.

Around the planted customers the log has what real logs have: about 2% cancellation lines
(invoice ``C`` + number, negative quantity), about 20% rows without a customer id, about 1%
exact duplicate rows, a few zero prices, and the service codes ``POST``, ``M`` and ``DOT``.
Invoice numbers start at 536365 and increase with the invoice date (2010-12-01 to
2011-12-09, no Saturdays, busier towards November).

Generation is vectorised numpy and runs in chunks of about two million rows, so
:func:`write` keeps its memory bounded for any number of rows. The same arguments give the
same data and byte-identical files.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from segmint.errors import SegmintError

__all__ = [
    "COLUMNS",
    "PLANTED_TYPES",
    "ROWS_PER_CUSTOMER",
    "default_customers",
    "generate",
    "truth_path",
    "write",
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


_TYPES: tuple[_TypeSpec, ...] = (
    _TypeSpec("one_off", 0.55, (1, 8), (1, 1), 0.0, (0, 0), 0.05, 0.3, 0.08),
    _TypeSpec("loyal_broad", 0.22, (40, 150), (4, 16), 0.3, (1, 1), 1.0, 0.6, 0.10),
    _TypeSpec("frequent_canceller", 0.15, (10, 40), (3, 10), 1.0, (3, 10), 0.6, 0.6, 0.10),
    _TypeSpec("wholesaler", 0.08, (200, 800), (10, 40), 1.0, (1, 4), 1.0, 4.0, 0.15),
)

#: The planted customer types, in the order of their codes.
PLANTED_TYPES: tuple[str, ...] = tuple(spec.name for spec in _TYPES)

#: Output columns, in order (the UCI Online Retail names).
COLUMNS: tuple[str, ...] = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)

#: Rows per customer at the default number of customers (UCI Online Retail: 541,909 rows,
#: 4,372 customers, so about 124).
ROWS_PER_CUSTOMER: int = 125

_ANON_SHARE = 0.20  # rows without a customer id
_DUP_SHARE = 0.01  # exact duplicate rows
_CANCEL_SHARE = 0.02  # cancellation lines
_ANON_LINES_PER_INVOICE = 30
_ZERO_PRICE_RATE = 1e-4
_DOT_RATE = 0.004  # share of anonymous lines that are DOTCOM POSTAGE
_CHUNK_ROWS = 2_000_000  # rows generated (and written) at a time
_FIRST_INVOICE = 536365
_CATALOGUE_SEED = 20101201

_PURCHASE, _CANCEL, _ANON = 0, 1, 2

_SCHEMA = pa.schema(
    [
        ("InvoiceNo", pa.string()),
        ("StockCode", pa.string()),
        ("Description", pa.string()),
        ("Quantity", pa.int64()),
        ("InvoiceDate", pa.timestamp("ms")),
        ("UnitPrice", pa.float64()),
        ("CustomerID", pa.string()),
        ("Country", pa.string()),
    ]
)
_CSV_SCHEMA = _SCHEMA.set(4, pa.field("InvoiceDate", pa.timestamp("s")))

# ---------------------------------------------------------------------------------------------
# Product catalogue: fixed (the same for every seed), ordered by popularity rank.

_N_PRODUCTS = 4001  # a prime, so a stride through the catalogue never repeats a product
_RANK_POST, _RANK_M, _RANK_DOT = 30, 700, 2500
_SERVICE = {"POST": "POSTAGE", "M": "Manual", "DOT": "DOTCOM POSTAGE"}
_FAMOUS = (
    ("85123A", "WHITE HANGING HEART T-LIGHT HOLDER", 2.55),
    ("22423", "REGENCY CAKESTAND 3 TIER", 12.75),
    ("85099B", "JUMBO BAG RED RETROSPOT", 1.95),
    ("47566", "PARTY BUNTING", 4.95),
    ("20725", "LUNCH BAG RED RETROSPOT", 1.65),
    ("84879", "ASSORTED COLOUR BIRD ORNAMENT", 1.69),
    ("22720", "SET OF 3 CAKE TINS PANTRY DESIGN", 4.95),
    ("21212", "PACK OF 72 RETROSPOT CAKE CASES", 0.55),
    ("22197", "SMALL POPCORN HOLDER", 0.85),
    ("23203", "JUMBO BAG DOILEY PATTERNS", 2.08),
)
_THEMES = (
    "RED RETROSPOT", "PINK POLKADOT", "BLUE POLKADOT", "SPACEBOY", "DOLLY GIRL", "REGENCY",
    "SKULL", "WOODLAND", "PAISLEY", "ENGLISH ROSE", "CHRISTMAS", "HEART", "BIRD", "STAR",
    "VINTAGE LEAF", "BAROQUE", "ALPHABET", "DAISY", "WHITE", "IVORY", "CREAM", "GREEN",
    "SILVER", "GOLD", "VINTAGE", "FAIRY", "LOVE", "PANTRY", "SCANDINAVIAN", "FRENCH BLUE",
)  # fmt: skip
_ITEMS = (
    "T-LIGHT HOLDER", "LUNCH BAG", "JUMBO BAG", "CAKE TIN", "MUG", "TEA CUP AND SAUCER",
    "NAPKINS", "PAPER PLATES", "CANDLE", "CUSHION COVER", "PHOTO FRAME", "DOORMAT", "NOTEBOOK",
    "PURSE", "WATER BOTTLE", "CHILDRENS APRON", "HOT WATER BOTTLE", "BUNTING", "GIFT WRAP",
    "WALL CLOCK", "LANTERN", "PLANT POT", "TISSUES", "SHOPPER BAG", "CAKE STAND", "BISCUIT TIN",
    "KEY RING", "HAIR CLIP", "EGG CUP", "TEA TOWEL", "CAKE CASES", "STORAGE JAR", "COASTER",
    "CHALKBOARD", "ORNAMENT", "BOWL", "RIBBONS", "WRAP", "POPCORN HOLDER", "DOILEY",
)  # fmt: skip
_PREFIXES = (
    "", "", "", "", "SET OF 3 ", "SET OF 6 ", "PACK OF 12 ", "SMALL ", "LARGE ", "MINI ",
    "JUMBO ", "SET/4 ",
)  # fmt: skip
_PACKS = np.array([1, 2, 3, 4, 6, 8, 10, 12, 24], dtype=np.int64)
_PACK_WEIGHTS = np.array([0.2, 0.12, 0.06, 0.1, 0.15, 0.05, 0.06, 0.2, 0.06])

_UK = "United Kingdom"
_FOREIGN = (
    ("Germany", 95), ("France", 87), ("Spain", 31), ("Belgium", 25), ("Switzerland", 21),
    ("Portugal", 19), ("Italy", 15), ("Finland", 12), ("Austria", 11), ("Norway", 10),
    ("Netherlands", 9), ("Australia", 9), ("Denmark", 9), ("Channel Islands", 9),
    ("Cyprus", 8), ("Sweden", 8), ("Japan", 8), ("Poland", 6), ("EIRE", 3), ("USA", 4),
)  # fmt: skip
_ANON_COUNTRIES = ((_UK, 0.975), ("EIRE", 0.01), ("Unspecified", 0.008), ("Hong Kong", 0.007))
_COUNTRY_NAMES: tuple[str, ...] = (
    _UK,
    *(name for name, _ in _FOREIGN),
    *(name for name, _ in _ANON_COUNTRIES[2:]),
)
_COUNTRY_ARRAY = pa.array(_COUNTRY_NAMES, pa.string())


@dataclass(frozen=True)
class _Catalogue:
    codes: pa.Array  # string, by rank
    descriptions: pa.Array  # string, by rank
    price: FloatArray
    pack: IntArray
    is_post: BoolArray
    is_manual: BoolArray
    is_dot: BoolArray


@functools.lru_cache(maxsize=1)
def _catalogue() -> _Catalogue:
    """Build the product catalogue, most popular first; the same for every seed."""
    rng = np.random.default_rng(_CATALOGUE_SEED)
    n_regular = _N_PRODUCTS - len(_SERVICE) - len(_FAMOUS)
    n_draw = 3 * n_regular
    family = rng.choice(5, size=n_draw, p=[0.55, 0.25, 0.1, 0.05, 0.05])
    lows = np.array([20000, 84000, 35000, 71000, 90000])
    highs = np.array([23999, 85299, 48999, 79999, 90214])
    numbers = rng.integers(lows[family], highs[family] + 1)
    letters = np.array(list("ABCDEFGL"))
    suffix = np.where(rng.random(n_draw) < 0.12, letters[rng.integers(0, 8, n_draw)], "")
    candidates = np.char.add(numbers.astype(str), suffix)
    taken = {code for code, _, _ in _FAMOUS}
    regular: list[str] = []
    for code in candidates.tolist():
        if code not in taken:
            taken.add(code)
            regular.append(code)
            if len(regular) == n_regular:
                break
    theme = rng.integers(0, len(_THEMES), n_regular)
    item = rng.integers(0, len(_ITEMS), n_regular)
    prefix = rng.integers(0, len(_PREFIXES), n_regular)
    with_comma = rng.random(n_regular) < 0.03
    descriptions = [
        f"{_ITEMS[i]}, {_THEMES[t]} DESIGN" if comma else f"{_PREFIXES[p]}{_THEMES[t]} {_ITEMS[i]}"
        for t, i, p, comma in zip(
            theme.tolist(), item.tolist(), prefix.tolist(), with_comma.tolist(), strict=True
        )
    ]
    prices = np.ceil(np.clip(rng.lognormal(np.log(2.0), 0.8, n_regular), 0.1, 60.0) * 20) / 20
    codes = [code for code, _, _ in _FAMOUS] + regular
    names = [name for _, name, _ in _FAMOUS] + descriptions
    price = [p for _, _, p in _FAMOUS] + np.round(prices, 2).tolist()
    for rank, code in sorted(zip((_RANK_POST, _RANK_M, _RANK_DOT), _SERVICE, strict=True)):
        codes.insert(rank, code)
        names.insert(rank, _SERVICE[code])
        price.insert(rank, 18.0 if code == "POST" else 0.0)  # M and DOT are priced per line
    pack = rng.choice(_PACKS, size=_N_PRODUCTS, p=_PACK_WEIGHTS / _PACK_WEIGHTS.sum())
    ranks = np.arange(_N_PRODUCTS)
    is_post, is_manual, is_dot = ranks == _RANK_POST, ranks == _RANK_M, ranks == _RANK_DOT
    pack[is_post | is_manual | is_dot] = 1
    return _Catalogue(
        codes=pa.array(codes, pa.string()),
        descriptions=pa.array(names, pa.string()),
        price=np.asarray(price, dtype=np.float64),
        pack=pack.astype(np.int64),
        is_post=is_post,
        is_manual=is_manual,
        is_dot=is_dot,
    )


# ---------------------------------------------------------------------------------------------
# Argument checks and small helpers.


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


def _number_text(numbers: IntArray) -> pa.Array:
    return pa.array(numbers, pa.int64()).cast(pa.string())


# ---------------------------------------------------------------------------------------------
# The plan: customers and invoices, decided up front (small: one entry per invoice).


@dataclass(frozen=True)
class _Plan:
    n_rows: int
    n_dup: int
    cust_type: IntArray
    cust_products: IntArray
    cust_offset: IntArray
    cust_stride: IntArray
    cust_text: pa.Array  # '17850.0', as in the UCI CSV
    truth: pd.DataFrame
    inv_kind: IntArray  # _PURCHASE, _CANCEL or _ANON; invoices in number (= date) order
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


def _plan(n_rows: int, n_customers: int | None, seed: int) -> _Plan:
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
    shares = np.array([spec.share for spec in _TYPES])
    ctype = rng.permutation(np.repeat(np.arange(len(_TYPES)), _allocate(m, shares)))

    def ints(values: list[int]) -> IntArray:
        return np.array(values, dtype=np.int64)[ctype]

    def floats(values: list[float]) -> FloatArray:
        return np.array(values, dtype=np.float64)[ctype]

    products = _log_uniform(
        rng, ints([s.products[0] for s in _TYPES]), ints([s.products[1] for s in _TYPES])
    )
    n_cancels = rng.integers(
        ints([s.cancels[0] for s in _TYPES]), ints([s.cancels[1] for s in _TYPES]) + 1
    )
    cancels = np.where(
        rng.random(m) < floats([s.cancel_prob for s in _TYPES]), n_cancels, 0
    ).astype(np.int64)
    orders = rng.integers(
        ints([s.orders[0] for s in _TYPES]), ints([s.orders[1] for s in _TYPES]) + 1
    ).astype(np.int64)
    offset = np.floor(_N_PRODUCTS * rng.random(m) ** 2.5).astype(np.int64)
    stride = np.minimum(rng.geometric(0.25, m), _N_PRODUCTS - 1).astype(np.int64)
    foreign_weights = np.array([w for _, w in _FOREIGN], dtype=np.float64)
    country = np.where(
        rng.random(m) < floats([s.foreign for s in _TYPES]),
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
        repeat = floats([s.repeat for s in _TYPES]) * rng.gamma(2.0, 0.5, m)
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
    anon_country_codes = np.array([_COUNTRY_NAMES.index(c) for c, _ in _ANON_COUNTRIES])

    # All invoices, dated, then numbered in date order.
    kind = np.concatenate(
        [
            np.full(int(orders.sum()), _PURCHASE),
            np.full(n_cancel_orders, _CANCEL),
            np.full(n_anon_orders, _ANON),
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
        [country[inv_cust[kind != _ANON]], anon_country_codes[anon_country]]
    ).astype(np.int64)
    inv_time = _invoice_times(rng, kind.size)
    order = np.lexsort((rng.random(kind.size), inv_time))
    kind, inv_cust, inv_lines = kind[order], inv_cust[order], inv_lines[order]
    inv_country, inv_time = inv_country[order], inv_time[order]

    # Each purchase invoice's first line number within its customer's purchase lines.
    purchase = np.flatnonzero(kind == _PURCHASE)
    by_customer = purchase[np.argsort(inv_cust[purchase], kind="stable")]
    before = np.cumsum(inv_lines[by_customer]) - inv_lines[by_customer]
    owner = inv_cust[by_customer]
    first = np.r_[True, owner[1:] != owner[:-1]] if owner.size else np.zeros(0, dtype=bool)
    inv_base = np.zeros(kind.size, dtype=np.int64)
    inv_base[by_customer] = before - before[first][np.cumsum(first) - 1]

    cust_number = _customer_numbers(rng, m)
    number_text = _number_text(cust_number)
    truth = pd.DataFrame(
        {
            "customer_id": pd.Series(number_text.to_pylist(), dtype="str"),
            "planted_type": pd.Series(np.asarray(PLANTED_TYPES)[ctype], dtype="str"),
        }
    )
    truth = truth.sort_values("customer_id", kind="stable", ignore_index=True)
    return _Plan(
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


# ---------------------------------------------------------------------------------------------
# Rows, a chunk of invoices at a time.


def _chunk_bounds(plan: _Plan) -> Iterator[tuple[int, int, int, int]]:
    """Yield ``(index, first_invoice, end_invoice, n_duplicates)`` for each chunk."""
    cum = np.cumsum(plan.inv_lines)
    total = int(cum[-1])
    lo, done, index = 0, 0, 0
    while lo < cum.size:
        hi = max(int(np.searchsorted(cum, done + _CHUNK_ROWS, side="right")), lo + 1)
        upto = int(cum[hi - 1])
        n_dup = plan.n_dup * upto // total - plan.n_dup * done // total
        yield index, lo, hi, n_dup
        lo, done, index = hi, upto, index + 1


def _chunk_table(plan: _Plan, seed: int, index: int, lo: int, hi: int, n_dup: int) -> pa.Table:
    """The rows of invoices ``lo:hi`` plus ``n_dup`` duplicates, with their own random stream."""
    rng = np.random.default_rng([seed, 1, index])
    cat = _catalogue()
    lines = plan.inv_lines[lo:hi]
    n = int(lines.sum())
    local = np.repeat(np.arange(hi - lo), lines)
    inv = local + lo
    position = np.arange(n) - (np.cumsum(lines) - lines)[local]
    kind = plan.inv_kind[inv]
    anon = kind == _ANON
    cust = np.maximum(plan.inv_cust[inv], 0)
    ctype = plan.cust_type[cust]
    products = plan.cust_products[cust]

    # Products: a customer's k-th new product is slot k of their stride through the
    # catalogue. Repeat lines take products bought on earlier invoices again, and
    # cancellations any of the customer's products, in consecutive slots from a random one,
    # so that the lines of one invoice differ.
    base = plan.inv_base[lo:hi]
    known = plan.cust_products[np.maximum(plan.inv_cust[lo:hi], 0)]
    known = np.where(
        (plan.inv_kind[lo:hi] == _PURCHASE) & (base > 0), np.minimum(base, known), known
    )
    start = np.floor(rng.random(hi - lo) * known).astype(np.int64)
    line_no = base[local] + position
    again = (start[local] + position) % known[local]
    slot = np.where((kind == _PURCHASE) & (line_no < products), line_no, again)
    rank = (plan.cust_offset[cust] + slot * plan.cust_stride[cust]) % _N_PRODUCTS
    # An anonymous basket strides through the catalogue the same way, from its own start.
    basket_offset = np.floor(_N_PRODUCTS * rng.random(hi - lo) ** 2).astype(np.int64)
    basket_stride = np.minimum(rng.geometric(0.1, hi - lo), _N_PRODUCTS - 1)
    anon_rank = (basket_offset[local] + position * basket_stride[local]) % _N_PRODUCTS
    anon_rank[_some(rng, np.flatnonzero(anon), _DOT_RATE)] = _RANK_DOT
    rank = np.where(anon, anon_rank, rank)

    # Quantities: packs, more of them for wholesalers; negative on cancellations.
    quantity = cat.pack[rank]
    ident = np.flatnonzero(~anon)
    boost = np.array([s.quantity_boost for s in _TYPES])[ctype[ident]]
    quantity[ident] *= 1 + rng.poisson(boost)
    anon_lines = np.flatnonzero(anon)
    quantity[anon_lines] = 1 + rng.poisson(0.4, anon_lines.size)
    post = np.flatnonzero(cat.is_post[rank])
    manual = np.flatnonzero(cat.is_manual[rank])
    dot = np.flatnonzero(cat.is_dot[rank])
    quantity[post] = 1 + rng.poisson(0.3, post.size)
    quantity[manual] = 1
    quantity[dot] = 1
    np.negative(quantity, out=quantity, where=kind == _CANCEL)

    # Prices: list price, a wholesale discount, a markup for anonymous (web) orders.
    price = cat.price[rank]
    wholesale = (ctype == PLANTED_TYPES.index("wholesaler")) & ~anon & (np.abs(quantity) >= 48)
    price[wholesale] *= 0.85
    price[anon_lines] *= 1.15
    price[_some(rng, post, 0.1)] = 40.0
    price[manual] = rng.lognormal(np.log(2.5), 1.2, manual.size)
    price[dot] = rng.lognormal(np.log(150.0), 0.8, dot.size)
    price = np.round(price, 2)
    price[_some(rng, np.arange(n), _ZERO_PRICE_RATE)] = 0.0

    # Exact duplicates: a copy right after its original, as in the UCI file.
    copies = rng.choice(n, size=n_dup, replace=False)
    take = np.sort(np.concatenate([np.arange(n), copies]))
    at_invoice = pa.array(local[take])
    numbers = _number_text(plan.inv_number[lo:hi])
    is_cancel = pa.array(plan.inv_kind[lo:hi] == _CANCEL)
    invoice_text = pc.if_else(is_cancel, pc.binary_join_element_wise("C", numbers, ""), numbers)
    invoice_time = pa.array(plan.inv_time[lo:hi].astype("datetime64[ms]"), pa.timestamp("ms"))
    countries = pa.array(plan.inv_country[lo:hi]).take(at_invoice)
    customer_index = pa.array(cust[take], pa.int64(), mask=anon[take])
    products_at = pa.array(rank[take])
    return pa.Table.from_arrays(
        [
            invoice_text.take(at_invoice),
            _decode(products_at, cat.codes),
            _decode(products_at, cat.descriptions),
            pa.array(quantity[take], pa.int64()),
            invoice_time.take(at_invoice),
            pa.array(price[take], pa.float64()),
            plan.cust_text.take(customer_index),
            _decode(countries, _COUNTRY_ARRAY),
        ],
        schema=_SCHEMA,
    )


def _some(rng: np.random.Generator, positions: IntArray, rate: float) -> IntArray:
    """A random subset of ``positions``, each kept with probability ``rate``."""
    k = int(rng.binomial(positions.size, rate))
    return positions[rng.choice(positions.size, size=k, replace=False)]


def _decode(indices: pa.Array, values: pa.Array) -> pa.Array:
    """``values[indices]`` as a plain string array (faster than ``take`` for long strings)."""
    return pa.DictionaryArray.from_arrays(indices, values).cast(pa.string())


def _tables(plan: _Plan, seed: int) -> Iterator[pa.Table]:
    for index, lo, hi, n_dup in _chunk_bounds(plan):
        yield _chunk_table(plan, seed, index, lo, hi, n_dup)


# ---------------------------------------------------------------------------------------------
# Public API.


def generate(
    n_rows: int, n_customers: int | None = None, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generate a synthetic transaction log with planted customer types.

    Parameters
    ----------
    n_rows : int
        Rows in the log, exactly (duplicates and anonymous rows included); at least 1.
    n_customers : int, default=None
        Identified customers to plant. None means :func:`default_customers` (about
        ``n_rows / 125``, as in UCI Online Retail). More customers than that leave fewer rows
        per customer, and the planted types overlap more; it must not exceed the rows that
        carry a customer id (about 79% of ``n_rows``).
    seed : int, default=0
        Random seed, >= 0. The same arguments always give the same frames.

    Returns
    -------
    transactions : pandas.DataFrame
        One row per invoice line, ``n_rows`` rows, RangeIndex, in invoice-number order, with
        columns:

        - ``InvoiceNo``: str, ``"536365"``; cancellations ``"C"`` + number
        - ``StockCode``: str, ``"85123A"``, ``"22423"``, or a service code ``POST``, ``M``,
          ``DOT``
        - ``Description``: str
        - ``Quantity``: int64, negative on cancellation lines
        - ``InvoiceDate``: datetime64[ms], whole minutes, the same on every line of an invoice
        - ``UnitPrice``: float64, a few 0.0
        - ``CustomerID``: str, ``"17850.0"`` as in the UCI CSV; missing (NaN) on the ~20%
          anonymous rows
        - ``Country``: str
    truth : pandas.DataFrame
        One row per customer in ``transactions``, sorted by ``customer_id``, RangeIndex:

        - ``customer_id``: str, as the cleaned customer table spells it (``"17850"``)
        - ``planted_type``: str, one of :data:`PLANTED_TYPES`

    Raises
    ------
    SegmintError
        If ``n_rows < 1``, ``seed < 0``, ``n_customers < 1``, too many customers for the rows,
        or an argument is not a whole number.

    See Also
    --------
    write : the same log written to a CSV or Parquet file, in bounded memory.

    Examples
    --------
    >>> transactions, truth = generate(1_000, seed=1)
    >>> len(transactions), list(truth.columns)
    (1000, ['customer_id', 'planted_type'])
    """
    plan = _plan(n_rows, n_customers, seed)
    table = pa.concat_tables(list(_tables(plan, seed)))
    transactions = table.to_pandas()
    return transactions, plan.truth.copy()


def truth_path(path: str | os.PathLike[str]) -> Path:
    """Where :func:`write` puts the planted types for the log at ``path``: ``<stem>.truth.csv``.

    >>> truth_path("data/log.parquet").as_posix()
    'data/log.truth.csv'
    """
    path = Path(path)
    return path.with_name(f"{path.stem}.truth.csv")


def _write_overlapped(write: Callable[[pa.Table], None], tables: Iterator[pa.Table]) -> None:
    """Write each table in order, on a second thread while the next one is generated."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending: Future[None] | None = None
        for table in tables:
            if pending is not None:
                pending.result()
            pending = pool.submit(write, table)
        if pending is not None:
            pending.result()


def _format_of(path: Path) -> Literal["csv", "parquet"]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise SegmintError(
        f"{path}: cannot tell the file format from the extension {suffix or '(none)'!r}; "
        "use a name ending in .csv or .parquet"
    )


def write(
    path: str | os.PathLike[str],
    n_rows: int,
    n_customers: int | None = None,
    seed: int = 0,
) -> tuple[Path, Path]:
    """Write a synthetic transaction log and its planted types.

    The log is the one :func:`generate` returns for the same arguments, written in chunks of
    about two million rows, so memory stays bounded whatever ``n_rows`` is. Both files are
    written to a temporary name and renamed into place; the same arguments give
    byte-identical files.

    Parameters
    ----------
    path : str or path-like
        Output file; ``.csv`` writes CSV, ``.parquet`` (or ``.pq``) writes Parquet. Missing
        parent directories are created; an existing file is replaced.
    n_rows : int
        Rows in the log, exactly; at least 1.
    n_customers : int, default=None
        Identified customers to plant; None means :func:`default_customers`.
    seed : int, default=0
        Random seed, >= 0.

    Returns
    -------
    path : pathlib.Path
        The log, with the columns of :func:`generate`. In CSV, ``InvoiceDate`` is text
        ``YYYY-MM-DD HH:MM:SS``, ``CustomerID`` is ``"17850.0"`` or empty, text values are
        quoted and the header is not; in Parquet, ``InvoiceDate`` is a timestamp
        (milliseconds, no time zone) and ``CustomerID`` a string or null.
    truth_path : pathlib.Path
        ``<stem>.truth.csv`` beside the log (see :func:`truth_path`): columns
        ``customer_id,planted_type``, one row per customer, sorted by ``customer_id``.

    Raises
    ------
    SegmintError
        If the extension is neither ``.csv`` nor ``.parquet``, or for the argument errors of
        :func:`generate`.
    """
    path = Path(path)
    file_format = _format_of(path)
    plan = _plan(n_rows, n_customers, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    truth_file = truth_path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp_truth = truth_file.with_name(f".{truth_file.name}.{os.getpid()}.tmp")
    try:
        if file_format == "parquet":
            with pq.ParquetWriter(tmp, _SCHEMA, compression="snappy") as parquet:
                _write_overlapped(parquet.write_table, _tables(plan, seed))
        else:
            options = pa_csv.WriteOptions(quoting_style="needed", quoting_header="none")
            with (
                pa.OSFile(str(tmp), "wb") as sink,
                pa_csv.CSVWriter(sink, _CSV_SCHEMA, write_options=options) as csv,
            ):
                tables = (table.cast(_CSV_SCHEMA) for table in _tables(plan, seed))
                _write_overlapped(csv.write_table, tables)
        plan.truth.to_csv(tmp_truth, index=False, lineterminator="\n")
        os.replace(tmp, path)
        os.replace(tmp_truth, truth_file)
    finally:
        tmp.unlink(missing_ok=True)
        tmp_truth.unlink(missing_ok=True)
    return path, truth_file

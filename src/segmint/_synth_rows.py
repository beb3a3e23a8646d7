"""The rows of a synthetic log: the product catalogue and the lines of a chunk of invoices.

:func:`chunk_tables` turns the plan of :mod:`segmint._synth_plan` into Arrow tables of about
two million rows each, every chunk with its own random stream: products (a customer's stride
through a fixed catalogue), quantities, prices, service codes and exact duplicates.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from segmint._synth_plan import (
    ANON,
    CANCEL,
    COUNTRY_NAMES,
    N_PRODUCTS,
    PLANTED_TYPES,
    PURCHASE,
    TYPES,
    BoolArray,
    FloatArray,
    IntArray,
    Plan,
    int_text,
)

__all__ = ["SCHEMA", "chunk_tables"]

_ZERO_PRICE_RATE = 1e-4
_DOT_RATE = 0.004  # share of anonymous lines that are DOTCOM POSTAGE
_CHUNK_ROWS = 2_000_000  # rows generated (and written) at a time

_CATALOGUE_SEED = 20101201

SCHEMA = pa.schema(
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

_COUNTRY_ARRAY = pa.array(COUNTRY_NAMES, pa.string())


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
    n_regular = N_PRODUCTS - len(_SERVICE) - len(_FAMOUS)
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
    pack = rng.choice(_PACKS, size=N_PRODUCTS, p=_PACK_WEIGHTS / _PACK_WEIGHTS.sum())
    ranks = np.arange(N_PRODUCTS)
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


def _chunk_bounds(plan: Plan) -> Iterator[tuple[int, int, int, int]]:
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


def _chunk_table(plan: Plan, seed: int, index: int, lo: int, hi: int, n_dup: int) -> pa.Table:
    """The rows of invoices ``lo:hi`` plus ``n_dup`` duplicates, with their own random stream."""
    rng = np.random.default_rng([seed, 1, index])
    cat = _catalogue()
    lines = plan.inv_lines[lo:hi]
    n = int(lines.sum())
    local = np.repeat(np.arange(hi - lo), lines)
    inv = local + lo
    position = np.arange(n) - (np.cumsum(lines) - lines)[local]
    kind = plan.inv_kind[inv]
    anon = kind == ANON
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
        (plan.inv_kind[lo:hi] == PURCHASE) & (base > 0), np.minimum(base, known), known
    )
    start = np.floor(rng.random(hi - lo) * known).astype(np.int64)
    line_no = base[local] + position
    again = (start[local] + position) % known[local]
    slot = np.where((kind == PURCHASE) & (line_no < products), line_no, again)
    rank = (plan.cust_offset[cust] + slot * plan.cust_stride[cust]) % N_PRODUCTS
    # An anonymous basket strides through the catalogue the same way, from its own start.
    basket_offset = np.floor(N_PRODUCTS * rng.random(hi - lo) ** 2).astype(np.int64)
    basket_stride = np.minimum(rng.geometric(0.1, hi - lo), N_PRODUCTS - 1)
    anon_rank = (basket_offset[local] + position * basket_stride[local]) % N_PRODUCTS
    anon_rank[_some(rng, np.flatnonzero(anon), _DOT_RATE)] = _RANK_DOT
    rank = np.where(anon, anon_rank, rank)

    # Quantities: packs, more of them for wholesalers; negative on cancellations.
    quantity = cat.pack[rank]
    ident = np.flatnonzero(~anon)
    boost = np.array([s.quantity_boost for s in TYPES])[ctype[ident]]
    quantity[ident] *= 1 + rng.poisson(boost)
    anon_lines = np.flatnonzero(anon)
    quantity[anon_lines] = 1 + rng.poisson(0.4, anon_lines.size)
    post = np.flatnonzero(cat.is_post[rank])
    manual = np.flatnonzero(cat.is_manual[rank])
    dot = np.flatnonzero(cat.is_dot[rank])
    quantity[post] = 1 + rng.poisson(0.3, post.size)
    quantity[manual] = 1
    quantity[dot] = 1
    np.negative(quantity, out=quantity, where=kind == CANCEL)

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
    numbers = int_text(plan.inv_number[lo:hi])
    is_cancel = pa.array(plan.inv_kind[lo:hi] == CANCEL)
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
        schema=SCHEMA,
    )


def _some(rng: np.random.Generator, positions: IntArray, rate: float) -> IntArray:
    """A random subset of ``positions``, each kept with probability ``rate``."""
    k = int(rng.binomial(positions.size, rate))
    return positions[rng.choice(positions.size, size=k, replace=False)]


def _decode(indices: pa.Array, values: pa.Array) -> pa.Array:
    """``values[indices]`` as a plain string array (faster than ``take`` for long strings)."""
    return pa.DictionaryArray.from_arrays(indices, values).cast(pa.string())


def chunk_tables(plan: Plan, seed: int) -> Iterator[pa.Table]:
    for index, lo, hi, n_dup in _chunk_bounds(plan):
        yield _chunk_table(plan, seed, index, lo, hi, n_dup)

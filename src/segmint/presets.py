"""Shop platforms' order exports: presets found from the header, the cancellation rule, mappings.

A *preset* names the columns of one platform's export (Shopify's orders export, WooCommerce's
"Advanced Order Export"), the rule that says which orders were cancelled or refunded, and the
column that holds the order number. Shopify writes one row per line item and leaves the
order-level fields (email, status, dates) blank on the order's other rows; with an order key,
:mod:`segmint.clean` gives every row the order's value (:func:`segmint.rules.order_query`).

Which layout applies, from the lowest precedence up: the aliases of :mod:`segmint.schema`; the
preset found in the header (or forced with ``--preset``); a mapping file (``--mapping
shop.toml``); ``--column`` and ``--cancelled-when``. This module only reads names and text;
the SQL is in :mod:`segmint.rules`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segmint.errors import SegmintError
from segmint.schema import CANONICAL, ORDER_COLUMNS, normalise_name

__all__ = [
    "DEFAULT_RULE",
    "PRESETS",
    "Condition",
    "Layout",
    "Preset",
    "Request",
    "parse_condition",
    "read_mapping",
    "request",
    "resolve_layout",
]


@dataclass(frozen=True)
class Condition:
    """One test of the cancellation rule: a column, and the values that mean "cancelled".

    Attributes
    ----------
    column : str
        A canonical name (``invoice``, ``order_status``, ``cancelled_at``, ...) or a column of
        the file, as ``--cancelled-when`` names it.
    values : tuple of str
        Values compared trimmed and without regard to case; one ending in ``*`` is a prefix
        (``C*``: starts with C). Empty: any value that is not blank.
    """

    column: str
    values: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """The condition as ``--cancelled-when`` writes it."""
        return f"{self.column}={','.join(self.values)}" if self.values else self.column

    def describe(self, name: str) -> str:
        """Plain words, with the column as the file names it (``name``)."""
        if not self.values:
            return f"{name!r} is not blank"
        exact = [v for v in self.values if not v.endswith("*")]
        prefixes = [v[:-1] for v in self.values if v.endswith("*")]
        parts = [f"{name!r} is {' or '.join(exact)}"] if exact else []
        parts += [f"{name!r} starts with {' or '.join(prefixes)}"] if prefixes else []
        return " or ".join(parts)


#: The rule of the UCI logs: a cancellation's invoice number starts with ``C``.
DEFAULT_RULE: tuple[Condition, ...] = (Condition("invoice", ("C*",)),)


@dataclass(frozen=True)
class Preset:
    """The layout of one platform's export.

    Attributes
    ----------
    name, title : str
        ``--preset`` name, and how messages and the report name it.
    signature : tuple of str
        Columns that all appear in the export's header: the preset is found by them.
    columns : mapping of str to tuple of str
        Canonical (or :data:`~segmint.schema.ORDER_COLUMNS`) name -> the export's names for
        it, the first present wins.
    cancelled_when : tuple of Condition
        Which orders count as cancelled (any condition).
    order_key : str
        The column holding the order number on every row of an order.
    fallbacks : mapping of str to tuple of str
        Canonical name -> columns read where the mapped one is blank (a line item without a
        SKU is told apart by its name).
    """

    name: str
    title: str
    signature: tuple[str, ...]
    columns: Mapping[str, tuple[str, ...]]
    cancelled_when: tuple[Condition, ...]
    order_key: str
    fallbacks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


#: Shopify, "Export orders" (help.shopify.com, "Order export CSV file format"): one row per line
#: item; order-level fields only on an order's first row.
SHOPIFY = Preset(
    name="shopify",
    title="Shopify orders export",
    signature=("Name", "Financial Status", "Lineitem quantity", "Lineitem name", "Lineitem price"),
    columns={
        "invoice": ("Name",),
        "stock_code": ("Lineitem sku",),
        "description": ("Lineitem name",),
        "quantity": ("Lineitem quantity",),
        "invoice_date": ("Created at", "Paid at"),
        "unit_price": ("Lineitem price",),
        "customer_id": ("Email",),
        "country": ("Billing Country", "Shipping Country"),
        "order_status": ("Financial Status",),
        "cancelled_at": ("Cancelled at",),
        "currency": ("Currency",),
    },
    cancelled_when=(Condition("order_status", ("refunded", "voided")), Condition("cancelled_at")),
    order_key="Name",
    fallbacks={"stock_code": ("Lineitem name",)},
)

#: WooCommerce, "Advanced Order Export For WooCommerce" (the plugin's default fields, products
#: as rows): order fields on every row, or only on the first one when so exported.
WOOCOMMERCE = Preset(
    name="woocommerce",
    title="WooCommerce orders export",
    signature=("Order Number", "Order Status", "Item Name", "Quantity", "Item Cost"),
    columns={
        "invoice": ("Order Number",),
        "stock_code": ("SKU", "Product Id"),
        "description": ("Item Name",),
        "quantity": ("Quantity",),
        "invoice_date": ("Order Date",),
        "unit_price": ("Item Cost",),
        "customer_id": ("Email (Billing)", "Customer User Email"),
        "country": ("Country Code (Billing)", "Country Name (Billing)"),
        "order_status": ("Order Status",),
        "currency": ("Currency", "Order Currency"),
    },
    cancelled_when=(
        Condition("order_status", ("cancelled", "refunded", "wc-cancelled", "wc-refunded")),
    ),
    order_key="Order Number",
    fallbacks={"stock_code": ("Item Name",)},
)

#: Every preset, by ``--preset`` name, in the order they are tried.
PRESETS: dict[str, Preset] = {p.name: p for p in (SHOPIFY, WOOCOMMERCE)}

#: ``--preset`` values that turn detection off (the UCI layout and the aliases only).
NO_PRESET = ("none", "uci")

#: Canonical columns that hold one value per order (carried to the order's other rows).
ORDER_LEVEL = ("customer_id", "invoice_date", "country")


@dataclass(frozen=True)
class Request:
    """What the user asked for: a preset, a column mapping, a cancellation rule, an order key.

    ``preset`` None means "find it in the header"; ``"none"`` means no preset.
    """

    preset: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    cancelled_when: tuple[str, ...] = ()
    order_key: str | None = None
    origin: str = "--cancelled-when"


def parse_condition(text: str, origin: str = "--cancelled-when") -> Condition:
    """Read ``COLUMN=value1,value2`` (``*`` ends a prefix) or ``COLUMN`` (not blank).

    Examples
    --------
    >>> parse_condition("Financial Status=refunded, voided")
    Condition(column='Financial Status', values=('refunded', 'voided'))
    """
    column, sep, rest = str(text).partition("=")
    column = column.strip()
    values = tuple(v.strip() for v in rest.split(",") if v.strip())
    if not column or (sep and not values):
        raise SegmintError(
            f"{origin} {text!r}: write COLUMN=value1,value2 (value* for a prefix), "
            "or COLUMN alone for any value that is not blank"
        )
    return Condition(column, () if values == ("*",) else values)


def read_mapping(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a mapping file (TOML): ``preset``, ``order_key``, ``cancelled_when``, ``[columns]``.

    Returns
    -------
    dict
        The keys found, checked: ``preset`` and ``order_key`` str, ``cancelled_when`` a tuple
        of str, ``columns`` a dict of str to str.

    Raises
    ------
    SegmintError
        When the file is missing, is not TOML, or holds an unknown key or a value of the
        wrong kind.
    """
    where = Path(path)
    try:
        import tomllib
    except ImportError:  # pragma: no cover - Python 3.10
        raise SegmintError(f"--mapping {where}: reading TOML needs Python 3.11 or later") from None
    try:
        data = tomllib.loads(where.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SegmintError(f"--mapping {where}: no such file; check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SegmintError(f"--mapping {where}: cannot read it ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise SegmintError(f"--mapping {where} is not valid TOML ({exc})") from None
    known = ("preset", "order_key", "cancelled_when", "columns")
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise SegmintError(f"--mapping {where}: unknown key {unknown[0]!r}; use {', '.join(known)}")
    out: dict[str, Any] = {}
    for key in ("preset", "order_key"):
        if key in data:
            if not isinstance(data[key], str):
                raise SegmintError(f"--mapping {where}: {key} must be a string")
            out[key] = data[key]
    when = data.get("cancelled_when", [])
    when = [when] if isinstance(when, str) else when
    if not isinstance(when, list) or not all(isinstance(w, str) for w in when):
        raise SegmintError(f"--mapping {where}: cancelled_when must be a string or a list of them")
    if when:
        out["cancelled_when"] = tuple(when)
    columns = data.get("columns", {})
    if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
        raise SegmintError(
            f'--mapping {where}: [columns] must map names to strings, e.g. customer_id = "Email"'
        )
    if columns:
        out["columns"] = dict(columns)
    return out


def request(
    preset: str | None = None,
    mapping: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    columns: Mapping[str, str] | None = None,
    cancelled_when: str | Sequence[str] | None = None,
) -> Request:
    """Merge a mapping (a TOML file or a dict of its keys) with explicit options; these win."""
    given: Mapping[str, Any] = {}
    origin = "--cancelled-when"
    if isinstance(mapping, (str, os.PathLike)):
        given = read_mapping(mapping)
        origin = f"--mapping {mapping}: cancelled_when"
    elif mapping is not None:
        given = mapping
    when = [cancelled_when] if isinstance(cancelled_when, str) else list(cancelled_when or [])
    return Request(
        preset=preset if preset is not None else given.get("preset"),
        columns={**dict(given.get("columns") or {}), **dict(columns or {})},
        cancelled_when=tuple(when) or tuple(given.get("cancelled_when") or ()),
        order_key=given.get("order_key"),
        origin="--cancelled-when" if when else origin,
    )


@dataclass(frozen=True)
class Layout:
    """How to read one log, resolved against its header.

    Attributes
    ----------
    preset : Preset or None
        The preset used (found or forced), None for the UCI layout.
    columns : dict of str to str
        ``{canonical: their_name}`` for :func:`segmint.schema.resolve_columns`.
    order_columns : dict of str to str
        ``{order_status | cancelled_at | currency: their_name}``, those found.
    cancelled_when : tuple of Condition
        The cancellation rule (any condition): :data:`DEFAULT_RULE` unless a preset or the
        user says otherwise.
    order_key : str or None
        Their column of the order number; with it, order-level fields blank on a row are
        read from the order's other rows.
    fallbacks : dict of str to tuple of str
        Their column -> their columns read where it is blank.
    """

    preset: Preset | None
    columns: dict[str, str]
    order_columns: dict[str, str]
    cancelled_when: tuple[Condition, ...]
    order_key: str | None
    fallbacks: dict[str, tuple[str, ...]]
    names: tuple[str, ...]
    origin: str = "--cancelled-when"

    def rule_columns(self, found: Mapping[str, str], source: str) -> list[tuple[str, Condition]]:
        """Each condition with the column of the file it reads.

        Raises
        ------
        SegmintError
            When a condition names a column the log does not have.
        """
        out = []
        for cond in self.cancelled_when:
            if cond.column in CANONICAL:
                col = found.get(cond.column)
            elif cond.column in ORDER_COLUMNS:
                col = self.order_columns.get(cond.column)
            else:
                col = _find(self.names, cond.column)
            if col is None:
                raise SegmintError(
                    f"{source}: {self.origin} {cond.text!r}: the log has no column "
                    f"{cond.column!r}; columns are {list(self.names)}"
                )
            out.append((col, cond))
        return out

    def describe_rule(self, found: Mapping[str, str], source: str) -> str:
        """The cancellation rule in plain words, e.g. ``'InvoiceNo' starts with C``."""
        return ", or ".join(cond.describe(col) for col, cond in self.rule_columns(found, source))

    def fill_columns(self, found: Mapping[str, str], source: str) -> list[str]:
        """Their columns that hold one value per order: filled over the order's rows."""
        if self.order_key is None:
            return []
        cols = [found[c] for c in ORDER_LEVEL if c in found]
        cols += list(self.order_columns.values())
        cols += [col for col, _ in self.rule_columns(found, source)]
        line = {found[c] for c in CANONICAL if c in found and c not in ORDER_LEVEL}
        keep = [c for c in cols if c != self.order_key and c not in line]
        return list(dict.fromkeys(keep))


def _find(names: Sequence[str], wanted: str) -> str | None:
    """The column of ``names`` called ``wanted``: exactly, or else after normalising."""
    if wanted in names:
        return wanted
    matches = [n for n in names if normalise_name(n) == normalise_name(wanted)]
    return matches[0] if len(matches) == 1 else None


def detect(names: Sequence[str]) -> Preset | None:
    """The first preset whose signature columns are all in ``names``."""
    for preset in PRESETS.values():
        if all(_find(names, col) for col in preset.signature):
            return preset
    return None


def resolve_layout(names: Sequence[str], req: Request | None, source: str = "input") -> Layout:
    """Resolve what the user asked for against a header.

    Parameters
    ----------
    names : sequence of str
        The columns of the log.
    req : Request or None
        See :func:`request`; None finds the preset in the header.
    source : str, default="input"
        How messages name the log.

    Returns
    -------
    Layout

    Raises
    ------
    SegmintError
        For an unknown preset, a forced preset whose columns are missing (all named at once),
        a mapping or order key naming no column, or a malformed condition.
    """
    req = req or Request()
    names = tuple(names)
    preset: Preset | None
    if req.preset is None:
        preset = detect(names)
    elif req.preset.strip().lower() in NO_PRESET:
        preset = None
    else:
        preset = PRESETS.get(req.preset.strip().lower())
        if preset is None:
            raise SegmintError(
                f"--preset {req.preset}: unknown; use one of {', '.join([*PRESETS, 'none'])}"
            )
        missing = [c for c in preset.signature if not _find(names, c)]
        if missing:
            raise SegmintError(
                f"{source} is not a {preset.title}: it lacks the columns {missing}; "
                "drop --preset, or map the columns with --column"
            )
    columns: dict[str, str] = {}
    order_columns: dict[str, str] = {}
    fallbacks: dict[str, tuple[str, ...]] = {}
    if preset is not None:
        for canonical, candidates in preset.columns.items():
            extra = preset.fallbacks.get(canonical, ())
            present = [c for c in (_find(names, n) for n in (*candidates, *extra)) if c]
            if not present:
                continue
            (columns if canonical in CANONICAL else order_columns)[canonical] = present[0]
            more = [c for c in (_find(names, n) for n in extra) if c and c != present[0]]
            if more:
                fallbacks[present[0]] = tuple(more)
    for canonical, theirs in req.columns.items():
        if canonical in ORDER_COLUMNS:
            hit = _find(names, theirs)
            if hit is None:
                raise SegmintError(
                    f"{source}: --column {canonical}={theirs} names no column; "
                    f"columns are {list(names)}"
                )
            order_columns[canonical] = hit
        else:
            columns[canonical] = theirs
    for canonical, aliases in ORDER_COLUMNS.items():
        if canonical not in order_columns:
            hits = [c for c in (_find(names, a) for a in aliases) if c]
            if hits:
                order_columns[canonical] = hits[0]
    mapped = set(columns.values())
    fallbacks = {k: v for k, v in fallbacks.items() if k in mapped}
    origin = req.origin
    if req.cancelled_when:
        rule = tuple(parse_condition(t, origin) for t in req.cancelled_when)
    elif preset is not None:
        rule, origin = preset.cancelled_when, f"--preset {preset.name}"
    else:
        rule = DEFAULT_RULE
    key = req.order_key
    if key is not None:
        order_key = _find(names, key)
        if order_key is None:
            raise SegmintError(
                f"{source}: order_key {key!r} names no column; columns are {list(names)}"
            )
    else:
        order_key = _find(names, preset.order_key) if preset is not None else None
    return Layout(preset, columns, order_columns, rule, order_key, fallbacks, names, origin)

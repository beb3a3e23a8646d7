"""The canonical transaction schema, the column aliases segmint recognises, feature names, Audit.

The canonical columns are the names every later stage uses; ``load`` maps a file's own
column names onto them (see :func:`resolve_columns`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

from segmint.errors import SegmintError

__all__ = [
    "ALIASES",
    "AUDIT_LABELS",
    "CANONICAL",
    "DEFAULT_FEATURES",
    "FEATURE_COLUMNS",
    "OPTIONAL_FEATURES",
    "ORDER_COLUMNS",
    "SERVICE_CODES",
    "Audit",
    "normalise_name",
    "required_columns",
    "resolve_columns",
]

#: Canonical column names, in the order of the Online Retail files.
CANONICAL: tuple[str, ...] = (
    "invoice",
    "stock_code",
    "description",
    "quantity",
    "invoice_date",
    "unit_price",
    "customer_id",
    "country",
)

#: Names recognised for each canonical column (compared after :func:`normalise_name`):
#: UCI Online Retail, UCI Online Retail II, and the canonical name itself.
ALIASES: dict[str, tuple[str, ...]] = {
    "invoice": ("InvoiceNo", "Invoice", "invoice_no", "invoice"),
    "stock_code": ("StockCode", "stock_code"),
    "description": ("Description",),
    "quantity": ("Quantity",),
    "invoice_date": ("InvoiceDate", "invoice_date"),
    "unit_price": ("UnitPrice", "Price", "unit_price"),
    "customer_id": ("CustomerID", "Customer ID", "customer_id"),
    "country": ("Country",),
}

#: Optional order-level columns of shop exports (see :mod:`segmint.presets`): the order's
#: status (what ``--cancelled-when`` usually tests), when it was cancelled, and the currency
#: of its prices. Mapped like the canonical columns (``--column order_status=NAME``); only a
#: cancellation rule or a currency check reads them.
ORDER_COLUMNS: dict[str, tuple[str, ...]] = {
    "order_status": ("order_status", "Order Status", "status"),
    "cancelled_at": ("cancelled_at", "Cancelled at", "canceled_at"),
    "currency": ("currency",),
}

#: Features computed by default (docs/CONTRACTS.md, "Feature definitions").
DEFAULT_FEATURES: tuple[str, ...] = ("n_products", "n_canceled_orders")
#: Features a user may add with ``--features``.
OPTIONAL_FEATURES: tuple[str, ...] = ("n_orders", "recency_days", "monetary", "cancel_rate")
FEATURE_COLUMNS: tuple[str, ...] = DEFAULT_FEATURES + OPTIONAL_FEATURES

#: Canonical columns each feature needs (``customer_id`` is always needed).
_NEEDS: dict[str, tuple[str, ...]] = {
    "n_products": ("invoice", "stock_code"),
    "n_canceled_orders": ("invoice",),
    "n_orders": ("invoice",),
    "recency_days": ("invoice", "invoice_date"),
    "monetary": ("invoice", "quantity", "unit_price"),
    "cancel_rate": ("invoice",),
}

#: Stock codes that are not products: postage, manual entries, fees, samples, charity.
SERVICE_CODES: tuple[str, ...] = (
    "POST",
    "DOT",
    "M",
    "BANK CHARGES",
    "C2",
    "D",
    "CRUK",
    "PADS",
    "AMAZONFEE",
)


def normalise_name(name: str) -> str:
    """Fold a column name for matching: lower case, no spaces, underscores or dashes.

    >>> normalise_name(" Customer ID")
    'customerid'
    """
    return re.sub(r"[\s_\-]+", "", str(name).strip().lstrip("\ufeff")).lower()


def required_columns(features: Sequence[str]) -> tuple[str, ...]:
    """Canonical columns needed to compute ``features``, in canonical order."""
    needed = {"customer_id"}
    for feature in features:
        if feature not in _NEEDS:
            raise SegmintError(
                f"unknown feature {feature!r}; choose from {', '.join(FEATURE_COLUMNS)}"
            )
        needed.update(_NEEDS[feature])
    return tuple(c for c in CANONICAL if c in needed)


def resolve_columns(
    columns: Iterable[str],
    mapping: Mapping[str, str] | None = None,
    required: Sequence[str] = CANONICAL,
    source: str = "input",
) -> dict[str, str]:
    """Map canonical names to the names a file actually uses.

    Parameters
    ----------
    columns : iterable of str
        The file's column names, as read.
    mapping : mapping of str to str, optional
        User mapping ``{canonical: their_name}``; it wins over the built-in aliases.
    required : sequence of str, default=CANONICAL
        Canonical columns that must be found; others are mapped when present.
    source : str, default="input"
        Name of the file, used in error messages.

    Returns
    -------
    dict of str to str
        ``{canonical: file_column}`` for every canonical column that was found.

    Raises
    ------
    SegmintError
        When a required column is missing, when a mapping names a column the file does not
        have or an unknown canonical name, or when two file columns match the same name.
    """
    columns = list(columns)
    by_norm: dict[str, list[str]] = {}
    for col in columns:
        by_norm.setdefault(normalise_name(col), []).append(col)
    found: dict[str, str] = {}
    mapping = dict(mapping or {})
    for canonical, theirs in mapping.items():
        if canonical not in CANONICAL:
            raise SegmintError(
                f"--column {canonical}={theirs}: {canonical!r} is not a canonical column; "
                f"use one of {', '.join(CANONICAL)}"
            )
        if theirs in columns:
            found[canonical] = theirs
        elif len(by_norm.get(normalise_name(theirs), [])) == 1:
            found[canonical] = by_norm[normalise_name(theirs)][0]
        else:
            raise SegmintError(
                f"{source}: --column {canonical}={theirs} names no column; columns are {columns}"
            )
    for canonical in CANONICAL:
        if canonical in found:
            continue
        for alias in ALIASES[canonical]:
            matches = by_norm.get(normalise_name(alias), [])
            if len(matches) > 1:
                raise SegmintError(
                    f"{source}: columns {matches} both read as {canonical}; "
                    f"rename one, or map one with --column {canonical}=NAME"
                )
            if matches:
                found[canonical] = matches[0]
                break
    missing = [canonical for canonical in required if canonical not in found]
    if missing:  # every missing column at once, not one per attempt
        labels = [canonical.replace("_", " ") for canonical in missing]
        what = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " or " + labels[-1]
        fix = " ".join(f"--column {canonical}=NAME" for canonical in missing)
        shown = (
            repr(columns)
            if len(columns) <= 30
            else f"{columns[:30]!r} and {len(columns) - 30} more"
        )
        raise SegmintError(
            f"{source} has no {what} column; columns are {shown}; "
            f"map {'one' if len(missing) == 1 else 'them'} with {fix}"
        )
    return found


#: Human labels of the audit figures, in the order they are printed.
AUDIT_LABELS: dict[str, str] = {
    "rows_read": "rows read",
    "duplicate_rows": "exact duplicate rows",
    "rows_without_customer_id": "rows without customer id",
    "rows_excluded": "service-code or non-positive-price lines excluded",
    "rows_kept": "rows kept",
    "customers": "customers",
    "cancellation_lines": "cancellation lines",
    "cancellation_invoices": "cancellation invoices",
    "nonpositive_price_lines": "lines with zero or negative price",
    "service_code_lines": "lines with service codes",
}


@dataclass(frozen=True)
class Audit:
    """What cleaning read, dropped and kept.

    ``duplicate_rows`` and ``rows_without_customer_id`` are both counted on the input, so a
    duplicated row without customer id counts in both; ``rows_kept`` is exact:
    distinct rows with a customer id (less ``rows_excluded`` when service codes are dropped).
    The last four figures describe the kept rows.
    """

    rows_read: int
    duplicate_rows: int
    rows_without_customer_id: int
    rows_excluded: int
    rows_kept: int
    customers: int
    cancellation_lines: int
    cancellation_invoices: int
    nonpositive_price_lines: int
    service_code_lines: int

    def to_dict(self) -> dict[str, int]:
        """The figures as a plain dict, in print order."""
        return {k: int(v) for k, v in asdict(self).items()}

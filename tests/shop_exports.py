"""One small shop's orders, hand-written in three layouts: Shopify, WooCommerce and UCI.

Shopify's orders export (help.shopify.com, "Exporting orders"): one row per line item; the
order-level fields (email, statuses, dates, currency, totals, addresses, ``Cancelled at``) only
on an order's first row, blank on its other rows, which repeat ``Name`` and the ``Lineitem``
fields. WooCommerce, "Advanced Order Export For WooCommerce" with products as rows: here with
the order fields on the first row of an order only (the plugin's option), as the harder case.
The headers are the documented ones in full; the values of every row are written by hand.

The orders:

- #1001 ann, paid, 2024-03-01: 2 x MUG-B at 10, 1 x MUG-R at 10
- #1002 bob, refunded, 2024-03-02: 1 x POT-1 at 12                     (cancelled: refunded)
- #1003 ann, paid, 2024-03-05: 1 x MUG-B at 10, 2 x TEA-G at 4.50, 1 x gift wrap (no SKU) at 2
- #1004 cara, voided, 2024-03-06: 1 x POT-1 at 12                       (cancelled: voided)
- #1005 bob, paid and then cancelled, 2024-03-07: 1 x MUG-B, 1 x TEA-G  (cancelled: Cancelled at)
- #1006 bob, paid, 2024-03-10: 3 x MUG-R at 10
- #1007 a point-of-sale sale without email, 2024-03-10: 1 x MUG-B     (no customer id)
- #1008 cara, partially refunded, 2024-03-08: 1 x TEA-G at 4.50        (a purchase)
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

SHOPIFY_HEADER = [
    "Name",
    "Email",
    "Financial Status",
    "Paid at",
    "Fulfillment Status",
    "Fulfilled at",
    "Accepts Marketing",
    "Currency",
    "Subtotal",
    "Shipping",
    "Taxes",
    "Total",
    "Discount Code",
    "Discount Amount",
    "Shipping Method",
    "Created at",
    "Lineitem quantity",
    "Lineitem name",
    "Lineitem price",
    "Lineitem compare at price",
    "Lineitem sku",
    "Lineitem requires shipping",
    "Lineitem taxable",
    "Lineitem fulfillment status",
    "Billing Name",
    "Billing Street",
    "Billing Address1",
    "Billing Address2",
    "Billing Company",
    "Billing City",
    "Billing Zip",
    "Billing Province",
    "Billing Country",
    "Billing Phone",
    "Shipping Name",
    "Shipping Street",
    "Shipping Address1",
    "Shipping Address2",
    "Shipping Company",
    "Shipping City",
    "Shipping Zip",
    "Shipping Province",
    "Shipping Country",
    "Shipping Phone",
    "Notes",
    "Note Attributes",
    "Cancelled at",
    "Payment Method",
    "Payment Reference",
    "Refunded Amount",
    "Vendor",
    "Id",
    "Tags",
    "Risk Level",
    "Source",
    "Lineitem discount",
    "Tax 1 Name",
    "Tax 1 Value",
    "Phone",
    "Receipt Number",
    "Duties",
    "Billing Province Name",
    "Shipping Province Name",
    "Payment ID",
    "Payment Terms Name",
    "Next Payment Due At",
]

# fmt: off
#: (first row of an order: order-level fields) then its line items.
SHOPIFY_ORDERS = [
    ({"Name": "#1001", "Email": "ann@example.com", "Financial Status": "paid", "Paid at": "{d}2024-03-01 10:12:00", "Created at": "{d}2024-03-01 10:11:58", "Currency": "EUR", "Total": "30.00", "Billing Country": "DE", "Id": "5001", "Source": "web"},
     [("2", "Blue mug", "10.00", "MUG-B"), ("1", "Red mug", "10.00", "MUG-R")]),
    ({"Name": "#1002", "Email": "bob@example.com", "Financial Status": "refunded", "Paid at": "{d}2024-03-02 09:00:00", "Created at": "{d}2024-03-02 08:59:41", "Currency": "EUR", "Total": "12.00", "Refunded Amount": "12.00", "Billing Country": "FR", "Id": "5002"},
     [("1", "Tea pot", "12.00", "POT-1")]),
    ({"Name": "#1003", "Email": "ann@example.com", "Financial Status": "paid", "Paid at": "{d}2024-03-05 18:30:00", "Created at": "{d}2024-03-05 18:29:00", "Currency": "EUR", "Total": "31.00", "Billing Country": "DE", "Id": "5003"},
     [("1", "Blue mug", "10.00", "MUG-B"), ("2", "Green tea", "4.50", "TEA-G"), ("1", "Gift wrap", "2.00", "")]),
    ({"Name": "#1004", "Email": "cara@example.com", "Financial Status": "voided", "Created at": "{d}2024-03-06 07:00:00", "Currency": "EUR", "Total": "12.00", "Billing Country": "NL", "Id": "5004"},
     [("1", "Tea pot", "12.00", "POT-1")]),
    ({"Name": "#1005", "Email": "bob@example.com", "Financial Status": "paid", "Paid at": "{d}2024-03-07 12:00:00", "Created at": "{d}2024-03-07 11:59:00", "Cancelled at": "{d}2024-03-07 15:00:00", "Currency": "EUR", "Total": "14.50", "Billing Country": "FR", "Id": "5005"},
     [("1", "Blue mug", "10.00", "MUG-B"), ("1", "Green tea", "4.50", "TEA-G")]),
    ({"Name": "#1006", "Email": "bob@example.com", "Financial Status": "paid", "Paid at": "{d}2024-03-10 09:15:00", "Created at": "{d}2024-03-10 09:14:00", "Currency": "EUR", "Total": "30.00", "Billing Country": "FR", "Id": "5006"},
     [("3", "Red mug", "10.00", "MUG-R")]),
    ({"Name": "#1007", "Email": "", "Financial Status": "paid", "Paid at": "{d}2024-03-10 11:00:00", "Created at": "{d}2024-03-10 11:00:00", "Currency": "EUR", "Total": "10.00", "Id": "5007", "Source": "pos"},
     [("1", "Blue mug", "10.00", "MUG-B")]),
    ({"Name": "#1008", "Email": "cara@example.com", "Financial Status": "partially_refunded", "Paid at": "{d}2024-03-08 16:00:00", "Created at": "{d}2024-03-08 15:58:00", "Currency": "EUR", "Total": "4.50", "Refunded Amount": "1.00", "Billing Country": "NL", "Id": "5008"},
     [("1", "Green tea", "4.50", "TEA-G")]),
]
# fmt: on

WOO_HEADER = [
    "Order Number", "Order Status", "Order Date", "Customer Note", "First Name (Billing)",
    "Last Name (Billing)", "Company (Billing)", "Address 1&2 (Billing)", "City (Billing)",
    "State Code (Billing)", "Postcode (Billing)", "Country Code (Billing)", "Email (Billing)",
    "Phone (Billing)", "First Name (Shipping)", "Last Name (Shipping)", "Address 1&2 (Shipping)",
    "City (Shipping)", "State Code (Shipping)", "Postcode (Shipping)", "Country Code (Shipping)",
    "Payment Method Title", "Cart Discount Amount", "Order Subtotal Amount",
    "Shipping Method Title", "Order Shipping Amount", "Order Refund Amount",
    "Order Total Amount", "Order Total Tax Amount", "SKU", "Item #", "Item Name", "Quantity",
    "Item Cost", "Coupon Code", "Discount Amount", "Discount Amount Tax",
]  # fmt: skip

#: WooCommerce's statuses for the same orders (a voided payment is a cancelled order there;
#: a cancelled order has no separate date column).
WOO_STATUS = {
    "#1001": "Completed", "#1002": "Refunded", "#1003": "Completed", "#1004": "Cancelled",
    "#1005": "Cancelled", "#1006": "Completed", "#1007": "Completed", "#1008": "Completed",
}  # fmt: skip

#: The customer table the definitions give for these orders, worked out by hand.
EXPECTED = pd.DataFrame(
    {
        "customer_id": ["ann@example.com", "bob@example.com", "cara@example.com"],
        # ann: MUG-B, MUG-R, TEA-G and the gift wrap (no SKU: its name); bob: only #1006 is
        # kept as a purchase; cara: #1008 (partially refunded is still a purchase)
        "n_products": [4, 1, 1],
        "n_canceled_orders": [0, 2, 1],
        "n_orders": [2, 1, 1],
        # the last date of the kept rows is 2024-03-10 (bob's #1006)
        "recency_days": [5, 0, 2],
        "monetary": [2 * 10 + 10 + 10 + 2 * 4.5 + 2.0, 3 * 10.0, 4.5],
        "cancel_rate": [0.0, 2 / 3, 0.5],
    }
)
EXPECTED_AUDIT = {
    "rows_read": 12,
    "duplicate_rows": 0,
    "rows_without_customer_id": 1,
    "rows_kept": 11,
    "customers": 3,
    "cancellation_lines": 4,
    "cancellation_invoices": 3,
}


def _date(text: str, offset: bool) -> str:
    """A value as written: dates (marked ``{d}``) with Shopify's offset when asked."""
    if not text.startswith("{d}"):
        return text
    return text[3:] + (" +0000" if offset else "")


def write_shopify(path: Path, *, offsets: bool = False) -> Path:
    """The orders in Shopify's layout; ``offsets`` writes dates as Shopify does (``+0000``)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(SHOPIFY_HEADER)
        for order, items in SHOPIFY_ORDERS:
            for i, (qty, name, price, sku) in enumerate(items):
                row = dict.fromkeys(SHOPIFY_HEADER, "")
                if i == 0:
                    row.update({k: _date(v, offsets) for k, v in order.items()})
                row.update(
                    {
                        "Name": order["Name"],
                        "Lineitem quantity": qty,
                        "Lineitem name": name,
                        "Lineitem price": price,
                        "Lineitem sku": sku,
                        "Lineitem requires shipping": "true",
                        "Lineitem taxable": "true",
                        "Lineitem fulfillment status": "pending",
                    }
                )
                out.writerow([row[c] for c in SHOPIFY_HEADER])
    return path


def write_woocommerce(path: Path) -> Path:
    """The orders in WooCommerce's layout, order fields on each order's first row only."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(WOO_HEADER)
        for order, items in SHOPIFY_ORDERS:
            for i, (qty, name, price, sku) in enumerate(items):
                row = dict.fromkeys(WOO_HEADER, "")
                if i == 0:
                    row.update(
                        {
                            "Order Status": WOO_STATUS[order["Name"]],
                            "Order Date": _date(order["Created at"], False)[:16],
                            "Email (Billing)": order["Email"],
                            "Country Code (Billing)": order.get("Billing Country", ""),
                            "Order Total Amount": order["Total"],
                            "Payment Method Title": "Credit card",
                        }
                    )
                row.update(
                    {
                        "Order Number": order["Name"].lstrip("#"),
                        "SKU": sku,
                        "Item #": str(i + 1),
                        "Item Name": name,
                        "Quantity": qty,
                        "Item Cost": price,
                    }
                )
                out.writerow([row[c] for c in WOO_HEADER])
    return path


def write_uci(path: Path) -> Path:
    """The same log in the UCI layout: a cancelled order is a ``C`` invoice."""
    cancelled = {"#1002", "#1004", "#1005"}
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate",
                      "UnitPrice", "CustomerID", "Country"])  # fmt: skip
        for order, items in SHOPIFY_ORDERS:
            number = order["Name"].lstrip("#")
            invoice = ("C" if order["Name"] in cancelled else "") + number
            for qty, name, price, sku in items:
                date = _date(order["Created at"], False)
                out.writerow(
                    [
                        invoice,
                        sku or name,
                        name,
                        qty,
                        date,
                        price,
                        order["Email"],
                        order.get("Billing Country", ""),
                    ]
                )
    return path

"""``segmint.quality``: missing values counted as the plain rule counts them, whatever the type.

A value is missing when NULL or blank once trimmed (``NULLIF(TRIM(CAST(v AS VARCHAR)), '')``
is NULL). :func:`segmint.rules.missing_count` trims only the text that can be blank, and no
number or date; its counts must equal the plain rule's on awkward values (Unicode spaces,
tabs, text starting with a non-ASCII letter) in text, number, date and boolean columns.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from segmint.clean import clean
from segmint.engines.duckdb import DuckDBEngine
from segmint.io.sources import resolve_source
from segmint.quality import data_quality
from segmint.rules import ident

#: Text cells: blank in several ways (missing), and text around them that is not.
TEXTS = [
    "",
    " ",
    "   ",
    "\t",
    " \t ",
    "\n",
    "\u00a0",
    "\u3000",
    " \u00a0 ",
    None,
    "x",
    " x ",
    "\tx",
    "\u00a0x",
    "Ünïcode",
    "É ",
    "!",
    "~",
]


@pytest.fixture
def engine() -> DuckDBEngine:
    eng = DuckDBEngine()
    yield eng
    eng.close()


def test_missing_counts_equal_the_plain_rule(engine: DuckDBEngine) -> None:
    n = len(TEXTS)
    log = pd.DataFrame(
        {
            "InvoiceNo": [f"5363{i:02d}" for i in range(n)],
            "StockCode": TEXTS,
            "Description": list(reversed(TEXTS)),
            "Quantity": [float("nan") if i % 5 == 0 else float(i) for i in range(n)],
            "InvoiceDate": [
                None if i % 4 == 0 else dt.datetime(2011, 1, 1) + dt.timedelta(hours=i)
                for i in range(n)
            ],
            "UnitPrice": [None if i % 3 == 0 else 1.5 for i in range(n)],
            "CustomerID": ["17850" if i % 2 else t for i, t in enumerate(TEXTS)],
            "Country": TEXTS[3:] + TEXTS[:3],
            "Gift": [None if i % 6 == 0 else i % 2 == 0 for i in range(n)],
        }
    )
    cleaned = clean(engine, resolve_source(log), descriptors=True)
    quality = data_quality(cleaned)
    plain = ", ".join(
        f"COUNT(*) - COUNT(NULLIF(TRIM(CAST({ident(c)} AS VARCHAR)), '')) AS {ident(c)}"
        for c in cleaned.types
    )
    expected = engine.fetch(f"SELECT {plain} FROM raw").to_pylist()[0]
    got = {c["column"]: c["missing"] for c in quality["columns"]}
    assert got == expected
    # blank: "", spaces, Unicode spaces (which TRIM strips; not tabs or line breaks), None
    assert got["StockCode"] == 7
    assert {c["column"]: c["type"] for c in quality["columns"]}["Gift"] == "BOOLEAN"

"""Properties of the customer table for random logs, and a loader that only ever says SegmintError.

For random small transaction logs (cancellations, repeated stock codes, exact duplicates, missing
and float-artifact customer ids, awkward text) the customer table must equal a plain pandas
computation of the definitions in docs/CONTRACTS.md ("Feature definitions"), whatever the row order,
however often rows repeat, and whichever file format (CSV, Parquet, xlsx) carries the rows.
The loader is fuzzed with random bytes, random delimited text and corruptions of valid files:
nothing but :class:`segmint.errors.SegmintError` may escape ``segmint.customer_features``.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import UCI_COLUMNS
from segmint.engines import _sorting as sorting
from segmint.engines.duckdb import DuckDBEngine
from segmint.errors import SegmintError
from segmint.pipeline import customer_features
from segmint.schema import FEATURE_COLUMNS

FAST = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
FUZZ = settings(FAST, max_examples=40)

COUNTS = ("n_products", "n_canceled_orders", "n_orders", "recency_days")
DAY0 = dt.datetime(2010, 12, 1, 8, 26)

# ---------------------------------------------------------------- random logs
#: Customer ids as exports spell them: text, numbers with a float artifact, blanks (missing).
customer_ids = st.sampled_from(
    [
        "12345",
        "12345.0",
        "12346.0",
        "17850",
        "A-7",
        "x9",
        "",
        " ",
        None,
        "\t",
        "nan",
        "\u00a012346 ",
    ]
)
descriptions = st.sampled_from(
    ["MUG", "CRÈME LANTERN, WHITE", 'BOX "SMALL"', "TIN; RED", "Ünïcode ☃", "  padded  "]
)


#: Customer ids that no text rule changes or merges (the sort path keeps its first grouping).
plain_ids = st.sampled_from(["12345", "17850", "A-7", "x9", None])


@st.composite
def lines(draw: st.DrawFn, ids: st.SearchStrategy[object] = customer_ids) -> tuple[object, ...]:
    number = draw(st.integers(536_000, 536_012))
    cancel = draw(st.booleans())
    quantity = draw(st.integers(1, 24))
    cents = draw(st.integers(0, 5_000))
    when = DAY0 + dt.timedelta(
        days=draw(st.integers(0, 40)), minutes=draw(st.integers(0, 24 * 60 - 1))
    )
    return (
        f"C{number}" if cancel else str(number),
        draw(st.sampled_from(["P1", "P2", "P3", "85123A", "POST", "M"])),
        draw(descriptions),
        str(-quantity if cancel else quantity),
        when.strftime("%Y-%m-%d %H:%M:%S"),
        f"{cents // 100}.{cents % 100:02d}",
        draw(ids),
        draw(st.sampled_from(["United Kingdom", "France", "EIRE"])),
    )


@st.composite
def logs(
    draw: st.DrawFn,
    min_rows: int = 1,
    max_rows: int = 30,
    ids: st.SearchStrategy[object] = customer_ids,
) -> pd.DataFrame:
    """A log as text cells (UCI names); some rows repeated exactly; at least one customer."""
    rows = draw(st.lists(lines(ids), min_size=min_rows, max_size=max_rows))
    rows += draw(st.lists(st.sampled_from(rows), max_size=5))  # exact duplicates
    keep = draw(lines(ids).filter(lambda r: _customer(r[6]) is not None))
    rows.insert(draw(st.integers(0, len(rows))), keep)
    return pd.DataFrame(rows, columns=UCI_COLUMNS, dtype=object)


def _customer(value: object) -> str | None:
    """A customer id as the definitions read it: trimmed text, ``17850.0`` as ``17850``."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if str(value).strip().lower() in ("nan", "none", "null"):
        return None
    text = re.sub(r"\.0+$", "", str(value).strip())
    return text or None


def reference(frame: pd.DataFrame) -> pd.DataFrame:
    """The feature definitions of docs/CONTRACTS.md, computed in plain Python on the text cells."""
    rows = list(dict.fromkeys(tuple(r) for r in frame.itertuples(index=False)))  # no duplicates
    clean = [(r, _customer(r[6])) for r in rows]
    clean = [(r, c) for r, c in clean if c is not None]
    last_day = max(dt.datetime.fromisoformat(r[4]) for r, _ in clean).date()
    out = []
    for cid in sorted({c for _, c in clean}):
        mine = [r for r, c in clean if c == cid]
        bought = [r for r in mine if not r[0].upper().startswith("C")]
        cancelled = [r for r in mine if r[0].upper().startswith("C")]
        last = max(dt.datetime.fromisoformat(r[4]) for r in (bought or mine)).date()
        n_cancel = len({r[0] for r in cancelled})
        out.append(
            {
                "customer_id": cid,
                "n_products": len({r[1] for r in bought}),
                "n_canceled_orders": n_cancel,
                "n_orders": len({r[0] for r in bought}),
                "recency_days": (last_day - last).days,
                # net spend: every line, cancellations (negative quantities) included
                "monetary": float(sum((Decimal(r[3]) * Decimal(r[5]) for r in mine), Decimal(0))),
                "cancel_rate": n_cancel / len({r[0] for r in mine}),
            }
        )
    table = pd.DataFrame(out, columns=["customer_id", *FEATURE_COLUMNS])
    table["customer_id"] = table["customer_id"].astype(str)
    return table.astype({c: "int64" for c in COUNTS})


def assert_same(actual: pd.DataFrame, expected: pd.DataFrame, what: str = "") -> None:
    pd.testing.assert_frame_equal(
        actual.reset_index(drop=True), expected, check_exact=False, rtol=1e-12, obj=what
    )


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """The same log with typed columns, as a Parquet or Excel export would hold it."""
    out = frame.copy()
    out["Quantity"] = out["Quantity"].astype("int64")
    out["UnitPrice"] = out["UnitPrice"].astype("float64")
    out["InvoiceDate"] = pd.to_datetime(out["InvoiceDate"])
    return out


# ---------------------------------------------------------------- properties
@FAST
@given(log=logs())
@example(
    log=pd.DataFrame(
        [("C1", "P1", "x", "-1", "2010-12-01 00:00:00", "1.00", "7", "UK")],
        columns=UCI_COLUMNS,
        dtype=object,
    )
)
def test_table_equals_the_definitions(log: pd.DataFrame) -> None:
    result = customer_features(log, features="all")
    expected = reference(log)
    assert_same(result.table, expected, "customer table")
    ids = {c for c in map(_customer, log["CustomerID"]) if c is not None}
    assert set(result.table["customer_id"]) == ids  # exactly the distinct non-empty ids
    assert result.table["customer_id"].is_monotonic_increasing
    for name in COUNTS:
        assert result.table[name].dtype == np.int64
        assert (result.table[name] >= 0).all()
    assert result.table["customer_id"].map(type).eq(str).all()
    assert result.audit.rows_read == len(log)
    assert result.audit.duplicate_rows == len(log) - len(log.drop_duplicates())
    assert result.audit.customers == len(ids)


@FAST
@given(log=logs(), data=st.data())
def test_row_order_and_repeats_change_no_feature(log: pd.DataFrame, data: st.DataObject) -> None:
    base = reference(log)  # what the unshuffled log gives (test_table_equals_the_definitions)
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    shuffled = log.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    assert_same(customer_features(shuffled, features="all").table, base, "shuffled")
    repeats = data.draw(st.lists(st.integers(0, len(log) - 1), min_size=1, max_size=20))
    doubled = pd.concat([log, log.iloc[repeats]], ignore_index=True)
    doubled = doubled.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    assert_same(customer_features(doubled, features="all").table, base, "with repeated rows")


class _SQLOnly(DuckDBEngine):
    """DuckDB told that the sort path would not fit: the SQL rules run, as beyond the limit."""

    def can_sort(self, source: object) -> bool:
        return False


@FAST
@given(log=logs(), features=st.sampled_from(["n_products,n_canceled_orders", "all"]))
def test_sort_path_in_partitions_and_sql_path_agree(
    monkeypatch: pytest.MonkeyPatch, log: pd.DataFrame, features: str
) -> None:
    names = ("n_products", "n_canceled_orders") if features != "all" else FEATURE_COLUMNS
    expected = reference(log)[["customer_id", *names]]
    results = []
    with monkeypatch.context() as patch:
        patch.setattr(sorting, "ROWS_PER_PARTITION", 4)  # a partition every 4 rows
        results.append(customer_features(log, features=features))
    for engine in (DuckDBEngine(), _SQLOnly()):
        try:
            results.append(customer_features(log, features=tuple(names), engine=engine))
        finally:
            engine.close()
    for result in results:
        assert_same(result.table, expected, "customer table")
    assert results[0].audit == results[1].audit == results[2].audit


def _described(log: object, engine: DuckDBEngine, features: tuple[str, ...]) -> list[object]:
    """What a run reads of a log cleaned with its descriptors (see segmint._described)."""
    from segmint.clean import clean
    from segmint.features import aggregate, describe_customers, monthly_activity
    from segmint.io.sources import resolve_source
    from segmint.quality import data_quality

    cleaned = clean(engine, resolve_source(log), features=features, descriptors=True)
    return [
        cleaned.audit,
        aggregate(cleaned),
        describe_customers(cleaned),
        monthly_activity(cleaned),
        data_quality(cleaned),
    ]


@settings(FAST, max_examples=15)
@given(
    log=st.one_of(logs(), logs(ids=plain_ids)),
    features=st.sampled_from(["n_products,n_canceled_orders", "all"]),
)
def test_descriptors_of_the_sort_path_and_the_sql_path_agree(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    log: pd.DataFrame,
    features: str,
) -> None:
    """The sort path's second pass (invoice-level partials, repeated lines' spend once, the
    lines of customers with several countries) gives the SQL path's descriptors exactly."""
    names = ("n_products", "n_canceled_orders") if features != "all" else FEATURE_COLUMNS
    path = tmp_path_factory.mktemp("described") / "log.csv"  # staged rows, read twice
    log.to_csv(path, index=False)
    for source in (log, path):
        results = []
        for engine in (DuckDBEngine(), _SQLOnly()):
            try:
                with monkeypatch.context() as patch:
                    patch.setattr(sorting, "ROWS_PER_PARTITION", 4)  # a partition every 4 rows
                    results.append(_described(source, engine, names))
            finally:
                engine.close()
        (audit, table, customers, monthly, quality), expected = results
        assert audit == expected[0]
        for got, want in zip((table, customers, monthly), expected[1:4], strict=True):
            pd.testing.assert_frame_equal(got, want, check_exact=True)
        assert quality == expected[4]


@FAST
@given(log=logs(max_rows=20))
def test_csv_and_parquet_give_the_same_table(
    tmp_path_factory: pytest.TempPathFactory, log: pd.DataFrame
) -> None:
    folder = tmp_path_factory.mktemp("forms")
    expected = reference(log)
    csv_path = folder / "log.csv"
    log.to_csv(csv_path, index=False)
    assert_same(customer_features(csv_path, features="all").table, expected, "csv")
    pq_path = folder / "log.parquet"
    typed(log).to_parquet(pq_path, index=False)
    assert_same(customer_features(pq_path, features="all").table, expected, "parquet")


@settings(FAST, max_examples=6)
@given(log=logs(max_rows=12))
def test_xlsx_gives_the_same_table(
    tmp_path_factory: pytest.TempPathFactory, log: pd.DataFrame
) -> None:
    path = tmp_path_factory.mktemp("xlsx") / "log.xlsx"
    typed(log).to_excel(path, index=False, engine="openpyxl")
    assert_same(customer_features(path, features="all").table, reference(log), "xlsx")


# ---------------------------------------------------------------- loader fuzz
def _only_segmint_errors(path: Path, features: str | None = "all") -> None:
    try:
        customer_features(path, features=features)
    except SegmintError as exc:
        message = str(exc)
        assert message and "\n" not in message.strip(), message
        assert "Traceback" not in message


def _valid_csv() -> bytes:
    from conftest import ROWS

    return pd.DataFrame(ROWS, columns=UCI_COLUMNS).to_csv(index=False).encode()


def _valid_file(kind: str) -> bytes:
    from conftest import ROWS

    frame = typed(pd.DataFrame(ROWS, columns=UCI_COLUMNS))
    buffer = io.BytesIO()
    if kind == "parquet":
        frame.to_parquet(buffer, index=False)
    else:
        frame.to_excel(buffer, index=False, engine="openpyxl")
    return buffer.getvalue()


VALID = {"csv": _valid_csv(), "parquet": _valid_file("parquet"), "xlsx": _valid_file("xlsx")}


@st.composite
def corruptions(draw: st.DrawFn, data: bytes) -> bytes:
    """Cut, overwrite, insert or delete bytes of a valid file, a few times."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "swap_line"]))
        at = draw(st.integers(0, max(len(out) - 1, 0)))
        if kind == "truncate":
            del out[at:]
        elif kind == "flip" and out:
            out[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del out[at : at + draw(st.integers(1, 64))]
        elif kind == "swap_line":
            out[at:at] = draw(st.sampled_from([b"\n", b",", b'"', b";", b"\r\n", b"\xff", b"\x00"]))
    return bytes(out)


@FUZZ
@given(data=st.binary(max_size=2048), features=st.sampled_from([None, "all"]))
def test_fuzz_random_bytes_as_csv(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, features: str | None
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "orders.csv"
    path.write_bytes(data)
    _only_segmint_errors(path, features)


@FUZZ
@given(
    body=st.text(alphabet=st.sampled_from(list('ab1.5-C ,;\t|"\n\r\u00e9\ufeff')), max_size=400),
    header=st.sampled_from([",".join(UCI_COLUMNS), ";".join(UCI_COLUMNS), "a,b", ""]),
    features=st.sampled_from([None, "all"]),
)
def test_fuzz_delimited_text_as_csv(
    tmp_path_factory: pytest.TempPathFactory, body: str, header: str, features: str | None
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "orders.csv"
    path.write_text(header + "\n" + body, encoding="utf-8")
    _only_segmint_errors(path, features)


@FUZZ
@given(data=st.data(), features=st.sampled_from([None, "all"]))
def test_fuzz_corrupted_csv(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, features: str | None
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "orders.csv"
    path.write_bytes(data.draw(corruptions(VALID["csv"])))
    _only_segmint_errors(path, features)


@FUZZ
@given(data=st.data(), kind=st.sampled_from(["parquet", "xlsx"]))
def test_fuzz_corrupted_parquet_and_xlsx(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, kind: str
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / f"orders.{kind}"
    path.write_bytes(data.draw(corruptions(VALID[kind])))
    _only_segmint_errors(path)


# ---------------------------------------------------------------- exact spend
#: Every quantity and price segmint reads exactly: 12 digits and 6 decimals, 11 and 8.
quantities = st.decimals(-(10**12) + 1, 10**12 - 1, places=6, allow_nan=False)
prices = st.decimals(-(10**11) + 1, 10**11 - 1, places=8, allow_nan=False)


def _text(value: Decimal, style: int) -> str:
    """A number as exports write it: plain, with trailing zeros cut, or in E notation."""
    if style == 0:
        return f"{value:f}"
    if style == 1:
        return f"{value.normalize():f}"
    return f"{value.normalize():E}" if value else "0"


@FAST
@given(
    amounts=st.lists(
        st.tuples(quantities, prices, st.integers(0, 2), st.integers(0, 2)),
        min_size=1,
        max_size=8,
    )
)
@example(amounts=[(Decimal(1000), Decimal("0.123456"), 0, 0)])
@example(amounts=[(Decimal("0.0004"), Decimal(1000), 0, 0)])
@example(amounts=[(Decimal("999999999999.999999"), Decimal("99999999999.99999999"), 0, 0)] * 3)
def test_spend_is_exact_for_extreme_quantities_and_prices(
    amounts: list[tuple[Decimal, Decimal, int, int]],
) -> None:
    """Spend equals Python's ``decimal`` sum, rounded once to a double, for any value kept."""
    rows = [
        (
            str(536_000 + i),
            "P1",
            "x",
            _text(q, style),
            "2010-12-01 08:26:00",
            _text(p, style),
            str(customer),
            "UK",
        )
        for i, (q, p, customer, style) in enumerate(amounts)
    ]
    log = pd.DataFrame(rows, columns=UCI_COLUMNS, dtype=object)
    table = customer_features(log, features="monetary").table.set_index("customer_id")
    for customer in {c for _, _, c, _ in amounts}:
        spend = sum((q * p for q, p, c, _ in amounts if c == customer), Decimal(0))
        assert table.loc[str(customer), "monetary"] == float(spend), (customer, spend)


@FAST
@given(
    value=st.one_of(
        st.decimals(10**12, 10**30, places=0, allow_nan=False),  # too large
        st.decimals(0, 1, places=12, allow_nan=False).filter(
            lambda d: d != d.quantize(Decimal("1e-8"))
        ),
    ),
    column=st.sampled_from(["Quantity", "UnitPrice"]),
)
def test_spend_that_cannot_be_exact_is_refused(value: Decimal, column: str) -> None:
    """A value past the exact types is an error naming it, never a silent 0 or a rounding."""
    if column == "Quantity" and value < 10**12 and value == value.quantize(Decimal("1e-6")):
        return  # fits the quantity type
    log = pd.DataFrame(
        [("536000", "P1", "x", "1", "2010-12-01 08:26:00", "1", "7", "UK")] * 2,
        columns=UCI_COLUMNS,
        dtype=object,
    )
    log.loc[1, "InvoiceNo"] = "536001"
    log.loc[1, column] = f"{value:f}"
    with pytest.raises(SegmintError, match="cannot be counted exactly"):
        customer_features(log, features="monetary")

"""Shop exports (presets), the cancellation rule of any column, mapping files, pseudonymous ids.

The fixtures are one shop's orders hand-written in Shopify's, WooCommerce's and the UCI
layout (``tests/shop_exports.py``), with the customer table worked out by hand.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from segmint import customer_features
from segmint._pseudonym import ENV_KEY, looks_like_email, pseudonymize
from segmint.cli import app
from segmint.errors import SegmintError
from segmint.presets import Request, parse_condition, resolve_layout
from shop_exports import (
    EXPECTED,
    EXPECTED_AUDIT,
    SHOPIFY_HEADER,
    write_shopify,
    write_uci,
    write_woocommerce,
)

runner = CliRunner()


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A known key, and a private config folder (no key file in the user's home)."""
    monkeypatch.setenv(ENV_KEY, "test-key")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def _table(path: Path, **options: object) -> pd.DataFrame:
    result = customer_features(path, features="all", pseudonymize=False, **options)
    audit = result.audit.to_dict()
    assert {k: audit[k] for k in EXPECTED_AUDIT} == EXPECTED_AUDIT
    return result.table


@pytest.mark.parametrize("write", [write_shopify, write_woocommerce, write_uci])
def test_each_layout_gives_the_hand_computed_table(write, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    table = _table(write(tmp_path / "orders.csv"))
    pd.testing.assert_frame_equal(table, EXPECTED, check_exact=False, rtol=1e-12)


def test_presets_are_found_and_named(tmp_path: Path) -> None:
    shop = customer_features(write_shopify(tmp_path / "shop.csv"), pseudonymize=False)
    assert "read as a Shopify orders export (--preset shopify)" in shop.notes
    assert shop.cancellation_rule == (
        "'Financial Status' is refunded or voided, or 'Cancelled at' is not blank"
    )
    woo = customer_features(write_woocommerce(tmp_path / "woo.csv"), pseudonymize=False)
    assert "read as a WooCommerce orders export (--preset woocommerce)" in woo.notes
    uci = customer_features(write_uci(tmp_path / "uci.csv"), pseudonymize=False)
    assert uci.cancellation_rule == "'InvoiceNo' starts with C"
    assert not any("preset" in n or "cancelled orders" in n for n in uci.notes)


def test_order_fields_are_carried_without_row_order(tmp_path: Path) -> None:
    """The order's email and status reach its other rows even when the rows are shuffled."""
    path = write_shopify(tmp_path / "shop.csv")
    lines = path.read_text(encoding="utf-8").splitlines()
    shuffled = [lines[0], *reversed(lines[1:])]
    path.write_text("\n".join(shuffled) + "\n", encoding="utf-8")
    pd.testing.assert_frame_equal(_table(path), EXPECTED, check_exact=False, rtol=1e-12)


def test_without_the_preset_the_columns_are_missing(tmp_path: Path) -> None:
    path = write_shopify(tmp_path / "shop.csv")
    with pytest.raises(SegmintError, match=r"no invoice(, stock code or customer id)? column"):
        customer_features(path, preset="none")


def test_forced_preset_names_every_missing_column(tmp_path: Path) -> None:
    with pytest.raises(SegmintError) as err:
        customer_features(write_uci(tmp_path / "uci.csv"), preset="shopify")
    message = str(err.value)
    assert "is not a Shopify orders export" in message
    for column in ("Name", "Financial Status", "Lineitem quantity", "Lineitem price"):
        assert repr(column) in message
    with pytest.raises(SegmintError, match="--preset magento: unknown; use one of shopify"):
        customer_features(write_uci(tmp_path / "uci.csv"), preset="magento")


def test_column_overrides_a_preset_field(tmp_path: Path) -> None:
    """--column wins: customers by billing country instead of email, filled over orders."""
    path = write_shopify(tmp_path / "shop.csv")
    result = customer_features(path, columns={"customer_id": "Billing Country"})
    assert result.table["customer_id"].tolist() == ["DE", "FR", "NL"]
    assert result.table["n_canceled_orders"].tolist() == [0, 2, 1]
    assert result.audit.rows_without_customer_id == 1 and not result.pseudonymized


def test_cancelled_when_on_a_uci_log(tmp_path: Path) -> None:
    """A status column next to the UCI columns: the rule counts what it says, and says so."""
    frame = pd.read_csv(write_uci(tmp_path / "uci.csv"), dtype=str)
    frame["InvoiceNo"] = frame["InvoiceNo"].str.lstrip("C")
    frame["Status"] = ["ok"] * len(frame)
    frame.loc[frame["InvoiceNo"].isin(["1002", "1004", "1005"]), "Status"] = " Refunded "
    path = tmp_path / "status.csv"
    frame.to_csv(path, index=False)
    plain = customer_features(path, pseudonymize=False)
    assert plain.audit.cancellation_invoices == 0
    assert plain.warnings == [
        "no cancellations found (the rule: 'InvoiceNo' starts with C); if this log marks "
        "cancelled or refunded orders another way, say how with --cancelled-when COLUMN=VALUES"
    ]
    ruled = customer_features(path, cancelled_when="Status=refunded,voided", pseudonymize=False)
    assert ruled.audit.cancellation_invoices == 3 and ruled.warnings == []
    assert ruled.cancellation_rule == "'Status' is refunded or voided"
    assert ruled.table["n_canceled_orders"].tolist() == [0, 2, 1]
    canonical = customer_features(path, cancelled_when=["order_status=refund*"], pseudonymize=False)
    assert canonical.cancellation_rule == "'Status' starts with refund"
    assert canonical.audit.cancellation_invoices == 3
    with pytest.raises(SegmintError, match="--cancelled-when 'State=x': the log has no column"):
        customer_features(path, cancelled_when="State=x")
    with pytest.raises(SegmintError, match="write COLUMN=value1,value2"):
        customer_features(path, cancelled_when="Status=")


def test_mapping_file(tmp_path: Path) -> None:
    frame = pd.read_csv(write_shopify(tmp_path / "shop.csv"), dtype=str, keep_default_na=False)
    renamed = frame.rename(
        columns={"Name": "Order", "Email": "Mail", "Lineitem sku": "Code", "Financial Status": "S"}
    )
    path = tmp_path / "renamed.csv"
    renamed.to_csv(path, index=False)
    toml = tmp_path / "shop.toml"
    toml.write_text(
        'preset = "none"\norder_key = "Order"\n'
        'cancelled_when = ["S=refunded,voided", "Cancelled at"]\n'
        "[columns]\n"
        'invoice = "Order"\ncustomer_id = "Mail"\nstock_code = "Code"\n'
        'description = "Lineitem name"\nquantity = "Lineitem quantity"\n'
        'unit_price = "Lineitem price"\ninvoice_date = "Created at"\n',
        encoding="utf-8",
    )
    table = customer_features(path, features="all", mapping=toml, pseudonymize=False).table
    # without the preset's fallback, the gift wrap (no SKU) is not a product of ann
    expected = EXPECTED.assign(n_products=[3, 1, 1])
    pd.testing.assert_frame_equal(table, expected, check_exact=False, rtol=1e-12)
    toml.write_text('presets = "shopify"\n', encoding="utf-8")
    with pytest.raises(SegmintError, match="unknown key 'presets'"):
        customer_features(path, mapping=toml)
    toml.write_text("preset = \n", encoding="utf-8")
    with pytest.raises(SegmintError, match="is not valid TOML"):
        customer_features(path, mapping=toml)


def test_parse_condition_and_layout() -> None:
    assert parse_condition("Cancelled at").values == ()
    assert parse_condition("X=*").values == ()
    assert parse_condition("Name=C*, R*").values == ("C*", "R*")
    layout = resolve_layout(SHOPIFY_HEADER, Request())
    assert layout.preset is not None and layout.preset.name == "shopify"
    assert layout.fallbacks == {"Lineitem sku": ("Lineitem name",)}


# --------------------------------------------------------------- time-zone offsets
def test_offsets_need_no_parsing_for_the_default_features(tmp_path: Path) -> None:
    """Shopify's real dates carry an offset; the default features do not read dates."""
    result = customer_features(write_shopify(tmp_path / "shop.csv", offsets=True))
    assert sorted(result.table["n_canceled_orders"]) == [0, 1, 2]
    assert result.audit.cancellation_invoices == 3


def test_offsets_with_date_features(tmp_path: Path) -> None:
    """Dates with Shopify's ``+0000`` give the date features of the same dates without it."""
    table = _table(write_shopify(tmp_path / "shop.csv", offsets=True))
    pd.testing.assert_frame_equal(table, EXPECTED, check_exact=False, rtol=1e-12)


# --------------------------------------------------------------- pseudonymous ids
def test_tokens_are_keyed_stable_and_one_per_customer() -> None:
    ids = ["ann@example.com", "bob@example.com"]
    first = pseudonymize(ids, b"k1")
    assert first == pseudonymize(ids, b"k1")
    assert first != pseudonymize(ids, b"k2")
    assert all(re.fullmatch(r"c_[0-9a-f]{16}", t) for t in first)
    assert looks_like_email(["17850"], "CustomerID") is False
    assert looks_like_email(["17850", "x@y.org"], "CustomerID") is True
    assert looks_like_email(["17850"], "Email") is True


def test_email_ids_are_pseudonymised_by_default(tmp_path: Path) -> None:
    shop = customer_features(write_shopify(tmp_path / "shop.csv"), features="all")
    uci = customer_features(write_uci(tmp_path / "uci.csv"), features="all")
    assert shop.pseudonymized and uci.pseudonymized
    # the same customers, the same tokens, whatever the layout
    pd.testing.assert_frame_equal(shop.table, uci.table)
    tokens = dict(
        zip(
            EXPECTED["customer_id"], pseudonymize(EXPECTED["customer_id"], b"test-key"), strict=True
        )
    )
    expected = EXPECTED.assign(customer_id=EXPECTED["customer_id"].map(tokens))
    expected = expected.sort_values("customer_id", ignore_index=True)
    pd.testing.assert_frame_equal(shop.table, expected, check_exact=False, rtol=1e-12)
    assert any("pseudonymised" in n and "HMAC-SHA256" in n for n in shop.notes)
    plain = customer_features(write_shopify(tmp_path / "shop.csv"), pseudonymize=False)
    assert "ann@example.com" in set(plain.table["customer_id"])
    assert any("emails included" in n for n in plain.notes)


def test_a_key_file_is_made_once_and_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_KEY)
    path = write_shopify(tmp_path / "shop.csv")
    first = customer_features(path).table["customer_id"].tolist()
    key = tmp_path / "config" / "segmint" / "pseudonymize.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert customer_features(path).table["customer_id"].tolist() == first
    other = customer_features(path, pseudonymize_key="another").table["customer_id"].tolist()
    assert set(other).isdisjoint(first)


def test_uci_ids_are_left_alone(log_csv: Path) -> None:
    result = customer_features(log_csv)
    assert not result.pseudonymized
    assert result.table["customer_id"].tolist() == ["12345", "12346", "12347"]


# --------------------------------------------------------------- the command line
def _shop_log(path: Path, n_rows: int = 4000) -> Path:
    """A synthetic log written as a Shopify export (emails as ids, refunds as statuses)."""
    from segmint.synth import generate

    log, _ = generate(n_rows, seed=3)
    log = log.dropna(subset=["CustomerID"])
    rows = []
    seen: set[str] = set()
    for r in log.itertuples(index=False):
        first = r.InvoiceNo not in seen
        seen.add(r.InvoiceNo)
        email = f"customer{int(float(r.CustomerID))}@shop.example"
        row = dict.fromkeys(SHOPIFY_HEADER, "")
        row.update(
            {
                "Name": f"#{r.InvoiceNo}",
                "Lineitem quantity": abs(r.Quantity),
                "Lineitem name": r.Description,
                "Lineitem price": r.UnitPrice,
                "Lineitem sku": r.StockCode,
            }
        )
        if first:
            row.update(
                {
                    "Email": email,
                    "Financial Status": "refunded" if r.InvoiceNo.startswith("C") else "paid",
                    "Created at": str(r.InvoiceDate),
                    "Currency": "GBP",
                }
            )
        rows.append(row)
    pd.DataFrame(rows, columns=SHOPIFY_HEADER).to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_run_on_a_shopify_export_keeps_emails_out(tmp_path: Path) -> None:
    path = _shop_log(tmp_path / "orders_export.csv")
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(path), "-o", str(out), "--bootstrap", "2"])
    assert result.exit_code == 0, result.output
    assert "read as a Shopify orders export" in result.output
    assert "cancellations counted where" in result.output
    for file in sorted(out.rglob("*")):
        if file.is_file():
            assert b"@shop.example" not in file.read_bytes(), file
    segments = pd.read_csv(out / "segments.csv", dtype={"customer_id": str})
    assert segments["customer_id"].str.fullmatch(r"c_[0-9a-f]{16}").all()
    assert segments["customer_id"].is_unique
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "customer ids are pseudonymised" in report
    assert "cancelled orders: those where" in report
    # the same customers get the same tokens in another command and run
    features = tmp_path / "customers.csv"
    again = runner.invoke(app, ["features", str(path), "-o", str(features), "--quiet"])
    assert again.exit_code == 0, again.output
    table = pd.read_csv(features, dtype={"customer_id": str})
    assert table["customer_id"].tolist() == sorted(segments["customer_id"])
    assert table["n_canceled_orders"].sum() > 0
    scored_csv = tmp_path / "scored.csv"
    scored = runner.invoke(
        app, ["predict", str(path), "-m", str(out / "model.skops"), "-o", str(scored_csv), "-q"]
    )
    assert scored.exit_code == 0, scored.output
    assert b"@shop.example" not in scored_csv.read_bytes()
    assert pd.read_csv(scored_csv)["customer_id"].tolist() == table["customer_id"].tolist()


def test_cli_options(tmp_path: Path) -> None:
    path = write_shopify(tmp_path / "shop.csv")
    out = tmp_path / "customers.csv"
    result = runner.invoke(
        app,
        ["features", str(path), "-o", str(out), "--no-pseudonymize",
         "--cancelled-when", "Financial Status=refunded", "--quiet"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert table["customer_id"].tolist() == [
        "ann@example.com",
        "bob@example.com",
        "cara@example.com",
    ]
    assert table["n_canceled_orders"].tolist() == [0, 1, 0]
    assert result.stdout == ""
    bad = runner.invoke(app, ["features", str(path), "-o", str(out), "--force", "--preset", "x"])
    assert bad.exit_code == 2 and "error: --preset x: unknown" in bad.output


def test_version_and_quiet(tmp_path: Path) -> None:
    from segmint import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"segmint {__version__}"
    quiet = runner.invoke(app, ["synth", "-o", str(tmp_path / "s.csv"), "--rows", "50", "-q"])
    assert quiet.exit_code == 0 and quiet.output == ""


def test_notebook_summary(tmp_path: Path) -> None:
    result = customer_features(write_shopify(tmp_path / "shop.csv"))
    html = result._repr_html_()
    assert "segmint FeatureTable" in html and "customers" in html and "3" in html
    assert "pseudonymised" in html and "@example.com" not in html

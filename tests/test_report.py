"""Tests of segmint.report (summary dict, HTML page, rendered files) and of writing them into
OUTDIR with :func:`segmint.pipeline.write_report`."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from conftest_report import GMM_NAMES, KMEANS_NAMES, WARNINGS, fabricate_run, make_finished_outdir
from segmint.errors import SegmintError
from segmint.pipeline import write_report
from segmint.report import (
    FIGURES,
    SECTIONS,
    read_run,
    render_html,
    render_report,
    summarize,
)
from segmint.report.html import png_size
from segmint.report.style import PAIR_PLOT_MAX_POINTS
from segmint.report.summarize import stability_verdict


class _Page(HTMLParser):
    """Collects the tags of an HTML page with their attributes, and the text of each table."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.tables: dict[str, dict[str, Any]] = {}
        self._table: str | None = None
        self._section: str | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        self.tags.append((tag, attributes))
        if tag == "table":
            self._table = attributes.get("id", f"table-{len(self.tables)}")
            self.tables[self._table] = {"body_rows": 0, "head_rows": 0, "in_body": False}
        elif self._table and tag == "tbody":
            self.tables[self._table]["in_body"] = True
        elif self._table and tag == "tr":
            key = "body_rows" if self.tables[self._table]["in_body"] else "head_rows"
            self.tables[self._table][key] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def ids(self) -> list[str]:
        return [a["id"] for _, a in self.tags if "id" in a]

    def all(self, tag: str) -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == tag]


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fabricated OUTDIR with its report written once."""
    outdir = make_finished_outdir(tmp_path_factory.mktemp("run") / "out", 4372, seed=0)
    write_report(outdir)
    return outdir


@pytest.fixture(scope="module")
def page(finished: Path) -> _Page:
    return _parse((finished / "report.html").read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------- summarize


def test_summary_is_plain_json() -> None:
    segments, profiles, metrics = fabricate_run(600, seed=4)
    summary = summarize(metrics, segments, profiles)
    text = json.dumps(summary, allow_nan=False)
    assert json.loads(text) == summary
    assert "figures" in summary and not any(isinstance(v, bytes) for v in summary.values())


def test_summary_segments_sizes_names_colours_and_stability() -> None:
    segments, profiles, metrics = fabricate_run(900, seed=5)
    summary = summarize(metrics, segments, profiles)
    kmeans = summary["kmeans"]["segments"]
    assert [s["name"] for s in kmeans] == list(KMEANS_NAMES)
    assert [s["size"] for s in kmeans] == segments[
        "kmeans_segment"
    ].value_counts().sort_index().tolist()
    assert [s["verdict"] for s in kmeans] == ["solid", "moderate", "unstable"]
    gmm = summary["gmm"]["segments"]
    assert [s["name"] for s in gmm] == list(GMM_NAMES)
    assert gmm[3]["color"] == kmeans[2]["color"]  # same name, same colour
    assert summary["warnings"] == list(WARNINGS)
    counts = summary["agreement"]["counts"]
    assert sum(map(sum, counts)) == len(segments)
    assert summary["kmeans"]["verdicts"]["unstable"] == ["2: Big-basket buyers"]


@pytest.mark.parametrize(
    ("jaccard", "verdict"),
    [
        (0.5, "unstable"),
        (0.7499, "unstable"),
        (0.75, "moderate"),
        (0.8499, "moderate"),
        (0.85, "solid"),
        (1.0, "solid"),
        (None, "not measured"),
        (float("nan"), "not measured"),
    ],
)
def test_stability_verdict_thresholds(jaccard: float | None, verdict: str) -> None:
    assert stability_verdict(jaccard) == verdict


def test_summary_reads_names_and_sizes_given_as_dicts() -> None:
    segments, profiles, metrics = fabricate_run(500, seed=6)
    metrics["kmeans"]["names"] = {str(i): n for i, n in enumerate(KMEANS_NAMES)}
    metrics["kmeans"]["sizes"] = {str(i): int(v) for i, v in enumerate(metrics["kmeans"]["sizes"])}
    metrics["stability"]["kmeans"]["jaccard"] = {"0": 0.9, "1": 0.9, "2": 0.9}
    summary = summarize(metrics, segments, profiles.drop(columns="name").assign(name=""))
    assert [s["name"] for s in summary["kmeans"]["segments"]] == list(KMEANS_NAMES)
    assert summary["warnings"] == list(WARNINGS)


def test_summary_warns_when_metrics_sizes_disagree_with_segments() -> None:
    segments, profiles, metrics = fabricate_run(500, seed=7)
    metrics["gmm"]["sizes"] = [1, 2, 3, 4]
    summary = summarize(metrics, segments, profiles)
    assert any("Gaussian mixture segment sizes" in w for w in summary["warnings"])


def test_summary_mentions_the_sample_only_for_large_tables() -> None:
    small = summarize(*_reorder(fabricate_run(500, seed=9)))
    large = summarize(*_reorder(fabricate_run(PAIR_PLOT_MAX_POINTS + 1, seed=9)))
    caption = {f["key"]: f["caption"] for f in small["figures"]}["kmeans_pairs"]
    assert "sample" not in caption
    caption = {f["key"]: f["caption"] for f in large["figures"]}["kmeans_pairs"]
    assert f"{PAIR_PLOT_MAX_POINTS:,}" in caption


def _reorder(
    run: tuple[pd.DataFrame, pd.DataFrame, dict],
) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    segments, profiles, metrics = run
    return metrics, segments, profiles


def test_summary_names_a_missing_column() -> None:
    segments, profiles, metrics = fabricate_run(200, seed=10)
    with pytest.raises(SegmintError, match="gmm_segment"):
        summarize(metrics, segments.drop(columns="gmm_segment"), profiles)


# ----------------------------------------------------------------------------- render_html


def test_render_html_escapes_names_and_inlines_only_given_figures() -> None:
    segments, profiles, metrics = fabricate_run(
        300,
        seed=11,
        kmeans_names=("<script>alert(1)</script>", "Tom & Jerry", "C"),
        warnings=("k=10 sits on the edge <of> the range",),
    )
    summary = summarize(metrics, segments, profiles)
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    )
    html = render_html(summary, {"correlation": png})
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Tom &amp; Jerry" in html
    assert "edge &lt;of&gt; the range" in html
    page = _parse(html)
    assert len(page.all("img")) == 1
    assert page.all("img")[0]["width"] == "1"


def test_png_size_rejects_other_bytes() -> None:
    with pytest.raises(ValueError, match="PNG"):
        png_size(b"GIF89a" + b"\0" * 30)


def test_template_is_package_data() -> None:
    template = resources.files("segmint.report").joinpath("templates", "report.html.j2")
    assert template.is_file()


# ----------------------------------------------------------------------------- write_report


def test_write_report_writes_plots_and_report(finished: Path) -> None:
    assert (finished / "report.html").is_file()
    pngs = sorted(p.name for p in (finished / "plots").glob("*.png"))
    assert pngs == sorted(f"{key}.png" for key, _, _ in FIGURES if key != "monthly")
    assert not [p for p in finished.rglob("*") if p.name.endswith(".tmp")]


def test_report_has_every_section_warnings_first(page: _Page) -> None:
    ids = page.ids()
    for section, _ in SECTIONS:
        assert section in ids
    sections = [a["id"] for a in page.all("section")]
    if "read-first" in sections:  # the plain-words warnings, before anything else
        assert sections.pop(0) == "read-first"
    # the business sections first; the technical warnings open the technical part
    business = [s for s, _ in SECTIONS[:3]]
    assert sections[: len(business)] == business
    assert sections[len(business)] == "warnings"
    assert sections[len(business) + 1 :] == [s for s, _ in SECTIONS[3:]]
    assert any(WARNINGS[0] in t for t in page.text)


def test_report_inlines_one_image_per_plot(page: _Page, finished: Path) -> None:
    images = page.all("img")
    drawn = [f for f in FIGURES if f[0] != "monthly"]  # a fabricated run has no months
    assert len(images) == len(drawn) == len(list((finished / "plots").glob("*.png")))
    for image, (key, _, _) in zip(images, drawn, strict=True):
        assert image["src"].startswith("data:image/png;base64,")
        png = base64.b64decode(image["src"].split(",", 1)[1])
        assert png == (finished / "plots" / f"{key}.png").read_bytes()
        assert int(image["width"]) > 0 and image["alt"]


def test_report_fetches_nothing(page: _Page) -> None:
    assert not page.all("script")
    for tag, attributes in page.tags:
        for name in ("src", "href"):
            value = attributes.get(name, "")
            assert not value.startswith(("http:", "https:", "//")), (tag, value)
        if tag == "link":
            assert attributes.get("rel") == "icon" and attributes["href"].startswith("data:")


def test_report_tables_have_one_row_per_segment(page: _Page) -> None:
    assert page.tables["kmeans-profiles"]["body_rows"] == len(KMEANS_NAMES)
    assert page.tables["gmm-profiles"]["body_rows"] == len(GMM_NAMES)
    assert page.tables["kmeans-stability"]["body_rows"] == len(KMEANS_NAMES)
    assert page.tables["gmm-stability"]["body_rows"] == len(GMM_NAMES)
    assert page.tables["kmeans-sweep"]["body_rows"] == 10
    assert page.tables["gmm-grid"]["body_rows"] == 8
    assert page.tables["audit-table"]["body_rows"] == 10
    assert page.tables["feature-summary"]["body_rows"] == 2


def test_report_names_segments_verdicts_and_the_predict_command(page: _Page) -> None:
    text = " ".join(page.text)
    for name in (*KMEANS_NAMES, *GMM_NAMES):
        assert name in text
    assert "unstable" in text and "solid" in text and "moderate" in text
    assert "segmint predict --model OUTDIR/model.skops NEW_LOG.csv -o scored.csv" in text
    assert "scikit-learn" in text and "random_state" in text
    assert "Rows read" in text and "541,909" in text


def test_report_is_responsive(finished: Path) -> None:
    html = (finished / "report.html").read_text(encoding="utf-8")
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "max-width: 100%" in html and "overflow-x: auto" in html
    assert html.count('class="table-wrap"') == html.count("<table")


def test_render_report_returns_the_files_and_writes_nothing(finished: Path, tmp_path: Path) -> None:
    outdir = make_finished_outdir(tmp_path / "out", 4372, seed=0)
    before = sorted(p.relative_to(outdir) for p in outdir.rglob("*"))
    files = render_report(outdir, n_jobs=1)
    assert sorted(p.relative_to(outdir) for p in outdir.rglob("*")) == before
    # the made-up run records no monthly activity: its figure is left out, the others in order
    drawn = [f"plots/{key}.png" for key, _, _ in FIGURES if key != "monthly"]
    assert list(files) == [*drawn, "report.html"]
    for name, data in files.items():
        assert data == (finished / name).read_bytes()  # whatever the number of processes


def test_write_report_is_byte_identical(finished: Path, tmp_path: Path) -> None:
    first = (finished / "report.html").read_bytes()
    plots = {p.name: p.read_bytes() for p in (finished / "plots").glob("*.png")}
    again = make_finished_outdir(tmp_path / "again", 4372, seed=0)
    write_report(again)
    assert (again / "report.html").read_bytes() == first
    assert {p.name: p.read_bytes() for p in (again / "plots").glob("*.png")} == plots


def test_write_report_without_warnings_has_no_warning_box(tmp_path: Path) -> None:
    outdir = make_finished_outdir(tmp_path / "out", 400, seed=12, warnings=())
    page = _parse(write_report(outdir).read_text(encoding="utf-8"))
    assert "warnings" not in page.ids()
    sections = [a["id"] for a in page.all("section")]
    assert [s for s in sections if s != "read-first"] == [s for s, _ in SECTIONS]


def test_write_report_plots_only(tmp_path: Path) -> None:
    outdir = make_finished_outdir(tmp_path / "out", 400, seed=13)
    result = write_report(outdir, plots_only=True)
    assert result == outdir / "plots"
    assert len(list(result.glob("*.png"))) == len(FIGURES) - 1  # no months: no monthly figure
    assert not (outdir / "report.html").exists()
    assert not [p for p in outdir.rglob("*") if p.name.endswith(".tmp")]


def test_write_report_with_more_features(tmp_path: Path) -> None:
    outdir = make_finished_outdir(tmp_path / "out", 700, seed=14, extra_features=True)
    page = _parse(write_report(outdir).read_text(encoding="utf-8"))
    assert page.tables["feature-summary"]["body_rows"] == 4
    assert "Total spend" in " ".join(page.text)


def test_write_report_names_a_missing_file(tmp_path: Path) -> None:
    outdir = make_finished_outdir(tmp_path / "out", 200, seed=15)
    (outdir / "profiles.csv").unlink()
    with pytest.raises(SegmintError, match=r"no profiles\.csv.*segmint run"):
        write_report(outdir)


def test_read_run_reads_only_what_the_report_needs(tmp_path: Path) -> None:
    outdir = make_finished_outdir(tmp_path / "out", 200, seed=16)
    metrics, segments, profiles = read_run(outdir)
    assert list(segments.columns) == [
        "n_products",
        "n_canceled_orders",
        "kmeans_segment",
        "gmm_segment",
        "gmm_probability",
    ]
    assert metrics["kmeans"]["k"] == 3
    assert len(profiles) == len(KMEANS_NAMES) + len(GMM_NAMES)


def test_read_run_names_a_missing_column(tmp_path: Path) -> None:
    outdir = make_finished_outdir(tmp_path / "out", 200, seed=17)
    table = pd.read_csv(outdir / "segments.csv").drop(columns="kmeans_segment")
    table.to_csv(outdir / "segments.csv", index=False)
    with pytest.raises(SegmintError, match="kmeans_segment"):
        read_run(outdir)


# ----------------------------------------------------------------------------- mixture names

#: What the report calls each kind of mixture, and a word it must not use for that kind.
_MIXTURE_WORDS = {
    "count": ("count mixture", "Gaussian"),
    "gaussian": ("Gaussian mixture", "count mixture"),
}
_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@pytest.fixture(scope="module", params=["count", "gaussian"])
def mixture_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """A real small run of each kind of mixture (the default count one, and gaussian): its
    summary, every figure exactly as the report draws it (not encoded), and the page."""
    from matplotlib.figure import Figure

    import segmint.report
    from segmint import synth
    from segmint.pipeline import run

    kind = request.param
    log, _ = synth.generate(15_000, seed=0)
    options: dict[str, Any] = {} if kind == "count" else {"mixture": "gaussian"}
    outdir = tmp_path_factory.mktemp(kind) / "out"
    run(log, outdir, n_bootstrap=0, k_range=(1, 4), report=False, threads=1, **options)
    metrics, segments, profiles = read_run(outdir)
    summary = summarize(metrics, segments, profiles)
    drawn: list[Figure] = []

    def keep(make: Any) -> bytes:
        drawn.append(make())
        return _PNG

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(segmint.report, "_png", keep)
        pngs = segmint.report.render_figures(summary, segments, n_jobs=1)
    return {
        "kind": kind,
        "metrics": metrics,
        "summary": summary,
        "figures": dict(zip(pngs, drawn, strict=True)),
        "html": render_html(summary, pngs),
    }


def _texts(figure: Any) -> list[str]:
    """Every piece of text drawn on a figure: titles, axis and tick labels, legends."""
    from matplotlib.text import Text

    return [t.get_text() for t in figure.findobj(Text) if t.get_visible() and t.get_text()]


def test_mixture_labels_come_from_one_place() -> None:
    from segmint.report._mixture import label_of
    from segmint.report.style import method_label

    assert label_of("count") == "count mixture"
    assert label_of("gaussian") == "Gaussian mixture"
    assert label_of(None) == label_of("other") == "mixture"
    assert method_label("gmm", "count", start=True) == "Count mixture"
    assert method_label("gmm", "gaussian") == "Gaussian mixture"
    assert method_label("kmeans", "count") == "KMeans"


def test_figures_name_the_mixture_that_was_fitted(mixture_run: dict[str, Any]) -> None:
    kind, figures = mixture_run["kind"], mixture_run["figures"]
    assert mixture_run["metrics"]["gmm"]["mixture"] == kind
    words, wrong = _MIXTURE_WORDS[kind]
    texts = {key: _texts(figure) for key, figure in figures.items()}
    assert not [(k, t) for k, ts in texts.items() for t in ts if wrong in t]
    assert f"Customers per {words} segment" in texts["gmm_sizes"]
    assert any(f"Each feature by {words} segment" in t for t in texts["gmm_violins"])
    assert f"{words[0].upper()}{words[1:]} segment" in texts["contingency"]


def test_mixture_selection_figure_draws_the_models_that_were_fitted(
    mixture_run: dict[str, Any],
) -> None:
    kind, figure = mixture_run["kind"], mixture_run["figures"]["gmm_selection"]
    types = {str(r["covariance_type"]) for r in mixture_run["metrics"]["gmm"]["grid"]}
    for ax in figure.axes:  # BIC and AIC: one curve per kind of model in the grid
        assert len(ax.get_lines()) == len(types)
    curves = [line.get_label() for line in figure.axes[0].get_lines()]
    if kind == "count":
        assert types == {"negative binomial"} and curves == ["negative binomial"]
        assert "Shape of components" not in _texts(figure)
    else:
        assert types == {"full", "tied", "diag", "spherical"}
        assert "Shape of components" in _texts(figure)


def test_summary_titles_and_captions_name_the_mixture(mixture_run: dict[str, Any]) -> None:
    kind, summary = mixture_run["kind"], mixture_run["summary"]
    words, wrong = _MIXTURE_WORDS[kind]
    shown = {f["key"]: f"{f['title']}. {f['caption']}" for f in summary["figures"]}
    assert not [text for text in shown.values() if wrong in text]
    assert all(words in shown[key] for key in ("gmm_selection", "gmm_sizes", "gmm_violins"))
    titles = {f["key"]: f["title"] for f in summary["figures"]}
    assert titles["gmm_selection"] == f"Choosing the {words}"
    headings = [s["heading"] for s in summary["sections"]] + [summary["gmm"]["heading"]]
    assert not [h for h in headings if wrong in h]


def test_page_names_the_mixture_that_was_fitted(mixture_run: dict[str, Any]) -> None:
    kind, html = mixture_run["kind"], mixture_run["html"]
    words, wrong = _MIXTURE_WORDS[kind]
    page = _parse(html)
    text = " ".join(page.text) + " ".join(
        a.get(attr, "") for _, a in page.tags for attr in ("alt", "aria-label", "title")
    )
    assert wrong not in html  # not in the text, the captions, the alt texts, anywhere
    assert kind == "gaussian" or "GMM" not in text
    label = words[0].upper() + words[1:]
    for shown in (f"Choosing the {words}", f"{label} segment profiles", f"{label} components"):
        assert shown in text

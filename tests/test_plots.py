"""segmint.report.plots: each plot draws what it promises, legibly and deterministically."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

from conftest_report import GMM_NAMES, KMEANS_NAMES, fabricate_run
from segmint.report import plots


@pytest.fixture(scope="module")
def run() -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    return fabricate_run(1500, seed=3)


@pytest.fixture(scope="module")
def segments(run: tuple[pd.DataFrame, pd.DataFrame, dict]) -> pd.DataFrame:
    return run[0]


@pytest.fixture(scope="module")
def metrics(run: tuple[pd.DataFrame, pd.DataFrame, dict]) -> dict:
    return run[2]


def _texts(fig: Figure) -> list[str]:
    """Every piece of text drawn on a figure: titles, labels, tick labels, legends, notes."""
    fig.canvas.draw()
    return [t.get_text() for t in fig.findobj(matplotlib.text.Text) if t.get_visible()]


def _png_chunks(png: bytes) -> list[bytes]:
    """Chunk types of a PNG file."""
    chunks, pos = [], 8
    while pos < len(png):
        length = int.from_bytes(png[pos : pos + 4], "big")
        chunks.append(png[pos + 4 : pos + 8])
        pos += 12 + length
    return chunks


# ----------------------------------------------------------------------------- colours


def test_segment_colors_one_per_segment_and_shared_by_name() -> None:
    kmeans = dict(enumerate(KMEANS_NAMES))
    gmm = dict(enumerate(GMM_NAMES))
    colors = plots.segment_colors(kmeans, gmm)
    assert len(set(colors["kmeans"].values())) == len(kmeans)
    # same name, same colour: "Big-basket buyers" is KMeans 2 and GMM 3
    assert colors["gmm"][3] == colors["kmeans"][2]
    assert colors["gmm"][0] == colors["kmeans"][0]
    # a component with a new name gets a colour no KMeans segment has
    assert colors["gmm"][2] not in colors["kmeans"].values()
    assert len(set(colors["gmm"].values())) == len(gmm)


def test_segment_colors_never_reuse_one_kmeans_colour_twice() -> None:
    colors = plots.segment_colors({0: "A", 1: "B"}, {0: "A", 1: "A", 2: "B"})
    assert colors["gmm"][0] == colors["kmeans"][0]
    assert colors["gmm"][1] not in colors["kmeans"].values()
    assert len(set(colors["gmm"].values())) == 3


def test_segment_label_and_feature_label() -> None:
    assert plots.segment_label(2, "Big-basket buyers") == "2: Big-basket buyers"
    assert plots.segment_label(4, "") == "Segment 4"
    assert plots.feature_label("n_canceled_orders") == "Cancelled orders"
    assert plots.feature_label("basket_value") == "Basket value"


# ----------------------------------------------------------------------------- axes plots


def test_single_panel_plots_return_axes_and_draw_on_given_axes(
    segments: pd.DataFrame, metrics: dict
) -> None:
    fig = Figure()
    ax = fig.add_subplot()
    assert plots.wcss_curve(metrics["kmeans"]["sweep"], knee=3, k=3, ax=ax) is ax
    for make in (
        lambda ax: plots.silhouette_curve(metrics["kmeans"]["sweep"], k=3, ax=ax),
        lambda ax: plots.criterion_curves(metrics["gmm"]["grid"], chosen=(4, "full"), ax=ax),
        lambda ax: plots.segment_sizes(segments, ax=ax),
        lambda ax: plots.feature_violin(segments, "n_products", ax=ax),
        lambda ax: plots.correlation_heatmap(segments, ax=ax),
        lambda ax: plots.contingency_heatmap(segments, ax=ax),
    ):
        ax = Figure().add_subplot()
        assert make(ax) is ax
    # without ax: a new Axes on its own figure
    new = plots.segment_sizes(segments, method="gmm")
    assert isinstance(new, Axes)
    assert new.figure is not None


def test_segment_sizes_bars_match_counts_and_names(segments: pd.DataFrame) -> None:
    ax = plots.segment_sizes(segments, method="gmm")
    widths = [patch.get_width() for patch in ax.patches]
    assert widths == np.bincount(segments["gmm_segment"]).tolist()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [plots.segment_label(i, n) for i, n in enumerate(GMM_NAMES)]
    colors = plots.segment_colors(dict(enumerate(KMEANS_NAMES)), dict(enumerate(GMM_NAMES)))
    ax = plots.segment_sizes(segments, method="gmm", colors=colors["gmm"])
    faces = [matplotlib.colors.to_hex(p.get_facecolor()) for p in ax.patches]
    assert faces == [c.lower() for c in colors["gmm"].values()]


def test_wcss_curve_marks_knee_and_choice(metrics: dict) -> None:
    ax = plots.wcss_curve(metrics["kmeans"]["sweep"], knee=3, k=4)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["knee (bend) at k=3", "chosen: 4 segments"]
    assert [line.get_xdata()[0] for line in ax.lines[1:]] == [3]  # the knee line
    assert ax.get_xlabel() == "Number of segments (k)"


def test_silhouette_curve_skips_the_undefined_k1(metrics: dict) -> None:
    ax = plots.silhouette_curve(metrics["kmeans"]["sweep"], k=3)
    line = ax.lines[0]
    assert list(line.get_xdata()) == list(range(2, 11))


def test_criterion_curves_one_line_per_covariance_type(metrics: dict) -> None:
    ax = plots.criterion_curves(metrics["gmm"]["grid"], criterion="aic", chosen=(4, "full"))
    assert len(ax.lines) == 4
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0].startswith("full")
    assert legend[-1] == "chosen: 4 components, full"
    assert ax.get_ylabel().startswith("AIC")


def test_correlation_heatmap_annotates_both_methods(segments: pd.DataFrame) -> None:
    features = ["n_products", "n_canceled_orders"]
    expected = segments[features].corr(method="spearman").iloc[0, 1]
    ax = plots.correlation_heatmap(segments, method="spearman", features=features)
    assert f"{expected:.2f}" in [t.get_text() for t in ax.texts]
    fig = plots.correlation_figure(segments, features=features)
    titles = [a.get_title("left") for a in fig.axes]
    assert any(t.startswith("Pearson") for t in titles)
    assert any(t.startswith("Spearman") for t in titles)


def test_correlation_heatmap_constant_feature_is_na_without_warning() -> None:
    data = pd.DataFrame({"n_products": [1, 5, 9, 20], "n_canceled_orders": [0, 0, 0, 0]})
    ax = plots.correlation_heatmap(data)
    assert "n/a" in [t.get_text() for t in ax.texts]


def test_contingency_heatmap_counts(segments: pd.DataFrame) -> None:
    ax = plots.contingency_heatmap(segments)
    table = pd.crosstab(segments["kmeans_segment"], segments["gmm_segment"])
    texts = [t.get_text() for t in ax.texts]
    n_regular_cancel = int(table.loc[1, 2])
    assert any(t.endswith(f"\n{n_regular_cancel:,}") for t in texts)
    assert texts.count("\N{EN DASH}") == int((table.to_numpy() == 0).sum())
    assert ax.get_ylabel() == "KMeans segment"


# ----------------------------------------------------------------------------- figures


def test_violins_one_panel_per_feature_with_segment_names() -> None:
    segments, _, _ = fabricate_run(800, seed=1, extra_features=True)
    features = ["n_products", "n_canceled_orders", "n_orders", "monetary"]
    fig = plots.segment_violins(segments, method="gmm", features=features)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title("left") for ax in visible] == [plots.feature_label(f) for f in features]
    labels = [t.get_text() for t in visible[0].get_yticklabels()]
    assert labels == [plots.segment_label(i, n) for i, n in enumerate(GMM_NAMES)]
    # skewed counts on a log axis labelled in counts
    assert "(log scale)" in visible[0].get_xlabel()
    ticks = [t.get_text() for t in visible[0].get_xticklabels()]
    assert "0" in ticks and "10" in ticks and "100" in ticks


def test_violin_handles_a_segment_with_one_value() -> None:
    data = pd.DataFrame(
        {
            "n_products": [3, 3, 3, 10, 40, 200, 7, 1],
            "n_canceled_orders": [0, 0, 0, 1, 5, 2, 0, 0],
            "kmeans_segment": [0, 0, 0, 1, 1, 1, 2, 2],
        }
    )
    ax = plots.feature_violin(data, "n_products", names={0: "All threes", 1: "B", 2: "C"})
    assert ax.get_yticklabels()[0].get_text() == "0: All threes"


def test_pair_plot_legend_names_and_all_points(segments: pd.DataFrame) -> None:
    fig = plots.pair_plot(segments, features=["n_products", "n_canceled_orders"])
    texts = _texts(fig)
    for i, name in enumerate(KMEANS_NAMES):
        assert any(t.startswith(plots.segment_label(i, name)) for t in texts)
    points = sum(
        len(c.get_offsets())
        for ax in fig.axes
        for c in ax.collections
        if isinstance(c, PathCollection)
    )
    assert points == len(segments)
    assert any("all 1,500 customers" in t for t in texts)


def test_pair_plot_samples_large_tables_seeded_and_stratified() -> None:
    segments, _, _ = fabricate_run(6000, seed=2)
    fig = plots.pair_plot(segments, features=["n_products", "n_canceled_orders"], max_points=1000)
    scatter = [
        c
        for ax in fig.axes
        for c in ax.collections
        if isinstance(c, PathCollection) and len(c.get_offsets())
    ]
    per_segment = sorted(len(c.get_offsets()) for c in scatter)
    assert 900 <= sum(per_segment) <= 1500
    assert per_segment[0] >= 250  # the smallest segment keeps about 300 points
    assert all(c.get_rasterized() for c in scatter)
    assert any("random sample of" in t for t in _texts(fig))
    again = plots.pair_plot(segments, features=["n_products", "n_canceled_orders"], max_points=1000)
    assert plots.figure_to_png(fig) == plots.figure_to_png(again)


def test_pair_plot_one_feature(segments: pd.DataFrame) -> None:
    fig = plots.pair_plot(segments, features=["n_products"])
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 1


def test_selection_figures_have_two_panels(metrics: dict) -> None:
    fig = plots.kmeans_selection_figure(metrics["kmeans"]["sweep"], knee=3, k=3)
    assert len(fig.axes) == 2
    fig = plots.gmm_selection_figure(metrics["gmm"]["grid"], n_components=4, covariance_type="full")
    assert [ax.get_ylabel().split()[0] for ax in fig.axes] == ["BIC", "AIC"]


def test_unknown_feature_is_named() -> None:
    data = pd.DataFrame({"n_products": [1, 2], "kmeans_segment": [0, 1]})
    with pytest.raises(KeyError, match="recency_days"):
        plots.pair_plot(data, features=["recency_days"])


# ----------------------------------------------------------------------------- output


def test_png_is_byte_identical_and_carries_no_software_or_date(
    segments: pd.DataFrame,
) -> None:
    first = plots.figure_to_png(plots.segment_violins(segments))
    second = plots.figure_to_png(plots.segment_violins(segments))
    assert first == second
    assert first.startswith(b"\x89PNG")
    chunks = _png_chunks(first)
    assert b"tEXt" not in chunks and b"tIME" not in chunks and b"iTXt" not in chunks
    assert b"Software" not in first and b"matplotlib" not in first


def test_png_resolution_is_fixed(segments: pd.DataFrame) -> None:
    fig = plots.segment_sizes(segments).get_figure(root=True)
    width_inches = fig.get_size_inches()[0]
    png = plots.figure_to_png(fig)
    assert int.from_bytes(png[16:20], "big") == round(width_inches * plots.DPI)
    half = plots.figure_to_png(fig, dpi=plots.DPI // 2)
    assert int.from_bytes(half[16:20], "big") == round(width_inches * plots.DPI / 2)
    assert fig.dpi == plots.DPI  # restored


def test_plots_leave_global_matplotlib_state_alone(segments: pd.DataFrame) -> None:
    before = dict(matplotlib.rcParams)
    plots.figure_to_png(plots.pair_plot(segments))
    assert dict(matplotlib.rcParams) == before

"""segmint track: planted migrations recovered, transitions that add up, one atomic folder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from segmint._synth_moves import moves_log
from segmint.errors import SegmintError
from segmint.pipeline import run
from segmint.scoring import score
from segmint.track import LAPSED, NEW, track

N, NEW_PER_MONTH = 200, 10  # broad 80 (40 lapse), occasional 120 (30 grow)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("moves")
    log, truth = moves_log(N, months=4, change_month=2, new_per_month=NEW_PER_MONTH, seed=5)
    path = folder / "moves.csv"
    log.to_csv(path, index=False)
    out = folder / "run"
    run(path, out, window="1M", as_of="2011-01-31", k=2, n_bootstrap=0, report=False)
    return path, out / "model.skops", truth


def _check_sides(transitions: pd.DataFrame, scores: pd.DataFrame) -> None:
    """Every customer of a period end appears once on each side of its transitions."""
    sizes = scores.groupby(["period_end", "segment"]).size()
    for (p0, p1), pair in transitions.groupby(["period_from", "period_to"]):
        out = pair[~pair["from_segment"].isin([NEW, LAPSED])].groupby("from_segment")["customers"]
        into = pair[pair["to_segment"] != LAPSED].groupby("to_segment")["customers"]
        assert {int(k): v for k, v in out.sum().items()} == sizes[p0].to_dict()
        assert {int(k): v for k, v in into.sum().items()} == sizes[p1].to_dict()


def test_planted_movements_are_recovered(
    planted: tuple[Path, Path, pd.DataFrame], tmp_path: Path
) -> None:
    path, model, truth = planted
    result = track(model, path, tmp_path / "track", every="month")
    t = result.transitions
    broad = result.scores.groupby("segment")["n_products"].mean().idxmax()
    b, o = str(broad), str(1 - broad)
    change = t[t["period_to"].astype(str) == "2011-03-31"]

    def moved(a: str, z: str, frame: pd.DataFrame = change) -> int:
        return int(
            frame.loc[(frame["from_segment"] == a) & (frame["to_segment"] == z), "customers"].sum()
        )

    n_lapse = int((truth["type"] == "broad_lapses").sum())
    n_grow = int((truth["type"] == "occasional_grows").sum())
    # within 5% (the planted types sit far apart, so KMeans should place every one)
    assert moved(b, LAPSED) == pytest.approx(n_lapse, rel=0.05)
    assert moved(o, b) == pytest.approx(n_grow, rel=0.05)
    # new customers: exactly the planted arrivals, every month
    for _, pair in t.groupby("period_to"):
        assert int(pair.loc[pair["from_segment"] == NEW, "customers"].sum()) == NEW_PER_MONTH
    # before and after the change nobody moves between the two segments or lapses
    quiet = t[t["period_to"].astype(str) != "2011-03-31"]
    assert moved(b, o, quiet) + moved(o, b, quiet) + moved(b, LAPSED, quiet) <= 2
    _check_sides(t, result.scores)
    folder = tmp_path / "track"
    assert sorted(p.name for p in folder.iterdir()) == [
        "timeline.csv",
        "timeline.html",
        "transitions.csv",
    ]
    html = (folder / "timeline.html").read_text()
    assert "http://" not in html and "https://" not in html and "Who moved where" in html
    assert pd.read_csv(folder / "transitions.csv")["customers"].sum() == t["customers"].sum()
    track(model, path, tmp_path / "again", every="month")
    for name in ("transitions.csv", "timeline.csv", "timeline.html"):
        assert (folder / name).read_bytes() == (tmp_path / "again" / name).read_bytes()


def test_predict_marks_new_customers_and_warns_about_the_window(
    planted: tuple[Path, Path, pd.DataFrame],
) -> None:
    path, model, truth = planted
    scored = score(model, path)  # as of the log's last day, over the model's month
    status = scored.table.set_index("customer_id")["customer_status"]
    arrived_later = set(truth.loc[truth["first_month"] >= 1, "customer_id"])
    assert set(status[status == "new"].index) == arrived_later
    assert (status[~status.index.isin(arrived_later)] == "known").all()
    other = score(model, path, window="3M")
    assert any("trained on features over 1 month" in w for w in other.warnings)


def test_a_model_without_a_window_needs_one(
    tmp_path: Path, planted: tuple[Path, Path, pd.DataFrame]
) -> None:
    path, _, _ = planted
    run(path, tmp_path / "whole", k=2, n_bootstrap=0, report=False)
    with pytest.raises(SegmintError, match="--window"):
        track(tmp_path / "whole" / "model.skops", path, tmp_path / "t")
    with pytest.raises(SegmintError, match="--every"):
        track(tmp_path / "whole" / "model.skops", path, tmp_path / "t", every="week")


def test_real_months_add_up(real_log: Path, tmp_path: Path) -> None:
    run(real_log, tmp_path / "run", window="1M", k=4, n_bootstrap=0, report=False)
    result = track(tmp_path / "run" / "model.skops", real_log, None, every="month")
    t = result.transitions
    assert sorted(t["period_to"].astype(str).unique()) == ["2011-01-31", "2011-02-28"]
    _check_sides(t, result.scores)
    # each customer of the later end arrives from exactly one state; those of the earlier
    # end leave to exactly one
    pairs = t.groupby("period_to")["customers"].sum()
    ends = result.scores.groupby("period_end").size()
    for p1, total in pairs.items():
        pair = t[t["period_to"] == p1]
        p0 = pair["period_from"].iloc[0]
        lapsed = int(pair.loc[pair["to_segment"] == LAPSED, "customers"].sum())
        arrived = int(pair.loc[pair["from_segment"].isin([NEW, LAPSED]), "customers"].sum())
        assert total == ends[p1] + lapsed == ends[p0] + arrived

"""Baseline notebook workflow vs ``segmint run``, alternately on the same input.

Each input is run N times by each side in turn (baseline, segmint, baseline, ...), every
process under ``/usr/bin/time -v``; the medians of wall time and peak RSS and their ratios
(segmint over baseline) are printed, and segmint's customer table is checked against the
baseline's (``n_products`` and ``n_canceled_orders`` of every customer).

    python bench/harness.py                       # both default inputs, 5 runs each
    python bench/harness.py --runs 7 LOG.csv      # one input
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pandas as pd
from _timing import PYTHON, ROOT, SEGMINT, WORK, Run, load_average, median, synth, timed

REAL = ROOT.parent / "shared" / "data" / "online_retail_2010-12_to_2011-02.csv"
SYNTH_ROWS = 541_909  # as many as the full UCI Online Retail file


def same_table(baseline: Path, segments: Path) -> str:
    """``"equal"``, or what differs between the two customer tables."""
    base = pd.read_csv(baseline, dtype={"CustomerID": str})
    base["customer_id"] = base["CustomerID"].str.replace(r"\.0+$", "", regex=True)
    ours = pd.read_csv(segments, dtype={"customer_id": str})
    cols = ["customer_id", "n_products", "n_canceled_orders"]
    left = base[cols].sort_values("customer_id").reset_index(drop=True)
    right = ours[cols].sort_values("customer_id").reset_index(drop=True)
    if len(left) != len(right):
        return f"DIFFERENT: {len(left)} customers in the baseline, {len(right)} in segmint"
    diff = (left != right).any(axis=1)
    if diff.any():
        return f"DIFFERENT: {int(diff.sum())} customers differ, e.g. {left[diff].iloc[0].to_dict()}"
    return f"equal ({len(left):,} customers)"


def compare(log: Path, runs: int, out: Path) -> dict[str, object]:
    """Alternate baseline and segmint ``runs`` times on ``log``; medians and the check."""
    base_dir, seg_dir = out / "baseline", out / "segmint"
    base_runs: list[Run] = []
    seg_runs: list[Run] = []
    for i in range(runs):
        shutil.rmtree(base_dir, ignore_errors=True)
        base_runs.append(
            timed([PYTHON, str(ROOT / "bench" / "baseline_seed.py"), str(log), str(base_dir)])
        )
        seg_runs.append(timed([SEGMINT, "run", str(log), "-o", str(seg_dir), "--force", "-q"]))
        print(
            f"  run {i + 1}: baseline {base_runs[-1].wall:6.1f} s  segmint "
            f"{seg_runs[-1].wall:6.1f} s  (load {load_average()})",
            flush=True,
        )
    b, s = median(base_runs), median(seg_runs)
    return {
        "input": str(log),
        "runs": runs,
        "baseline": vars(b),
        "segmint": vars(s),
        "wall_ratio": s.wall / b.wall,
        "rss_ratio": s.rss_mib / b.rss_mib,
        "table": same_table(base_dir / "customers.csv", seg_dir / "segments.csv"),
        "walls": {"baseline": [r.wall for r in base_runs], "segmint": [r.wall for r in seg_runs]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="*", type=Path, help="logs (default: the two below)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=WORK / "harness")
    args = parser.parse_args()
    inputs = args.inputs or [REAL, synth(WORK / f"synth_{SYNTH_ROWS}.csv", SYNTH_ROWS)]
    results = []
    for log in inputs:
        print(f"{log.name}: {args.runs} runs each, alternating", flush=True)
        result = compare(log, args.runs, args.out / log.stem)
        results.append(result)
        b, s = result["baseline"], result["segmint"]
        assert isinstance(b, dict) and isinstance(s, dict)
        print(
            f"  median wall: baseline {b['wall']:.2f} s, segmint {s['wall']:.2f} s, "
            f"ratio {result['wall_ratio']:.2f}"
        )
        print(
            f"  median peak RSS: baseline {b['rss_mib']:.0f} MiB, segmint "
            f"{s['rss_mib']:.0f} MiB, ratio {result['rss_ratio']:.2f}"
        )
        print(f"  customer table: {result['table']}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

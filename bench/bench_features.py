"""``segmint features`` on 5M, 10M and 50M-row synthetic logs, Parquet and CSV.

Each log is made once by ``segmint synth`` (seed 0, one customer per 50 rows, so 1M
customers at 50M rows) under ``$SEGMINT_BENCH_DIR`` (default ``/tmp/segmint-bench``, never
the repository). Every run is a fresh process under ``/usr/bin/time -v``; the table gives
medians of wall time, CPU time and peak RSS, and the growth (seconds per million rows).
``--plain`` adds the reference: the same two features in one plain DuckDB query (``SELECT
DISTINCT *`` then ``COUNT(DISTINCT ...)`` per customer) under a 2 GiB memory limit.
``segmint --help`` is timed too, and ``--run`` times ``segmint run`` (the whole pipeline with
the report) on the largest Parquet log instead of ``segmint features``.

    python bench/bench_features.py                          # 5 runs of each
    python bench/bench_features.py --sizes 50 --formats parquet --runs 7 --plain
    python bench/bench_features.py --sizes 50 --formats parquet --run   # end to end
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from _timing import PYTHON, SEGMINT, WORK, Run, load_average, median, synth, timed

PLAIN = """
SET memory_limit = '2GiB';
SET preserve_insertion_order = false;
SET temp_directory = '{spill}';
COPY (
  SELECT NULLIF(REGEXP_REPLACE(TRIM(CustomerID), '[.]0+$', ''), '') AS customer_id,
    COUNT(DISTINCT StockCode) FILTER (WHERE NOT InvoiceNo LIKE 'C%') AS n_products,
    COUNT(DISTINCT InvoiceNo) FILTER (WHERE InvoiceNo LIKE 'C%') AS n_canceled_orders
  FROM (SELECT DISTINCT * FROM {source})
  WHERE CustomerID IS NOT NULL
  GROUP BY 1 ORDER BY 1
) TO '{out}' (HEADER);
"""


def plain(log: str, out: str) -> None:
    """The reference query (run in its own process by ``--plain-one``)."""
    import duckdb

    source = (
        f"read_parquet('{log}')"
        if log.endswith(".parquet")
        else f"read_csv('{log}', header = true, all_varchar = true)"
    )
    spill = WORK / "spill-plain"
    spill.mkdir(parents=True, exist_ok=True)
    duckdb.connect().execute(PLAIN.format(source=source, out=out, spill=spill))


def help_time(runs: int) -> float:
    """Median wall time of ``segmint --help``."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        timed([SEGMINT, "--help"])
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 10, 50], help="M rows")
    parser.add_argument("--formats", nargs="+", default=["parquet", "csv"])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--plain", action="store_true", help="also the plain DuckDB query")
    parser.add_argument("--plain-runs", type=int, default=3)
    parser.add_argument("--run", action="store_true", help="segmint run, end to end")
    parser.add_argument("--plain-one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain_one:
        plain(*args.plain_one)
        return
    print(f"segmint --help: median {help_time(max(args.runs, 5)):.3f} s", flush=True)
    rows_out = []
    for size in args.sizes:
        rows = size * 1_000_000
        for fmt in args.formats:
            log = synth(WORK / f"s{size}m.{fmt}", rows, customers=rows // 50)
            out = WORK / "features-out.csv"
            runs: list[Run] = []
            cmd = [SEGMINT, "features", str(log), "-o", str(out), "-q"]
            if args.run:
                cmd = [SEGMINT, "run", str(log), "-o", str(WORK / "run-out"), "--force", "-q"]
            for _ in range(args.runs):
                runs.append(timed(cmd))
                print(
                    f"  {log.name}: {runs[-1].wall:6.1f} s  {runs[-1].rss_mib:6.0f} MiB  "
                    f"(load {load_average()})",
                    flush=True,
                )
            m = median(runs)
            row = {
                "rows": rows,
                "format": fmt,
                "tool": "segmint run" if args.run else "segmint features",
                **vars(m),
                "walls": [r.wall for r in runs],
            }
            rows_out.append(row)
            if args.plain and size == max(args.sizes):
                ref: list[Run] = []
                for _ in range(args.plain_runs):
                    ref.append(
                        timed(
                            [PYTHON, __file__, "--plain-one", str(log), str(WORK / "plain-out.csv")]
                        )
                    )
                    print(
                        f"  plain {log.name}: {ref[-1].wall:6.1f} s  {ref[-1].rss_mib:6.0f} MiB",
                        flush=True,
                    )
                rows_out.append(
                    {
                        "rows": rows,
                        "format": fmt,
                        "tool": "plain DuckDB, 2 GiB",
                        **vars(median(ref)),
                        "walls": [r.wall for r in ref],
                    }
                )
    print(
        f"\n{'rows':>11} {'format':8} {'tool':22} {'wall s':>7} {'cpu s':>7} {'s/M rows':>8} "
        f"{'peak MiB':>8}"
    )
    for r in rows_out:
        print(
            f"{r['rows']:>11,} {r['format']:8} {r['tool']:22} {r['wall']:7.1f} {r['cpu']:7.1f} "
            f"{r['wall'] / (r['rows'] / 1e6):8.2f} {r['rss_mib']:8.0f}"
        )
    name = "bench_run.json" if args.run else "bench_features.json"
    (WORK / name).write_text(json.dumps(rows_out, indent=2) + "\n")
    print(f"(medians of {args.runs} runs; details in {WORK / name})", file=sys.stderr)


if __name__ == "__main__":
    main()

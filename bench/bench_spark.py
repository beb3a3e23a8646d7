"""Benchmark: a synthetic log through ``segmint features --engine spark`` beside DuckDB.

Generates the synthetic log once (``segmint synth``, reused when present), then runs
``segmint features LOG --features all`` once per engine, each in its own process under
``/usr/bin/time -v``, with the same number of cores (``local[N]`` for Spark, ``--threads N``
for DuckDB). It prints wall time and peak memory per engine and checks that the two customer
tables are identical.

Peak memory is reported twice: ``/usr/bin/time -v``'s maximum resident set size (the largest
single process it waited for, which for Spark may miss the JVM that PySpark starts), and the
peak of the summed RSS of the whole process tree, sampled every 0.2 s from ``/proc`` (Linux),
which includes the JVM.

    python bench/bench_spark.py --rows 50000000              # the issue's size
    python bench/bench_spark.py --rows 5000000 --cores 2 --workdir /tmp/segmint-bench

``--engines spark spark-cluster`` compares local mode (``local[N]``) with a standalone cluster
of separate processes on this machine: a master and ``--workers`` workers of one core each,
started from the installed pyspark exactly as ``tests/test_spark_cluster.py`` starts them
(``tests/conftest_spark.py``), or an existing cluster given with ``--spark-master``::

    python bench/bench_spark.py --rows 1000000 --engines spark spark-cluster
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (Linux ``/proc``)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreeSampler(threading.Thread):
    """Sample the summed RSS of a process tree until stopped; keep the peak (KiB)."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak = pid, interval, 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            tree = [self.pid, *_children(self.pid)]
            self.peak = max(self.peak, sum(_rss_kib(p) for p in tree))
            self.done.wait(self.interval)


def timed(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``cmd`` under ``/usr/bin/time -v``; return wall time and memory figures.

    On a cluster the figures are the driver's side: the executors are the workers' children.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(
        ["/usr/bin/time", "-v", *cmd],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    sampler = TreeSampler(proc.pid)
    sampler.start()
    _, err = proc.communicate()
    sampler.done.set()
    sampler.join()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(err[-4000:])
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}")
    maxrss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
    elapsed = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", err)
    return {
        "wall_s": round(wall, 1),
        "time_v_elapsed": elapsed.group(1) if elapsed else None,
        "time_v_max_rss_mib": round(int(maxrss.group(1)) / 1024) if maxrss else None,
        "tree_peak_rss_mib": round(sampler.peak / 1024),
    }


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run both engines, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000_000, help="rows of synthetic log")
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/segmint-bench"))
    parser.add_argument("--cores", type=int, default=2, help="local[N] and DuckDB threads")
    parser.add_argument("--memory-limit", default=None, help="both engines, e.g. 8GB")
    parser.add_argument(
        "--engines", nargs="+", default=["duckdb", "spark"], help="duckdb, spark, spark-cluster"
    )
    parser.add_argument("--spark-master", default=None, help="spark-cluster: an existing master")
    parser.add_argument("--workers", type=int, default=2, help="spark-cluster: workers to start")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    with contextlib.ExitStack() as stack:
        cluster = None
        if "spark-cluster" in args.engines and args.spark_master is None:
            cluster = stack.enter_context(_cluster(args.workdir / "cluster", args.workers))
        return _measure(args, cluster)


@contextlib.contextmanager
def _cluster(root: Path, workers: int) -> Iterator[Any]:
    """A standalone cluster started as the tests start it (tests/conftest_spark.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from conftest_spark import standalone_cluster

    shutil.rmtree(root, ignore_errors=True)
    with standalone_cluster(root, workers=workers, fast_jvm=False) as cluster:
        yield cluster


def _measure(args: argparse.Namespace, cluster: Any) -> int:
    segmint = [sys.executable, "-m", "segmint.cli"]
    args.workdir.mkdir(parents=True, exist_ok=True)
    log = args.workdir / f"synth_{args.rows}_seed{args.seed}.{args.format}"
    results: dict[str, Any] = {
        "rows": args.rows,
        "format": args.format,
        "cores": args.cores,
        "machine_cores": os.cpu_count(),
        "load_average_before": os.getloadavg(),
    }
    if not log.exists():
        print(f"generating {log} ...", flush=True)
        results["synth"] = timed(
            [*segmint, "synth", "-o", str(log), "--rows", str(args.rows), "--seed", str(args.seed)]
        )
    results["log_bytes"] = log.stat().st_size
    outputs = {}
    for engine in args.engines:
        out = args.workdir / f"customers_{engine}_{args.rows}.parquet"
        cmd = [
            *segmint,
            "features",
            str(log),
            "-o",
            str(out),
            "--features",
            "all",
            "-q",
            "--engine",
            engine.split("-")[0],
        ]
        env = None
        if engine == "spark":
            cmd += ["--spark-master", f"local[{args.cores}]"]
        elif engine == "spark-cluster":
            master = args.spark_master or cluster.master_url
            cmd += ["--spark-master", master]
            env = cluster.env if cluster is not None else None
        else:
            cmd += ["--threads", str(args.cores)]
        if args.memory_limit:
            cmd += ["--memory-limit", args.memory_limit]
        print(f"{engine}: {' '.join(cmd[2:])}", flush=True)
        results[engine] = timed(cmd, env)
        print(f"  {results[engine]}", flush=True)
        outputs[engine] = out
    if len(outputs) >= 2:
        import pandas as pd

        tables = [pd.read_parquet(p) for p in outputs.values()]
        for other in tables[1:]:
            pd.testing.assert_frame_equal(tables[0], other, check_exact=True)
        results["customers"] = len(tables[0])
        results["tables_identical"] = True
    (args.workdir / f"results_{args.rows}.json").write_text(json.dumps(results, indent=2))
    print()
    print("| engine | wall (s) | max RSS, time -v (MiB) | peak tree RSS (MiB) |")
    print("| --- | ---: | ---: | ---: |")
    for engine in args.engines:
        r = results[engine]
        print(
            f"| {engine} | {r['wall_s']} | {r['time_v_max_rss_mib']} | {r['tree_peak_rss_mib']} |"
        )
    if "customers" in results:
        print(
            f"\n{results['customers']:,} customers; tables identical: {results['tables_identical']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Shared helpers of the benchmarks: run a command under ``/usr/bin/time -v``, take medians."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SEGMINT = str(BIN / "segmint")
PYTHON = sys.executable
WORK = Path(os.environ.get("SEGMINT_BENCH_DIR", "/tmp/segmint-bench"))


@dataclass
class Run:
    """One measured process: wall seconds, CPU seconds (user + system), peak RSS in MiB."""

    wall: float
    cpu: float
    rss_mib: float


def timed(cmd: list[str], *, quiet: bool = True) -> Run:
    """Run ``cmd`` under ``/usr/bin/time -v``; fail loudly when it fails."""
    proc = subprocess.run(
        ["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    if not quiet:
        print(proc.stdout, end="")
    text = proc.stderr

    def field(pattern: str) -> str:
        match = re.search(pattern, text)
        if not match:
            raise RuntimeError(f"no {pattern!r} in the output of /usr/bin/time -v")
        return match.group(1)

    clock = [float(p) for p in field(r"Elapsed \(wall clock\) time.*?: ([\d:.]+)").split(":")]
    wall = sum(part * 60**i for i, part in enumerate(reversed(clock)))
    cpu = float(field(r"User time \(seconds\): ([\d.]+)")) + float(
        field(r"System time \(seconds\): ([\d.]+)")
    )
    rss = int(field(r"Maximum resident set size \(kbytes\): (\d+)")) / 1024
    return Run(wall, cpu, rss)


def median(runs: list[Run]) -> Run:
    """Medians of each measure (taken separately)."""
    return Run(
        statistics.median(r.wall for r in runs),
        statistics.median(r.cpu for r in runs),
        statistics.median(r.rss_mib for r in runs),
    )


def synth(path: Path, rows: int, customers: int | None = None) -> Path:
    """A synthetic log made by ``segmint synth`` (seed 0), unless it already exists."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        cmd = [SEGMINT, "synth", "-o", str(path), "--rows", str(rows)]
        if customers:
            cmd += ["--customers", str(customers)]
        print(f"generating {path} ({rows:,} rows)", flush=True)
        subprocess.run(cmd, check=True)
    return path


def load_average() -> str:
    """The 1-minute load average, to note beside a result (the machine is shared)."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:  # pragma: no cover
        return "?"

"""Shared plumbing of the bench/ scripts that drive the app: what every results JSON records (exact command,
UTC date, machine, load average before and after), median / p90, atomic JSON writes, markdown tables, and a
process's memory read from /proc (psutil is not a dependency).

Pure standard library + numpy; importing it puts the repository root and tests/ on sys.path, so the benches
can reuse tests/appserver.py (the app in a subprocess on a free port) and tests/browser.py (Chromium).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
import threading
import time
from importlib import metadata
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench" / "results"
for _path in (REPO, REPO / "tests"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from fashiondemo.digests import atomic_write_text  # noqa: E402

MIB = 1 << 20


# ---- the record ------------------------------------------------------------------------------------------
def command_line(script: str, argv: list[str] | None) -> str:
    """The command that reproduces a run, e.g. "python bench/bench_app.py --runs 5"."""
    args = sys.argv[1:] if argv is None else argv
    return " ".join(["python", f"bench/{Path(script).name}", *args])


def load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine() -> dict:
    """CPU, cores, memory, OS and the versions that matter, without importing torch or gradio."""
    total_mb = None
    try:
        with open("/proc/meminfo") as f:
            total_mb = round(int(f.readline().split()[1]) / 1024)
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_total_mb": total_mb,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {p: _version(p) for p in ("torch", "gradio", "gradio_client", "numpy", "playwright")},
    }


def start_record(bench: str, script: str, argv: list[str] | None) -> dict:
    """The fields every results JSON starts with; `finish_record` adds the load average after the run."""
    return {
        "bench": bench,
        "command": command_line(script, argv),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "load_average_before_1_5_15min": load_average(),
    }


def finish_record(record: dict, path: Path) -> None:
    """Stamp the load average after the run and write the JSON atomically (never half a file)."""
    record["load_average_after_1_5_15min"] = load_average()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(record, indent=1) + "\n")


# ---- statistics and tables -------------------------------------------------------------------------------
def median(values) -> float:
    return float(np.median(np.asarray(values, dtype=np.float64)))


def p90(values) -> float:
    """90th percentile, numpy's linear interpolation (as bench_sam.py)."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), 90))


def markdown_table(header: list[str], rows: list[list], align: str | None = None) -> str:
    """A GitHub markdown table; `align` is one character per column: l, r or c (default: first l, rest r)."""
    align = align or "l" + "r" * (len(header) - 1)
    rule = {"l": ":---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule[a] for a in align) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    return "met" if ok else "**MISSED**"


# ---- memory of another process (/proc) -------------------------------------------------------------------
def proc_memory_mb(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak resident so far) of process `pid`, in MiB; {} once it has exited."""
    values = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    values[key] = int(rest.split()[0]) / 1024  # the kernel reports kB
    except (OSError, ValueError, IndexError):
        return {}
    return values


class RssSampler:
    """Samples a process's VmRSS every `interval` seconds on a thread, to see growth over a run (VmHWM alone
    gives only the peak). Use as a context manager; `samples` holds (seconds since start, MiB)."""

    def __init__(self, pid: int, interval: float = 0.25):
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-{pid}", daemon=True)
        self._start = time.perf_counter()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def elapsed(self) -> float:
        """Seconds since the sampler was made (the time axis of `samples`)."""
        return time.perf_counter() - self._start

    def sample(self) -> float | None:
        rss = proc_memory_mb(self.pid).get("VmRSS")
        if rss is not None:
            self.samples.append((time.perf_counter() - self._start, rss))
        return rss

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    @property
    def peak_mb(self) -> float:
        return max((mb for _, mb in self.samples), default=float("nan"))

    @property
    def last_mb(self) -> float:
        return self.samples[-1][1] if self.samples else float("nan")

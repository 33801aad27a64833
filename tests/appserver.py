"""Start `python app.py ...` in a subprocess on a free port for client and browser tests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class AppProcess:
    url: str
    process: subprocess.Popen
    log: Path
    start_seconds: float  # launch to first 200

    def output(self) -> str:
        return self.log.read_text()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(
    url: str,
    process: subprocess.Popen,
    timeout: float,
    log: Path | None = None,
    poll_s: float = 0.2,
    started: float | None = None,
) -> float:
    """Seconds from `started` (default: now) until `url` answers 200, polled every `poll_s`; raises with the
    server's output if it dies or never answers."""
    start = time.perf_counter() if started is None else started
    while time.perf_counter() - start < timeout:
        if process.poll() is not None:
            output = log.read_text() if log else ""
            raise RuntimeError(f"app exited with {process.returncode}:\n{output[-5000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=5) as response:
            if response.status == 200:
                return time.perf_counter() - start
        time.sleep(poll_s)
    raise TimeoutError(f"app did not serve {url} within {timeout} s")


@contextlib.contextmanager
def running_app(
    *args: str, env: dict | None = None, timeout: float = 120, poll_s: float = 0.2
) -> Iterator[AppProcess]:
    """A fresh app process started with `args` on a free port (its output in a log file); stopped after.
    `.start_seconds` counts from just before the process is launched to its first 200."""
    port = free_port()
    full_env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}
    log = Path(tempfile.mkstemp(prefix="fashiondemo-app-", suffix=".log")[1])
    started = time.perf_counter()
    with open(log, "w") as sink:
        process = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port), *args],
            cwd=REPO,
            env=full_env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        seconds = wait_until_serving(url, process, timeout, log, poll_s=poll_s, started=started)
        yield AppProcess(url, process, log, seconds)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.unlink(missing_ok=True)

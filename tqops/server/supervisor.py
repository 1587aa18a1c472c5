"""``tqops serve --workers N``: the host starts N ``tqops worker`` processes beside itself and
watches them: one that exits is started again (after a pause that grows while it keeps
failing), and when the host stops they stop too. Each worker reads the same store and data
directory as the host; a PostgreSQL URL reaches it in its environment, never on its command
line (where ``ps`` would show a password). A pipe on each worker's standard input ends with
the host, however the host ends (``kill -9`` included), and the worker stops with it, giving
its unanswered inputs back to the queue.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Optional

__all__ = ["DATABASE_VARIABLE", "WorkerProcesses"]

log = logging.getLogger("tqops.server.supervisor")

#: the environment variable that names the store's PostgreSQL database
DATABASE_VARIABLE = "TQOPS_DATABASE_URL"
#: seconds between two starts of a worker that keeps exiting, at most
MAX_PAUSE = 30.0


class WorkerProcesses:
    """``count`` worker processes of ``concurrency`` vendor calls each, kept running."""

    def __init__(self, data: Path, database: Optional[str], count: int, concurrency: int) -> None:
        self.data = data
        self.database = database
        self.count = count
        self.concurrency = concurrency
        self._processes: list[Optional[subprocess.Popen[bytes]]] = [None] * count
        self._stopping = threading.Event()
        self._watcher: Optional[threading.Thread] = None

    def __enter__(self) -> WorkerProcesses:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "tqops.cli",
            "worker",
            "--data",
            str(self.data),
            "--concurrency",
            str(self.concurrency),
            "--until-stdin-closes",
        ]

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env.pop(DATABASE_VARIABLE, None)
        if self.database:
            env[DATABASE_VARIABLE] = self.database
        # its greeting is for whoever starts a worker by hand; the host's own output stays its own
        return subprocess.Popen(
            self._command(), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env
        )

    def start(self) -> None:
        for index in range(self.count):
            self._processes[index] = self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="tqops-workers", daemon=True)
        self._watcher.start()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._processes if p is not None]

    def _watch(self) -> None:
        pauses = [1.0] * self.count
        while not self._stopping.wait(0.5):
            for index, process in enumerate(self._processes):
                if process is None or process.poll() is None:
                    continue
                log.warning(
                    "worker %s ended (exit code %s); starting another in %.0f s",
                    process.pid,
                    process.returncode,
                    pauses[index],
                )
                if self._stopping.wait(pauses[index]):
                    return
                pauses[index] = min(MAX_PAUSE, pauses[index] * 2)
                self._processes[index] = self._spawn()

    def stop(self, timeout: float = 30.0) -> None:
        """Each worker stops sending, gives back what it did not answer and exits; one that
        does not within ``timeout`` is killed (its leases run out for the next start)."""
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join()
        running = [p for p in self._processes if p is not None]
        for process in running:
            with contextlib.suppress(OSError):
                if process.stdin is not None:
                    process.stdin.close()
        for process in running:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

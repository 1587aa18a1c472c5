"""Benchmarks of the operation host, printed as ratios against targets (no timed assertions).

- a 1,000-indicator job through the REST API against the simulator at 200 ms and concurrency
  16, wall / the same run through `tqops run` (target <= 1.1);
- the host's peak RSS holding 100,000 stored results, reading them back (target <= 200 MB);
- with a job running, the p95 of `GET /api/v1/jobs/{id}` (target <= 50 ms);
- a 1,000-indicator job run by 1, 2 and 4 worker processes at concurrency 8 each: wall / the
  ideal (inputs / (workers x 8) x 200 ms; target <= 1.15 each) and the speed-up over one;
- on PostgreSQL (when Debian's server programs are installed), the same job with two hosts and
  four workers, and the p95 of `GET /api/v1/jobs/{id}` on the replica that did not take it.

Each part starts `tqops serve` in its own process on loopback, with a fresh data directory,
and submits its job once the host's workers have registered (a host is measured running, not
starting).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.run import ROOT, TOKEN, Simulator

COUNT, LATENCY, CONCURRENCY = 1000, 0.2, 16


def tqops(*args: str, **kw: Any) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tqops.cli", *args], capture_output=True, text=True, cwd=ROOT, **kw
    )


class Host:
    """`tqops serve` on a free loopback port with an admin and its key."""

    def __init__(
        self,
        data: Path,
        args: tuple[str, ...] = (),
        env: Optional[dict[str, str]] = None,
        key: Optional[str] = None,
    ) -> None:
        self.env = {**os.environ, **(env or {})}
        if key is None:
            made = tqops("users", "add", "bench", "--role", "admin", "--data", str(data),
                         "--format", "json", check=True, env=self.env)  # fmt: skip
            key = json.loads(made.stdout)["api_key"]
        self.key = key
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/api/v1"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tqops.cli", "serve", "--data", str(data), "--port",
             str(self.port), *args],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=self.env,
        )  # fmt: skip
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.headers["Authorization"] = f"Bearer {self.key}"
        for _ in range(300):
            try:
                self.http.get(f"{self.url}/me", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(x for x in status.splitlines() if x.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def wait_for_workers(store: str, count: int, timeout: float = 120.0) -> None:
    """Until ``count`` workers have registered in the store (a SQLite file or a PostgreSQL
    URL): a job's wall time is measured on a running deployment, not on its workers' start."""
    from tqops.server.store import Store

    opened = Store(store)
    deadline = time.monotonic() + timeout
    try:
        while len(opened.workers()) < count:
            if time.monotonic() > deadline:
                raise SystemExit(f"{count} workers did not start within {timeout:g} s")
            time.sleep(0.2)
    finally:
        opened.close()


def values(count: int) -> list[str]:
    return [f"bench{i}.example" for i in range(count)]


def bench_job_vs_cli() -> None:
    print(f"\n## A {COUNT}-indicator job at {LATENCY * 1000:.0f} ms, concurrency {CONCURRENCY}")
    with Simulator(LATENCY) as sim, tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "inputs.csv"
        csv_path.write_text("type,value\n" + "".join(f"FQDN,{v}\n" for v in values(COUNT)))
        env = {**os.environ, "BENCH_TIE_TOKEN": TOKEN}
        started = time.monotonic()
        done = tqops("run", "dcso_tie", "search", "--input", str(csv_path), "--concurrency",
                     str(CONCURRENCY), "--format", "jsonl", "--config", f"hostname={sim.hostname}",
                     "--config", "access_token=env:BENCH_TIE_TOKEN", "--config",
                     f"ca_bundle={sim.ca}", env=env)  # fmt: skip
        cli_wall = time.monotonic() - started
        assert done.returncode == 0, done.stderr[-500:]
        host = Host(Path(tmp) / "data")
        try:
            host.http.put(f"{host.url}/operations/dcso_tie/config", json={"values": {
                "hostname": sim.hostname, "access_token": TOKEN, "ca_bundle": sim.ca}},
            ).raise_for_status()  # fmt: skip
            host.http.put(f"{host.url}/operations/dcso_tie/settings", json={"cache_ttl": 0})
            wait_for_workers(str(Path(tmp) / "data" / "tqops.db"), 1)
            body = {"operation": "dcso_tie", "action": "search",
                    "inputs": [{"type": "FQDN", "value": v} for v in values(COUNT)]}  # fmt: skip
            started = time.monotonic()
            job = host.http.post(f"{host.url}/jobs", json=body).json()
            latencies = []
            while True:
                before = time.perf_counter()
                view = host.http.get(f"{host.url}/jobs/{job['id']}").json()
                latencies.append(time.perf_counter() - before)
                if view["status"] not in ("queued", "running"):
                    break
                time.sleep(0.05)
            host_wall = time.monotonic() - started
            assert view["done"] == COUNT, view
        finally:
            host.close()
    ratio = host_wall / cli_wall
    print(f"host job {host_wall:.2f} s, tqops run {cli_wall:.2f} s: {ratio:.3f} x (target <= 1.1)")
    latencies.sort()
    p95 = latencies[int(len(latencies) * 0.95) - 1] * 1000
    print(
        f"GET /jobs/{{id}} while it ran: p95 {p95:.1f} ms over {len(latencies)} calls "
        f"(target <= 50 ms)"
    )


def bench_rss_with_stored_results(count: int = 100_000) -> None:
    print(f"\n## Peak RSS of the host holding {count:,} stored results")
    from tqops.server.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        store = Store(data / "tqops.db")
        rows = [("FQDN", v, "AMBER", None) for v in values(count)]
        run = {"operation": "dcso_tie", "action": "search", "options": {}}
        job_id = store.create_job(run, rows, "bench")
        result = {"input": {}, "status": "ok", "error": None, "warnings": [], "indicators": [
            {"value": "x.example", "type": "FQDN", "published_at": "2024-01-01T00:00:00Z",
             "attributes": [{"name": "Severity", "value": "3",
                             "published_at": "2024-01-01T00:00:00Z"}] * 8}]}  # fmt: skip
        with store.transaction() as conn:
            conn.executemany(
                "INSERT INTO results (job_id, seq, status, result) VALUES (?, ?, 'ok', ?)",
                ((job_id, seq, json.dumps({**result, "input": {"type": "FQDN", "value": v}}))
                 for seq, (_, v, _, _) in enumerate(rows)),
            )  # fmt: skip
            conn.execute("UPDATE jobs SET status = 'done', done = ? WHERE id = ?", (count, job_id))
        store.close()
        host = Host(data)
        try:
            started = time.monotonic()
            for offset in range(0, count, 1000):
                page = host.http.get(f"{host.url}/jobs/{job_id}/results",
                                     params={"offset": offset, "limit": 1000}).json()  # fmt: skip
                assert len(page["results"]) == 1000
            wall = time.monotonic() - started
            peak = host.peak_rss_mb()
        finally:
            host.close()
    print(f"read back {count:,} results in {wall:.1f} s; peak RSS {peak:.0f} MB "
          f"(target <= 200 MB): {peak / 200:.2f} x the target")  # fmt: skip


WORKER_CONCURRENCY = 8


def _configure(host: Host, sim: Simulator) -> None:
    host.http.put(f"{host.url}/operations/dcso_tie/config", json={"values": {
        "hostname": sim.hostname, "access_token": TOKEN, "ca_bundle": sim.ca}},
    ).raise_for_status()  # fmt: skip
    host.http.put(f"{host.url}/operations/dcso_tie/settings", json={"cache_ttl": 0})


def _timed_job(
    submit: Host, watch: Host, prefix: str, count: int = COUNT
) -> tuple[float, list[float]]:
    """Wall seconds of a job submitted to ``submit``, and the latencies of watching it on
    ``watch`` (another replica, or the same host)."""
    body = {"operation": "dcso_tie", "action": "search",
            "inputs": [{"type": "FQDN", "value": f"{prefix}{i}.example"}
                       for i in range(count)]}  # fmt: skip
    started = time.monotonic()
    job = submit.http.post(f"{submit.url}/jobs", json=body).json()
    latencies = []
    while True:
        before = time.perf_counter()
        view = watch.http.get(f"{watch.url}/jobs/{job['id']}").json()
        latencies.append(time.perf_counter() - before)
        if view["status"] not in ("queued", "running"):
            break
        time.sleep(0.05)
    assert view["done"] == count and view["status"] == "done", view
    return time.monotonic() - started, latencies


def _p95(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000


def bench_workers() -> None:
    print(f"\n## A {COUNT}-indicator job at {LATENCY * 1000:.0f} ms, by N worker processes "
          f"at concurrency {WORKER_CONCURRENCY} each (SQLite, `serve --workers N`)")  # fmt: skip
    walls = {}
    with Simulator(LATENCY) as sim:
        for workers in (1, 2, 4):
            with tempfile.TemporaryDirectory() as tmp:
                host = Host(Path(tmp) / "data", ("--workers", str(workers), "--concurrency",
                                                 str(WORKER_CONCURRENCY)))  # fmt: skip
                try:
                    _configure(host, sim)
                    wait_for_workers(str(Path(tmp) / "data" / "tqops.db"), workers)
                    walls[workers], _ = _timed_job(host, host, f"w{workers}-")
                finally:
                    host.close()
            ideal = COUNT / (workers * WORKER_CONCURRENCY) * LATENCY
            speedup = walls[1] / walls[workers]
            print(f"{workers} worker(s): {walls[workers]:.2f} s, ideal {ideal:.2f} s: "
                  f"{walls[workers] / ideal:.3f} x the ideal (target <= 1.15); "
                  f"{speedup:.2f} x one worker's speed")  # fmt: skip


def bench_replicas_on_postgres() -> None:
    print(f"\n## PostgreSQL: two hosts, four workers at concurrency {WORKER_CONCURRENCY}; the "
          f"job submitted to one, watched on the other")  # fmt: skip
    from cryptography.fernet import Fernet

    from tests.support.postgres import running_cluster, server_binaries

    if server_binaries() is None:
        print("skipped: PostgreSQL's server programs are not installed (`make postgres`)")
        return
    with running_cluster() as cluster, Simulator(LATENCY) as sim, \
            tempfile.TemporaryDirectory() as tmp:  # fmt: skip
        url = cluster.create_database()
        env = {"PGPASSWORD": cluster.password, "TQOPS_DATABASE_URL": url,
               "TQOPS_SECRET_KEY": Fernet.generate_key().decode()}  # fmt: skip
        one = Host(Path(tmp) / "a", ("--workers", "2", "--concurrency",
                                     str(WORKER_CONCURRENCY)), env)  # fmt: skip
        two = Host(Path(tmp) / "b", ("--workers", "2", "--concurrency",
                                     str(WORKER_CONCURRENCY)), env, key=one.key)  # fmt: skip
        try:
            _configure(one, sim)
            os.environ["PGPASSWORD"] = cluster.password  # this process reads the store too
            wait_for_workers(url, 4)
            wall, latencies = _timed_job(one, two, "pg-")
        finally:
            one.close()
            two.close()
    ideal = COUNT / (4 * WORKER_CONCURRENCY) * LATENCY
    print(f"{wall:.2f} s, ideal {ideal:.2f} s: {wall / ideal:.3f} x the ideal; GET /jobs/{{id}} "
          f"on the other replica: p95 {_p95(latencies):.1f} ms over {len(latencies)} calls "
          f"(target <= 50 ms)")  # fmt: skip


def main() -> None:
    which = set(sys.argv[1:]) or {"job", "rss", "workers", "postgres"}
    if "job" in which:
        bench_job_vs_cli()
    if "rss" in which:
        bench_rss_with_stored_results()
    if "workers" in which:
        bench_workers()
    if "postgres" in which:
        bench_replicas_on_postgres()


if __name__ == "__main__":
    main()

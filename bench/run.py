"""`make bench`: four benchmarks, each printing its ratios (never asserted in tests).

The simulator runs in its own process, so our CPU is measured alone, and its capacity is
measured first: it must sustain at least 3 x the request rate a benchmark needs.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from dcso_tie_operation import OPERATION as TIE
from tqops import Attribute, Indicator, IndicatorType, validate_options
from tqops.dates import parse_datetime

TOKEN = "bench-token"
ROOT = Path(__file__).resolve().parent.parent


class Simulator:
    """`python -m simulators tie` in a child process."""

    def __init__(self, latency: float) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "simulators",
                "tie",
                "--token",
                TOKEN,
                "--latency",
                str(latency),
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        line = self.process.stdout.readline()
        match = re.search(r"on (\S+) \(CA bundle: (\S+),", line)
        if not match:
            raise SystemExit(f"simulator did not start: {line!r}")
        self.hostname, self.ca = match.group(1), match.group(2)

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(10)


def config(sim: Simulator) -> Any:
    return {"hostname": sim.hostname, "access_token": TOKEN, "ca_bundle": sim.ca}


def run_tie(cfg: Any, selected: Any, concurrency: int) -> list[Any]:
    """One run through the service, as `tqops run` makes it (its own pool, closed after)."""
    with TIE.configure(cfg, pool_size=concurrency) as configured:
        return list(configured.run("search", {}, selected, concurrency=concurrency))


def inputs(count: int) -> list[tuple[str, str]]:
    out = []
    for index in range(count):
        if index % 4 == 0:
            out.append(("MD5", f"{index:032x}"))
        else:
            out.append(("FQDN", f"host{index % 120}.evil-cdn.com"))
    return out


def bare_session(sim: Simulator, workers: int) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=workers, pool_block=True)
    session.mount("https://", adapter)
    return session


def capacity(sim: Simulator, workers: int = 32, seconds: float = 3.0) -> float:
    """Requests per second the simulator answers with zero latency (its ceiling)."""
    session = bare_session(sim, workers)
    url = f"https://{sim.hostname}/api/v1/iocs-with-context"
    done = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker() -> None:
        while time.monotonic() < stop:
            session.get(
                url,
                params={"value": "host1.evil-cdn.com", "limit": "500"},
                headers={"Authorization": f"Bearer {TOKEN}"},
                verify=sim.ca,
                timeout=30,
            )
            with lock:
                done[0] += 1

    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        for _ in range(workers):
            pool.submit(worker)
    return done[0] / (time.monotonic() - started)


def bench_bulk() -> None:
    latency = 0.2
    print("\n## bulk: DCSO TIE search, 200 ms per call (simulator in its own process)")
    with Simulator(0.0) as fast:
        ceiling = capacity(fast)
    needed = 32 / latency
    verdict = "ok" if ceiling >= 3 * needed else "TOO SLOW: results are bounded by the simulator"
    print(
        f"simulator capacity: {ceiling:.0f} req/s at zero latency; the heaviest case needs "
        f"{needed:.0f} req/s: {ceiling / needed:.1f} x ({verdict}, target >= 3 x)"
    )
    with Simulator(latency) as sim:
        cfg = config(sim)
        base = None
        for count, workers in ((100, 1), (1000, 4), (1000, 16), (1000, 32)):
            started = time.monotonic()
            results = run_tie(cfg, inputs(count), workers)
            wall = time.monotonic() - started
            assert len(results) == count and all(r.status != "error" for r in results)
            ideal = count * latency / workers
            per_call = wall / count
            base = base or per_call
            print(
                f"N={count:<5} C={workers:<3} wall {wall:6.2f} s  ideal {ideal:6.2f} s  "
                f"ratio {wall / ideal:.3f} (target <= 1.15 at C=16)  speed-up over C=1 "
                f"{base / per_call:5.1f} x"
            )


def bench_cpu() -> None:
    print("\n## CPU per call: 1,000 calls at zero latency, our run vs a bare requests.Session")
    with Simulator(0.0) as sim:
        cfg = config(sim)
        selected = inputs(1000)
        run_tie(cfg, selected[:50], 1)  # warm up
        started = time.process_time()
        run_tie(cfg, selected, 1)
        ours = time.process_time() - started
        session = bare_session(sim, 1)
        url = f"https://{sim.hostname}/api/v1/iocs-with-context"
        queries = []
        from dcso_tie_operation.client import TieClient

        no_options = validate_options(TIE.manifest.action("search").options, {})

        for kind, value in selected:
            queries.append(TieClient.build_query(Indicator(value, kind), no_options))
        started = time.process_time()
        for params in queries:
            response = session.get(
                url,
                params=params,
                verify=sim.ca,
                timeout=30,
                headers={"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"},
            )
            response.raise_for_status()
            response.json()
        bare = time.process_time() - started
    print(
        f"ours {ours:.2f} s CPU, bare requests.Session {bare:.2f} s CPU: ratio "
        f"{ours / bare:.2f} (target <= 1.3; ours also checks, maps and builds indicators)"
    )


def synthetic_page(iocs: int = 2000, observations: int = 5) -> dict[str, Any]:
    page = []
    for i in range(iocs):
        obs = [
            {
                "id": f"obs-{i}-{j}",
                "seq": i * 10 + j,
                "severity": (i + j) % 7,
                "confidence": 60 + (i * j) % 40,
                "first_seen": f"2020-0{1 + j}-1{j} 02:37:55+00:00",
                "last_seen": f"2021-0{1 + j}-1{j}T18:35:59Z",
                "created_at": "2020-05-26 03:03:26.304262+00:00",
                "updated_at": "2021-12-09 20:38:56.732630+00:00",
                "categories": ["c2-server", "botnet"][: 1 + j % 2],
                "families": ["guload"] if j % 2 else [],
                "actors": ["TA505"] if j == 3 else [],
                "attributes": [
                    {"name": "killchain", "value": "c2"},
                    {"name": "threattype", "value": "criminal"},
                ],
                "entities": [],
                "event": {
                    "id": f"ev-{i}-{j}",
                    "source": {"pseudonym": "322a92d8"},
                    "attributes": [{"name": "misp-uuid", "value": f"u-{i}-{j}"}],
                },
            }
            for j in range(observations)
        ]
        page.append(
            {
                "id": f"ioc-{i}",
                "value": f"host{i}.example-{i % 97}.com/32"
                if False
                else f"host{i}.example-{i % 97}.com",
                "data_type": "DomainName",
                "hotness": 0.5,
                "gamma": 3.85e-06,
                "t_1": None,
                "a_1": None,
                "comment": None,
                "attributes": [],
                "created_at": "2020-05-26 03:03:11.013208+00:00",
                "updated_at": "2020-05-26 03:46:06.311661+00:00",
                "enriched_at": "2020-05-26 03:46:06.320990+00:00",
                "observations": obs,
            }
        )
    return {"iocs": page, "has_more": False, "params": {}}


def hand_written(document: dict[str, Any]) -> list[Indicator]:
    """The same extraction written by hand into attrs objects (the mapping's floor)."""
    out = []
    for ioc in document["iocs"]:
        observations = ioc.get("observations") or []
        firsts = [parse_datetime(o["first_seen"]) for o in observations if o.get("first_seen")]
        published = min(firsts) if firsts else None
        attributes = [
            Attribute("Hotness", repr(ioc["hotness"]), published),
            Attribute("Gamma", repr(ioc["gamma"]), published),
        ]
        for obs in observations:
            when = parse_datetime(obs["first_seen"])
            attributes.append(Attribute("Severity", str(obs["severity"]), when))
            attributes.append(Attribute("Confidence", str(obs["confidence"]), when))
            attributes.append(Attribute("First Seen", obs["first_seen"], when))
            attributes.append(Attribute("Last Seen", obs["last_seen"], when))
            attributes += [Attribute("Categories", c, when) for c in obs["categories"]]
            attributes += [Attribute("Malware Family", c, when) for c in obs["families"]]
            attributes += [Attribute("Adversary", c, when) for c in obs["actors"]]
            attributes += [Attribute(a["name"], a["value"], when) for a in obs["attributes"]]
        out.append(
            Indicator(
                ioc["value"], IndicatorType.FQDN, published_at=published, attributes=attributes
            )
        )
    return out


def best(function: Any, repeat: int = 5) -> float:
    """The fastest of ``repeat`` runs, each started from a collected heap (same GC state)."""
    times = []
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def bench_mapping() -> None:
    text = json.dumps(synthetic_page())
    print(
        f"\n## mapping: a synthetic TIE page of 2,000 IOCs x 5 observations "
        f"({len(text) / 1e6:.1f} MB)"
    )
    document = json.loads(text)
    loads = best(lambda: json.loads(text))
    mapper = TIE.mappers["search"]
    rows = [
        ("tqops Mapper (the manifest's table)", lambda: mapper.map(document)),
        ("hand-written into attrs objects", lambda: hand_written(document)),
    ]
    try:
        from jsonpath_ng.ext import parse as jsonpath

        paths = [
            jsonpath(p)
            for p in (
                "$.iocs[*].value",
                "$.iocs[*].hotness",
                "$.iocs[*].gamma",
                "$.iocs[*].observations[*].severity",
                "$.iocs[*].observations[*].confidence",
                "$.iocs[*].observations[*].first_seen",
                "$.iocs[*].observations[*].last_seen",
                "$.iocs[*].observations[*].categories[*]",
            )
        ]
        rows.append(
            (
                "jsonpath-ng (the 8 rows' values only)",
                lambda: [[m.value for m in p.find(document)] for p in paths],
            )
        )
    except ImportError:
        print("jsonpath-ng: not installed (pip install '.[bench]')")
    try:
        import jq

        program = jq.compile(
            ".iocs[] | {value, hotness, gamma, obs: [.observations[] | "
            "{severity, confidence, first_seen, last_seen, categories}]}"
        )
        rows.append(
            (
                "jq's Python binding (the same extraction)",
                lambda: program.input_value(document).all(),
            )
        )
    except ImportError:
        print("jq: not installed (pip install '.[bench]')")
    print(f"json.loads: {loads * 1000:.0f} ms (= 1.00)")
    spent_by = {}
    for name, function in rows:
        spent = spent_by[name] = best(function, 5)
        print(
            f"{name}: {spent * 1000:.0f} ms = {spent / loads:.2f} x json.loads"
            + ("  (target <= 1.0)" if name.startswith("tqops") else "")
        )
    ours, floor = (spent_by[name] for name, _ in rows[:2])
    print(f"tqops Mapper / hand-written: {ours / floor:.2f}")


def bench_memory() -> None:
    print("\n## memory: peak RSS of a 10,000-indicator run (tqops run, jsonl to /dev/null)")
    with Simulator(0.0) as sim, tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "inputs.csv"
        source.write_text("type,value\n" + "".join(f"{k},{v}\n" for k, v in inputs(10_000)))
        env = {**os.environ, "BENCH_TOKEN": TOKEN}
        command = [sys.executable, "-m", "tqops.cli", "run", "dcso_tie", "search", "--input",
                   str(source), "--config", f"hostname={sim.hostname}", "--config",
                   "access_token=env:BENCH_TOKEN", "--config", f"ca_bundle={sim.ca}",
                   "--format", "jsonl", "--concurrency", "16"]  # fmt: skip
        # A child's ru_maxrss inherits its parent's high-water mark across vfork/exec, and
        # this process is large by now: measure through a tiny intermediate process instead.
        measure = (
            "import os, subprocess, sys\n"
            "child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
            "_, status, usage = os.wait4(child.pid, 0)\n"
            "print(usage.ru_maxrss, status >> 8)"
        )
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-c", measure, *command], env=env,
                              capture_output=True, text=True, check=True)  # fmt: skip
        wall = time.monotonic() - started
    peak_kb, status = map(int, done.stdout.split())
    print(
        f"peak RSS {peak_kb / 1024:.0f} MB (target <= 150 MB), exit status {status}, "
        f"{wall:.1f} s wall"
    )


def main() -> None:
    which = set(sys.argv[1:]) or {"bulk", "cpu", "mapping", "memory"}
    print(
        f"# tqops benchmarks on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.platform()}"
    )
    for name in ("mapping", "cpu", "memory", "bulk"):
        if name in which:
            globals()[f"bench_{name}"]()


if __name__ == "__main__":
    main()

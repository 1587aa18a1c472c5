"""Workers: what runs jobs. A worker claims a slice of a job's inputs from the store under a
lease (:meth:`~tqops.server.store.jobs.JobRecords.claim`), renews the lease while its calls are
in flight, stores one result per input as each completes, and claims the next slice; the
store's fair choice interleaves the jobs of different users.

Any number of workers share one store: threads of the host's own process (:class:`LocalWorker`,
what an in-process host and ``tqops run``-like tools use), ``tqops worker`` processes that
``tqops serve --workers N`` starts and watches, and ``tqops worker`` on other machines over
PostgreSQL. A worker that dies (even ``kill -9``) stops renewing its lease; when the lease runs
out, another worker claims the same inputs and carries on from the stored results: each input
ends with exactly one result, and the vendor sees an input again only if its call was in
flight at the kill.

Around each vendor call, what a TIP needs: inputs repeated in one job are looked up once, an
indicator above the operation's maximum TLP is not sent (its result is ``skipped`` and its
reason says why), and a lookup repeated within the operation's cache TTL is answered from the
cache (its result says so).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Callable, Optional

from tqops.config.values import Config, StoredConfig, scrub
from tqops.errors import ConfigError, InputError, OperationError
from tqops.model import Indicator, IndicatorType
from tqops.server.runners import Runners, RunnerSpec
from tqops.server.settings import seconds_setting
from tqops.server.store import Store
from tqops.server.store.jobs import OPEN, Claim
from tqops.server.vault import SEALED, Vault
from tqops.service import CancelToken, ConfiguredOperation, Result, Selection, Service, Status
from tqops.tlp import Tlp

__all__ = [
    "LEASE",
    "LEASE_VARIABLE",
    "LocalWorker",
    "Pools",
    "StorePacer",
    "Worker",
    "lease_setting",
]

log = logging.getLogger("tqops.server.worker")

#: seconds a claim lasts unless its worker renews it (it does every third of that): how long
#: the inputs of a worker killed mid-job on another machine wait before another worker
#: carries them on (on the same machine, a worker that finds one dead gives them back at once)
LEASE = 30.0
#: the environment variable that sets the lease (seconds, 1 to 3600)
LEASE_VARIABLE = "TQOPS_WORKER_LEASE"
#: seconds between two looks for dead workers of this machine
REAP_EVERY = 5.0
#: seconds between two looks at a running slice's job (a cancel on any host stops it)
CANCEL_LOOK = 1.0
#: seconds an idle worker waits before it looks for work again
POLL = 0.25
#: distinct values a claim takes at most, per unit of the worker's concurrency: enough to
#: keep every connection busy with little overhead between slices (measured: 4 cost 37 % over
#: the ideal wall time, 16 cost 14 %), few enough that another user's job is served within
#: a few seconds
SLICE_PER_CALL = 16


def lease_setting(environ: Optional[Mapping[str, str]] = None) -> float:
    """``TQOPS_WORKER_LEASE`` in seconds (default 30); anything else than a number from 1 to
    3600 is a one-line error naming the variable."""
    return seconds_setting(LEASE_VARIABLE, LEASE, 1, 3600, hint="default 30", environ=environ)


class Pools:
    """One configured operation (its client and connection pool) per operation, shared by the
    slices a worker runs, rebuilt when its configuration or code changes (``key``) and closed
    when no slice uses it."""

    def __init__(self, build: Callable[[str], ConfiguredOperation]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._current: dict[str, tuple[str, ConfiguredOperation]] = {}
        self._users: dict[int, int] = {}
        self._retired: list[ConfiguredOperation] = []

    @contextmanager
    def use(self, operation: str, key: str = "") -> Iterator[ConfiguredOperation]:
        with self._lock:
            found = self._current.get(operation)
            if found is not None and found[0] != key:
                self._retired.append(found[1])
                found = None
            if found is None:
                found = self._current[operation] = (key, self._build(operation))
            configured = found[1]
            self._users[id(configured)] = self._users.get(id(configured), 0) + 1
        try:
            yield configured
        finally:
            with self._lock:
                self._users[id(configured)] -= 1
                self._close_idle()

    def invalidate(self, operation: str) -> None:
        """The configuration changed: the next slice gets a new pool; the old one closes when
        its last slice ends."""
        with self._lock:
            old = self._current.pop(operation, None)
            if old is not None:
                self._retired.append(old[1])
            self._close_idle()

    def _close_idle(self) -> None:
        for configured in list(self._retired):
            if not self._users.get(id(configured)):
                self._retired.remove(configured)
                self._users.pop(id(configured), None)
                configured.close()

    def close(self) -> None:
        with self._lock:
            self._retired += [configured for _, configured in self._current.values()]
            self._current.clear()
            self._close_idle()


class Worker:
    """Claims slices of jobs from ``store`` and runs them, ``concurrency`` vendor calls at a
    time at most, whatever was submitted."""

    def __init__(
        self,
        store: Store,
        service: Service,
        vault: Vault,
        configure: Callable[[str], ConfiguredOperation],
        *,
        concurrency: int,
        lease: Optional[float] = None,
        refresh: Optional[Callable[[], None]] = None,
        reap: Optional[Callable[[], Any]] = None,
        runners: Optional[Runners] = None,
        runner_spec: Optional[Callable[[str], Optional[RunnerSpec]]] = None,
        resolve: Optional[Callable[[str], Config]] = None,
    ) -> None:
        self.store = store
        self.service = service
        self.vault = vault
        self.concurrency = max(1, concurrency)
        self.lease = lease_setting() if lease is None else lease
        self.pools = Pools(configure)
        #: called before each claim (the host loads integrations uploaded meanwhile)
        self.refresh = refresh
        #: called every few seconds: gives back what dead workers of this machine held
        self.reap = reap
        #: where uploaded integrations run (their code is never imported here), and how to
        #: tell one (its runner spec; None: an operation installed with tqops, run here)
        self.runners = runners if runners is not None else Runners()
        self.runner_spec = runner_spec or (lambda name: None)
        #: an operation's stored configuration, resolved (what a runner is handed)
        self.resolve = resolve
        self._reaped = 0.0
        self._seen = 0.0
        self.id = f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(4)}"
        self._salt = secrets.token_bytes(32)
        self._stop = threading.Event()
        self._current: Optional[CancelToken] = None
        self._registered = False

    def __repr__(self) -> str:
        return f"Worker({self.id!r}, concurrency={self.concurrency})"

    # -- the loop -----------------------------------------------------------------------------

    def run(self, idle_exit: Optional[float] = None) -> None:
        """Claim and run slices until :meth:`stop` (or, with ``idle_exit``, until there has
        been nothing to claim for that many seconds)."""
        self._register()
        self._warm_up()
        idle_since = time.monotonic()
        try:
            while not self._stop.is_set():
                if self.run_once():
                    idle_since = time.monotonic()
                    continue
                if idle_exit is not None and time.monotonic() - idle_since > idle_exit:
                    return
                self._stop.wait(POLL)
                if time.monotonic() - self._seen > self.lease / 3:  # alive, said sparingly
                    self.store.worker_seen(self.id)
                    self._seen = time.monotonic()
        finally:
            self.store.remove_worker(self.id)
            self._registered = False
            self.pools.close()

    def _warm_up(self) -> None:
        """Load the installed operations (their code, their manifests) and the input checks
        before the first claim: each worker's first slice spent a fifth of a second on it,
        its lease running."""
        try:
            self.service.operations()
            self.service.check_indicator(Indicator(value="example.com", type=IndicatorType.FQDN))
        except (OperationError, InputError, ValueError):  # the first slice says what is wrong
            pass

    def run_once(self) -> bool:
        """Claim one slice and run it; False when there was nothing to claim."""
        if self.refresh is not None:
            self.refresh()
        if self.reap is not None and time.monotonic() - self._reaped > REAP_EVERY:
            self._reaped = time.monotonic()
            self.reap()
        claim = self.store.claim(self.id, self.concurrency * SLICE_PER_CALL, self.lease)
        if claim is None:
            return False
        self._slice(claim)
        return True

    def stop(self) -> None:
        """Stop sending: the slice in hand stops within one request, its unanswered inputs
        are given back for another worker (or the next start) to carry on."""
        self._stop.set()
        token = self._current
        if token is not None:
            token.cancel()

    def _register(self) -> None:
        if not self._registered:
            self.store.register_worker(self.id, socket.gethostname(), os.getpid(), self.concurrency)
            self._registered = True

    # -- one slice ----------------------------------------------------------------------------

    def _slice(self, claim: Claim) -> None:
        job = claim["job"]
        token = CancelToken()
        self._current = token
        if self._stop.is_set():
            token.cancel()
        beating = threading.Event()
        heart = threading.Thread(
            target=self._heartbeat, args=(claim["token"], token, beating), daemon=True
        )
        heart.start()
        try:
            self._work(job, claim["inputs"], token)
        except OperationError as exc:
            self.store.end_job(job["id"], "failed", " ".join(str(exc).split()))
        except Exception as exc:  # a bug: the job says so, the worker goes on
            log.exception("job %s failed", job["id"])
            self.store.end_job(job["id"], "failed", f"internal error (a bug): {type(exc).__name__}")
        finally:
            beating.set()
            heart.join()
            self._current = None
            self.store.release(claim["token"])

    def _heartbeat(self, claim: str, token: CancelToken, done: threading.Event) -> None:
        """Look at the job every second: one that ended meanwhile (cancelled on any host)
        cancels the slice, which stops within one request; renew the claim's lease every
        third of it."""
        renewed = time.monotonic()
        while not done.wait(CANCEL_LOOK):
            try:
                if time.monotonic() - renewed >= self.lease / 3:
                    status = self.store.renew(claim, self.lease)
                    self.store.worker_seen(self.id)
                    renewed = time.monotonic()
                else:
                    status = self.store.claim_status(claim)
            except OperationError:  # the store is busy: the next beat tries again
                continue
            if status not in OPEN:
                token.cancel()

    def _work(
        self,
        job: Mapping[str, Any],
        inputs: Sequence[Mapping[str, Any]],
        token: CancelToken,
    ) -> None:
        job_id = job["id"]
        name, action = job["operation"], job["action"]
        manifest = self.service.describe(name)
        manifest.action(action)  # one the operation no longer has fails the job, named
        label = manifest.label
        settings = self.store.settings(name)
        if not settings["enabled"]:
            raise ConfigError(f"{label} is disabled; an admin can enable it")
        stored_options: dict[str, Any] = json.loads(job["options"])
        options = self.vault.open(stored_options)
        hidden = {k for k, v in stored_options.items() if isinstance(v, Mapping) and SEALED in v}
        groups: dict[tuple[str, str], list[int]] = {}
        levels: dict[tuple[str, str], list[Tlp]] = {}
        for row in inputs:
            key = (row["type"], row["value"])
            groups.setdefault(key, []).append(row["seq"])
            levels.setdefault(key, []).append(Tlp.parse(row["tlp"]))
        allowed = Tlp.parse(settings["max_tlp"])
        # a password option is in the key as a keyed digest, never as itself
        keyed = {k: self._digest(str(v)) if k in hidden else v for k, v in options.items()}
        options_key = json.dumps(keyed, sort_keys=True)
        sealed_carried = job.get("carried")
        carried: Optional[StoredConfig] = None
        if sealed_carried:  # never served what another configuration looked up
            carried = self.service.stored_config(name, self.vault.open(json.loads(sealed_carried)))
            options_key += " config:" + self._fingerprint(carried)
        else:  # nor what the stored one looked up before an admin changed it (its sealed form)
            sealed = str(settings["config"]).encode()
            options_key += " stored:" + hashlib.sha256(sealed).hexdigest()[:32]
        options_key += f" version:{manifest.version}"  # an upgrade may map otherwise
        ttl = float(settings["cache_ttl"])
        to_send: list[Selection] = []
        for key, seqs in groups.items():
            selection = Selection(*key)
            given = Tlp.strictest(levels.get(key, ()))  # a repeated input goes at its strictest
            # a value stored under a stricter TLP keeps it however it is given (inline,
            # through Cortex, MISP or ThreatQ): the stricter of the two applies
            tlp = Tlp.strictest((given, *self._stored_tlps(*key)))
            if tlp > allowed:
                stored = " (the stored indicator's)" if tlp > given else ""
                reason = f"its TLP {tlp}{stored} is above {label}'s maximum, {allowed}"
                self._save(job_id, seqs, Result(selection, Status.SKIPPED, reason=reason))
                continue
            hit = self.store.cached((name, action, options_key, *key), ttl) if ttl > 0 else None
            if hit is not None:
                self._save_cached(job_id, seqs, hit)
                continue
            to_send.append(selection)
        quota = int(settings.get("daily_quota") or 0)
        if quota and to_send:  # shared by every worker: what is over it is not sent today
            granted = self.store.take_quota(name, len(to_send), quota)
            reason = (
                f"{label}'s daily quota of {quota} look-ups is used up; it renews at 00:00 UTC "
                "(an admin can raise it)"
            )
            for selection in to_send[granted:]:
                key = (selection.type, selection.value)
                self._save(job_id, groups[key], Result(selection, Status.SKIPPED, reason=reason))
            to_send = to_send[:granted]
        if not to_send or token.cancelled:
            return
        spec = self.runner_spec(name)
        if spec is not None:  # an upload: its code runs in a runner, with this configuration
            self._run_apart(job_id, spec, name, action, options, hidden, carried, to_send, token,
                            groups, (ttl, options_key))  # fmt: skip
            return
        # a new pool when the stored configuration or the operation's code changed
        sealed_digest = hashlib.sha256(str(settings["config"]).encode()).hexdigest()[:16]
        pool_key = f"{sealed_digest}:{id(self.service.operation(name))}"
        with self._configured(name, carried, pool_key) as configured:
            # each found indicator's summary, read with this configuration's API version
            summarise = self.service.reader(name, action, configured.config).summary
            # what a vendor echoed of a secret (the configuration's, a password option's)
            # is masked before anything is stored, cached, or answered from the store
            secret_values = (*configured.config.secrets(), *(str(options[k]) for k in hidden))
            run = configured.run(
                action,
                options,
                to_send,
                concurrency=self.concurrency,
                ordered=False,
                cancel=token,
            )
            with run:
                for result in run:
                    self._answered(
                        job_id, groups, result.input, result.to_dict(summarise), secret_values,
                        (name, action, ttl, options_key),
                    )  # fmt: skip

    def _run_apart(
        self,
        job_id: int,
        spec: RunnerSpec,
        name: str,
        action: str,
        options: Mapping[str, Any],
        hidden: set[str],
        carried: Optional[StoredConfig],
        to_send: list[Selection],
        token: CancelToken,
        groups: dict[tuple[str, str], list[int]],
        cache: tuple[float, str],
    ) -> None:
        """Run an upload's slice in a runner: each answer stored as it comes, those of a
        runner that failed as ``error`` results that say why."""
        if carried is not None:
            config = carried.resolve()
        elif self.resolve is not None:
            config = self.resolve(name)
        else:
            raise ConfigError(f"{spec.label} has no configuration this worker can give a runner")
        secret_values = (*config.secrets(), *(str(options[k]) for k in hidden))
        outcomes = self.runners.run(
            spec, config, action, options, to_send, concurrency=self.concurrency, cancel=token
        )
        for selection, payload in outcomes:
            self._answered(
                job_id, groups, selection, payload, secret_values, (name, action, *cache)
            )

    def _answered(
        self,
        job_id: int,
        groups: Mapping[tuple[str, str], list[int]],
        selection: Selection,
        payload: dict[str, Any],
        secret_values: Sequence[str],
        cache: tuple[str, str, float, str],
    ) -> None:
        """Store one input's answer (every secret in it masked) and cache what the vendor said."""
        key = (selection.type, selection.value)
        name, action, ttl, options_key = cache
        # a skip is the policy of the moment, not the vendor's answer
        cached = payload.get("status") in (Status.OK.value, Status.NO_RESULTS.value) and ttl > 0
        cache_key = (name, action, options_key, *key) if cached else None
        self._save_payload(job_id, groups[key], payload, secret_values, cache_key)

    def _stored_tlps(self, kind: str, value: str) -> list[Tlp]:
        """The TLPs of the stored indicators an input is: as given, and as it will be
        searched (refanged, normalised), which is how the host stores what it checked."""
        keys = {(kind, value)}
        try:
            indicator = Indicator(value=value, type=IndicatorType.from_name(kind))
            checked = self.service.check_indicator(indicator).indicator
            keys.add((checked.type.value, checked.value))
        except (InputError, ValueError):  # the run reports the input's error itself
            pass
        found = (self.store.indicator_tlp(*key) for key in sorted(keys))
        return [Tlp.parse(tlp, Tlp.RED) for tlp in found if tlp is not None]

    def _configured(
        self, name: str, carried: Optional[StoredConfig], key: str
    ) -> AbstractContextManager[ConfiguredOperation]:
        if carried is None:
            return self.pools.use(name, key)
        return self.service.configure(name, carried, pool_size=self.concurrency)

    def _fingerprint(self, config: StoredConfig) -> str:
        """Names a carried configuration in cache keys, keyed by a salt of this worker (the
        cache table never holds a hash an offline guess could test a secret against)."""
        return self._digest(json.dumps(config.to_json(), sort_keys=True, default=str))

    def _digest(self, text: str) -> str:
        return hmac.new(self._salt, text.encode(), hashlib.sha256).hexdigest()[:32]

    def _save(self, job_id: int, seqs: list[int], result: Result) -> None:
        """Store a result the worker made itself (a skip)."""
        self._save_payload(job_id, seqs, result.to_dict())

    def _save_payload(
        self,
        job_id: int,
        seqs: list[int],
        payload: dict[str, Any],
        secrets: Sequence[str] = (),
        cache_key: Optional[tuple[str, str, str, str, str]] = None,
    ) -> None:
        """Store a result (every secret in it masked), and cache it under ``cache_key``."""
        if any(secrets):  # a vendor client that reads its answers itself: masked before stored
            payload = scrub(payload, secrets)
        text = json.dumps(payload)
        cache = [(cache_key, text)] if cache_key is not None else []
        self.store.save_answers(job_id, [(seqs, payload["status"], text)], cache)
        self.store.judge_inputs(job_id, seqs, payload)  # the stored indicators' status, score

    def _save_cached(self, job_id: int, seqs: list[int], hit: tuple[str, float]) -> None:
        payload: dict[str, Any] = json.loads(hit[0])
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(hit[1]))
        payload["warnings"] = [*payload.get("warnings", []), f"from the cache (looked up {when})"]
        self._save_payload(job_id, seqs, payload)


class StorePacer:
    """Paces the calls to one vendor for every worker of a store together: each call takes
    the next slot from the store (:meth:`~tqops.server.store.jobs.JobRecords.pace`), spaced a
    a tenth wider than the configured rate (``MARGIN``) so that the jitter between sending and
    arriving never puts more calls than the rate into any second the vendor counts. When the
    store stays busy, the call paces itself alone (it waits one interval)."""

    MARGIN = 1.1

    def __init__(self, store: Store, vendor: str, per_second: float) -> None:
        self.store = store
        self.vendor = vendor
        self.interval = self.MARGIN / per_second

    def wait(self) -> float:
        try:
            delay = self.store.pace(self.vendor, self.interval) - time.time()
        except OperationError:
            delay = self.interval
        if delay > 0:
            time.sleep(delay)
        return max(0.0, delay)


class LocalWorker:
    """A worker on a thread of the host's own process, started when a job is queued and ended
    after a few idle seconds (an in-process host: tests, tools)."""

    IDLE_EXIT = 2.0

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._wanted = False
        self._stopped = False

    def wake(self) -> None:
        """A job was queued: the thread runs (again) until it has been idle a while."""
        with self._lock:
            if self._stopped:
                return
            if self._thread is not None:
                self._wanted = True  # the thread may be about to end idle: it looks again
                return
            self._thread = threading.Thread(target=self._loop, name="tqops-worker", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            try:
                self.worker.run(idle_exit=self.IDLE_EXIT)
            except OperationError as exc:  # the store stayed busy: the next wake tries again
                log.warning("the worker stopped: %s", exc)
            with self._lock:
                if self._stopped or not self._wanted:
                    self._thread = None
                    return
                self._wanted = False

    def stop(self, timeout: float = 30.0) -> None:
        with self._lock:
            self._stopped = True
            thread = self._thread
        self.worker.stop()
        if thread is not None:
            thread.join(timeout)

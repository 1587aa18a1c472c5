"""Background jobs: an action run over stored or inline indicators, one result stored per input
as it completes.

A job's life: queued -> running -> done | cancelled | failed; a stop of the host (even
``kill -9``) leaves it ``interrupted`` with every result it had stored, and resuming runs only
the inputs without one. Around each vendor call, what a TIP needs: inputs repeated in one job
are looked up once, an indicator above the operation's maximum TLP is not sent (its result is
``skipped`` and its reason says why), and a lookup repeated within the operation's cache TTL
is answered from the cache (its result says so).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Callable, Optional

from tqops.config.values import MASK, StoredConfig, scrub
from tqops.errors import ConfigError, InputError, OperationError
from tqops.model import Indicator, IndicatorType
from tqops.server.store import Store, now
from tqops.server.vault import SEALED, Vault
from tqops.service import CancelToken, ConfiguredOperation, Result, Selection, Service, Status
from tqops.tlp import Tlp

__all__ = ["JobRunner", "Pools"]

FINISHED = ("done", "cancelled", "failed", "interrupted")


class Pools:
    """One configured operation (its client and connection pool) per operation, shared by
    every job, rebuilt when its configuration changes and closed when no job uses it."""

    def __init__(self, build: Callable[[str], ConfiguredOperation]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._current: dict[str, ConfiguredOperation] = {}
        self._users: dict[int, int] = {}
        self._retired: list[ConfiguredOperation] = []

    @contextmanager
    def use(self, operation: str) -> Iterator[ConfiguredOperation]:
        with self._lock:
            configured = self._current.get(operation)
            if configured is None:
                configured = self._current[operation] = self._build(operation)
            self._users[id(configured)] = self._users.get(id(configured), 0) + 1
        try:
            yield configured
        finally:
            with self._lock:
                self._users[id(configured)] -= 1
                self._close_idle()

    def invalidate(self, operation: str) -> None:
        """The configuration changed: the next job gets a new pool; the old one closes when
        its last job ends."""
        with self._lock:
            old = self._current.pop(operation, None)
            if old is not None:
                self._retired.append(old)
            self._close_idle()

    def _close_idle(self) -> None:
        for configured in list(self._retired):
            if not self._users.get(id(configured)):
                self._retired.remove(configured)
                self._users.pop(id(configured), None)
                configured.close()

    def close(self) -> None:
        with self._lock:
            self._retired += list(self._current.values())
            self._current.clear()
            self._close_idle()


class JobRunner:
    """Runs each job in a thread of its own, over the service's configured operations."""

    def __init__(
        self,
        store: Store,
        service: Service,
        pools: Pools,
        concurrency: int,
        vault: Optional[Vault] = None,
    ) -> None:
        self.store = store
        #: opens a job's password-type options, stored sealed (None: a store without any)
        self.vault = vault
        self.service = service
        self.pools = pools
        self.concurrency = concurrency
        self._lock = threading.Lock()
        self._threads: dict[int, threading.Thread] = {}
        self._tokens: dict[int, CancelToken] = {}
        self._carried: dict[int, StoredConfig] = {}
        self._salt = secrets.token_bytes(32)
        self._stopping = False

    def start(self, job_id: int, config: Optional[StoredConfig] = None) -> None:
        """Run a job in the background; ``config``, when given, is the configuration the
        request carried (MISP's modules send theirs): the job runs with it instead of the
        stored one, and its cache entries are its own."""
        with self._lock:
            if self._stopping:
                raise ConfigError("the host is stopping; try again when it is back")
            if job_id in self._threads:
                return
            token = self._tokens[job_id] = CancelToken()
            if config is not None:
                self._carried[job_id] = config
            thread = threading.Thread(
                target=self._run, args=(job_id, token), name=f"tqops-job-{job_id}", daemon=True
            )
            self._threads[job_id] = thread
        thread.start()

    def cancel(self, job_id: int) -> bool:
        with self._lock:
            token = self._tokens.get(job_id)
        if token is None:
            return False
        token.cancel()
        return True

    def running(self, job_id: int) -> bool:
        with self._lock:
            return job_id in self._threads

    def wait(self, job_id: int, timeout: float) -> None:
        with self._lock:
            thread = self._threads.get(job_id)
        if thread is not None:
            thread.join(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop sending: every job stops within one request and is left ``interrupted``."""
        with self._lock:
            self._stopping = True
            threads = list(self._threads.values())
            for token in self._tokens.values():
                token.cancel()
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.store.interrupt_running_jobs()

    # -- one job ---------------------------------------------------------------------------

    def _run(self, job_id: int, token: CancelToken) -> None:
        try:
            self._work(job_id, token)
        except OperationError as exc:
            self.store.set_job(
                job_id, status="failed", error=" ".join(str(exc).split()), finished_at=now()
            )
        except Exception as exc:  # a bug: the job says so, the host goes on
            self.store.set_job(
                job_id,
                status="failed",
                error=f"internal error (a bug): {type(exc).__name__}",
                finished_at=now(),
            )
        finally:
            with self._lock:
                self._threads.pop(job_id, None)
                self._tokens.pop(job_id, None)
                self._carried.pop(job_id, None)

    def _work(self, job_id: int, token: CancelToken) -> None:
        job = self.store.job(job_id)
        if job is None:
            return
        self.store.set_job(job_id, status="running", started_at=job["started_at"] or now())
        name, action = job["operation"], job["action"]
        manifest = self.service.describe(name)
        manifest.action(action)  # one the operation no longer has fails the job, named
        label = manifest.label
        settings = self.store.settings(name)
        if not settings["enabled"]:
            raise ConfigError(f"{label} is disabled; an admin can enable it")
        stored_options: dict[str, Any] = json.loads(job["options"])
        options = self.vault.open(stored_options) if self.vault else stored_options
        hidden = {k for k, v in stored_options.items() if isinstance(v, Mapping) and SEALED in v}
        groups: dict[tuple[str, str], list[int]] = {}
        levels: dict[tuple[str, str], list[Tlp]] = {}
        for row in self.store.pending_inputs(job_id):
            key = (row["type"], row["value"])
            groups.setdefault(key, []).append(row["seq"])
            levels.setdefault(key, []).append(Tlp.parse(row["tlp"]))
        allowed = Tlp.parse(settings["max_tlp"])
        # a password option is in the key as a keyed digest, never as itself
        keyed = {k: self._digest(str(v)) if k in hidden else v for k, v in options.items()}
        options_key = json.dumps(keyed, sort_keys=True)
        with self._lock:
            carried = self._carried.get(job_id)
        if carried is not None:  # never served what another configuration looked up
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
        if to_send and not token.cancelled:
            with self._configured(name, carried) as configured:
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
                        key = (result.input.type, result.input.value)
                        payload = self._save(job_id, groups[key], result, summarise, secret_values)
                        # a skip is the policy of the moment, not the vendor's answer
                        if result.status in (Status.OK, Status.NO_RESULTS) and ttl > 0:
                            self.store.cache_result(
                                (name, action, options_key, *key), json.dumps(payload)
                            )
        status = "done"
        if token.cancelled:
            status = "interrupted" if self._stopping else "cancelled"
        self.store.set_job(job_id, status=status, finished_at=now())

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
        self, name: str, carried: Optional[StoredConfig]
    ) -> AbstractContextManager[ConfiguredOperation]:
        if carried is None:
            return self.pools.use(name)
        return self.service.configure(name, carried, pool_size=self.concurrency)

    def _fingerprint(self, config: StoredConfig) -> str:
        """Names a carried configuration in cache keys, keyed by a salt of this process (the
        cache table never holds a hash an offline guess could test a secret against)."""
        return self._digest(json.dumps(config.to_json(), sort_keys=True, default=str))

    def _digest(self, text: str) -> str:
        return hmac.new(self._salt, text.encode(), hashlib.sha256).hexdigest()[:32]

    def _save(
        self,
        job_id: int,
        seqs: list[int],
        result: Result,
        summarise: Optional[Callable[[Any], list[dict[str, Any]]]] = None,
        secrets: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Store a result (every secret in it masked); the payload stored."""
        payload = result.to_dict(summarise)
        if any(secrets):  # a vendor client that reads its answers itself: masked before stored
            payload = scrub(payload, secrets)
        self.store.save_results(job_id, seqs, payload["status"], json.dumps(payload))
        self.store.judge_inputs(job_id, seqs, payload)  # the stored indicators' status, score
        return payload

    def _save_cached(self, job_id: int, seqs: list[int], hit: tuple[str, float]) -> None:
        payload: dict[str, Any] = json.loads(hit[0])
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(hit[1]))
        payload["warnings"] = [*payload.get("warnings", []), f"from the cache (looked up {when})"]
        self.store.save_results(job_id, seqs, payload["status"], json.dumps(payload))
        self.store.judge_inputs(job_id, seqs, payload)


def job_view(row: Mapping[str, Any], running: bool, hidden: Collection[str] = ()) -> dict[str, Any]:
    """A job as the API shows it, with its rate and time left while it runs; its password
    options (``hidden``, and any stored sealed) as the mask."""
    view = {
        "id": row["id"],
        "operation": row["operation"],
        "action": row["action"],
        "options": _masked(json.loads(row["options"]), hidden),
        "status": row["status"],
        "total": row["total"],
        "done": row["done"],
        "failed": row["failed"],
        "skipped": row["skipped"],
        "created_by": row["created_by"],
        "created_at": row["created_at"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "error": row["error"],
    }
    rate = None
    if row["started_at"] and row["done"]:
        started = time.mktime(time.strptime(row["started_at"], "%Y-%m-%dT%H:%M:%SZ"))
        ended = (
            time.mktime(time.strptime(row["finished_at"], "%Y-%m-%dT%H:%M:%SZ"))
            if row["finished_at"]
            else time.mktime(time.gmtime())
        )
        rate = row["done"] / max(1.0, ended - started)
    view["rate"] = round(rate, 2) if rate else None
    left = row["total"] - row["done"]
    view["seconds_left"] = round(left / rate, 1) if rate and running and left > 0 else None
    return view


def _masked(options: Mapping[str, Any], hidden: Collection[str]) -> dict[str, Any]:
    """A job's options as they are shown: a password option as the mask."""
    return {
        k: MASK if k in hidden or (isinstance(v, Mapping) and SEALED in v) else v
        for k, v in options.items()
    }

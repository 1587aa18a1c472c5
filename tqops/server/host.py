"""The host: a data directory's store, vault, users, operations and jobs, wired together.

Every protocol (the native REST API, and later ThreatQ's, Cortex's and MISP's) is a view of
one :class:`Host`; none of them reaches the store or the vault another way.
"""

from __future__ import annotations

import io
import json
import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Optional, Union

from tqops.config.references import refused_reference
from tqops.config.values import MASK, Config, StoredConfig
from tqops.errors import ConfigError, InputError
from tqops.model import Indicator, IndicatorType
from tqops.server.datadir import default_data_dir, private_data_dir
from tqops.server.errors import Problem, readable
from tqops.server.hosted import BrokenOperation, HostedOperation
from tqops.server.integrations import Installer
from tqops.server.jobs import JobQueue, job_view
from tqops.server.limits import HostLimits
from tqops.server.runners import Runners
from tqops.server.store import Store
from tqops.server.users import User, Users
from tqops.server.vault import Vault
from tqops.server.worker import LocalWorker, Worker
from tqops.service import ConfiguredOperation, ConnectionReport, Service
from tqops.tlp import DEFAULT, Tlp, tlp_name

__all__ = ["Host", "default_data_dir", "parse_indicator_csv"]

MAX_INDICATORS_PER_CALL = 10_000
#: the largest daily quota of look-ups an admin may set
MAX_QUOTA = 100_000_000


class Host:
    """One data directory's host."""

    def __init__(
        self,
        data: Path,
        *,
        concurrency: int = 16,
        secrets_dirs: Sequence[Path] = (),
        database: Optional[str] = None,
        run_jobs: bool = True,
        limits: Optional[HostLimits] = None,
    ) -> None:
        """``run_jobs``: a worker on a thread of this process runs the queued jobs (False:
        ``tqops serve`` starts worker processes, or workers run elsewhere). ``limits``: what
        bounds a caller's work (default: the environment's settings)."""
        self.data = private_data_dir(Path(data))
        #: the directories a ``file:`` secret reference entered over REST may point into
        #: (``tqops serve --secrets-dir``); none by default: references are refused
        self.secrets_dirs = tuple(Path(folder) for folder in secrets_dirs)
        # a postgresql:// URL, else the data directory's SQLite file
        self.store = Store(database or self.data / "tqops.db")
        self.vault = Vault.for_data_dir(self.data)
        self.users = Users(self.store)
        self.service = Service()
        #: the installed operations (the service's, which the installer adds to)
        self.registry = self.service.registry
        #: the processes uploaded integrations' code runs in (never this one)
        self.runners = Runners()
        self.installer = Installer(self)
        self.worker = Worker(
            self.store,
            self.service,
            self.vault,
            self._configure,
            concurrency=concurrency,
            refresh=self.installer.refresh,
            reap=self.release_dead_workers,
            runners=self.runners,
            runner_spec=self.installer.runner_spec,
            resolve=self._resolved,
        )
        #: the in-process worker's connection pools (configuration changes retire them)
        self.pools = self.worker.pools
        local = LocalWorker(self.worker) if run_jobs else None
        self.limits = limits or HostLimits.from_environ()
        self.jobs = JobQueue(self.store, concurrency, local, self.limits)

    def start(self) -> list[int]:
        """At start: the uploaded integrations are activated again; the claims of this
        machine's workers that died with a stop are given back at once (jobs carry on), and
        the in-process worker, if any, looks for queued jobs. The ids of the jobs open."""
        self.installer.load_all()
        self.release_dead_workers()
        self.jobs.start(0)
        return [row["id"] for row in self.store.open_jobs()]

    def release_dead_workers(self) -> list[str]:
        """Workers of this machine whose process is gone (a ``kill -9``): their claims go
        back to the queue now rather than when their leases run out."""
        dead = []
        for row in self.store.workers():
            if row["machine"] == socket.gethostname() and not _alive(int(row["pid"])):
                self.store.remove_worker(row["id"])
                dead.append(row["id"])
        return dead

    def stop(self) -> None:
        self.jobs.stop()
        self.pools.close()
        self.runners.close()

    # -- operations ------------------------------------------------------------------------

    def hosted(self, name: str, values: Optional[Mapping[str, Any]] = None) -> HostedOperation:
        """An operation as this host shows it; its fields and options as they stand for
        ``values`` (the values a form shows), else for the stored configuration."""
        stored = self.config(name)
        settings = self.store.settings(name)
        uploaded = self.installer.uploaded(name)
        return HostedOperation(
            self.service.view(name, stored if values is None else values),
            "uploaded" if uploaded else "installed with tqops",
            uploaded["installed_at"] if uploaded else None,
            bool(settings["enabled"]),
            settings["max_tlp"],
            settings["cache_ttl"],
            bool(settings["misp_allowed"]),
            self._configured(stored),
            int(settings.get("daily_quota") or 0),
            self.store.quota_used(name),
        )

    def hosted_operations(self) -> list[Union[HostedOperation, BrokenOperation]]:
        """Every operation, those that failed to load included (with the reason)."""
        found: list[Union[HostedOperation, BrokenOperation]] = [
            self.hosted(name) for name in self.registry.operations
        ]
        found += [BrokenOperation(n, why) for n, why in self.registry.broken.items()]
        failed = self.installer.failed.items()  # uploads that did not load here
        found += [BrokenOperation(n, why) for n, why in failed if n not in self.registry.operations]
        return found

    def operation_view(self, name: str) -> dict[str, Any]:
        """An operation as the REST API gives it."""
        return self.hosted(name).to_dict()

    def operations(self) -> list[dict[str, Any]]:
        return [found.to_dict() for found in self.hosted_operations()]

    def _configured(self, stored: StoredConfig) -> bool:
        try:
            self._check_references(stored)  # a run would refuse it: not configured
            stored.resolve()
        except ConfigError:
            return False
        return True

    def blocked(self, name: str) -> tuple[str, tuple[str, ...]]:
        """Why ``name`` cannot run now: ``disabled`` or ``not configured`` with what its stored
        configuration lacks, in the fields' labels; ``("", ())`` when it can run."""
        if not self.store.settings(name)["enabled"]:
            return "disabled", ()
        try:
            stored = self.config(name)
            self._check_references(stored)
            stored.resolve()
        except ConfigError as exc:
            return "not configured", readable(exc)
        return "", ()

    def refuse_blocked(self, name: str, carried: bool = False) -> None:
        """Refuse (409, one line naming what an admin must do first) a run of ``name`` that
        cannot run now: disabled, or not configured with what its stored configuration lacks,
        in the words of the console's Run page. Every way in asks for it (``create_job``'s
        ``refuse_blocked``), after the request's own problems; a run that carries its own
        configuration (MISP's settings) needs only to be enabled."""
        self.service.operation(name)  # an operation not installed: the error that says so
        why, missing = self.blocked(name)
        if not why or (carried and why != "disabled"):
            return
        label = self.service.describe(name).label
        lacks = f" ({'; '.join(missing)})" if missing else ""
        fix = "enable" if why == "disabled" else "configure"
        raise Problem(409, f"{label} is {why}{lacks}: an admin can {fix} it")

    def config(self, name: str) -> StoredConfig:
        """An operation's stored configuration, its secrets opened (only to check or run)."""
        sealed = json.loads(self.store.settings(name)["config"])
        return self.service.stored_config(name, self.vault.open(sealed))

    def masked_config(self, name: str) -> dict[str, Any]:
        stored = self.config(name)
        return {"values": stored.masked(), "secrets_set": stored.secret_fields_set()}

    def set_config(self, name: str, values: Mapping[str, Any], user: User) -> dict[str, Any]:
        """Enter configuration values (the mask leaves a secret as it was); every invalid
        field is listed; secrets are sealed before they are stored."""
        operation = self.service.operation(name)
        updated = self.config(name).updated(values)
        try:
            self._check_references(updated)
        except ConfigError:  # an attempt to make the host read its files: on the record
            self.store.audit(user.name, "configure-refused", name, "secret reference")
            raise
        sealed = self.vault.seal(updated.to_json(), operation.manifest.secret_fields)
        self.store.save_settings(name, config=json.dumps(sealed))
        self.pools.invalidate(name)
        changed = sorted(str(k) for k in values if values[k] != MASK)
        self.store.audit(user.name, "configure", name, "fields: " + ", ".join(changed))
        return self.masked_config(name)

    def set_settings(self, name: str, values: Mapping[str, Any], user: User) -> dict[str, Any]:
        """The host's own settings of an operation: enabled, max_tlp, cache_ttl,
        misp_allowed (MISP's modules may use its stored configuration) and daily_quota
        (vendor look-ups a UTC day, for all workers together; 0: none)."""
        self.service.operation(name)
        checked: dict[str, Any] = {}
        for flag in ("enabled", "misp_allowed"):
            if flag in values:
                checked[flag] = int(bool(values[flag]))
        if "max_tlp" in values:
            checked["max_tlp"] = tlp_name(values["max_tlp"])
        if "cache_ttl" in values:
            ttl = values["cache_ttl"]
            if not isinstance(ttl, int) or isinstance(ttl, bool) or not 0 <= ttl <= 30 * 86400:
                raise ConfigError("cache_ttl is a number of seconds from 0 (off) to 2592000")
            checked["cache_ttl"] = ttl
        if "daily_quota" in values:
            quota = values["daily_quota"]
            if not isinstance(quota, int) or isinstance(quota, bool) or not 0 <= quota <= MAX_QUOTA:
                raise ConfigError(
                    f"daily_quota is a number of look-ups a day from 0 (none) to {MAX_QUOTA}"
                )
            checked["daily_quota"] = quota
        known = {"enabled", "max_tlp", "cache_ttl", "misp_allowed", "daily_quota"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"unknown setting(s) {', '.join(unknown)}; expected {', '.join(sorted(known))}"
            )
        self.store.save_settings(name, **checked)
        self.store.audit(user.name, "settings", name, json.dumps(checked, sort_keys=True))
        return self.operation_view(name)

    def _check_references(self, stored: StoredConfig) -> None:
        """Refuse secrets given by reference unless they name a file inside a directory the
        host was started with (never the data directory: its key and database): whoever
        configures over REST must not make the host read its own files or environment and
        send them to a vendor. Checked when entered, and again before each use (a reference
        stored before the host was started without that directory)."""
        entered = stored.to_json()
        problems = []
        allowed = [d for d in self.secrets_dirs if not _inside(self.data, d)]
        for name in stored.manifest.secret_fields:
            raw = entered.get(name)
            reason = refused_reference(raw, allowed)
            ours = (
                isinstance(raw, str)
                and raw.startswith("file:")
                and _inside(Path(raw[5:]).expanduser(), self.data)
            )
            if reason is None and ours:
                reason = "refers to a file in the host's data directory"
            if reason is not None:
                field = stored.manifest.config_field(name)
                problems.append(f"{field.label if field else name} {reason} @ $.config.{name}")
        if problems:
            raise ConfigError(f"{stored.manifest.label} configuration is invalid", tuple(problems))

    def _configure(self, name: str) -> ConfiguredOperation:
        return self.service.configure(name, self._resolved(name), pool_size=self.worker.concurrency)

    def _resolved(self, name: str) -> Config:
        """An operation's stored configuration, its references checked, resolved for a run."""
        stored = self.config(name)
        self._check_references(stored)
        return stored.resolve()

    def test_connection(
        self, name: str, user: User, values: Optional[Mapping[str, Any]] = None
    ) -> ConnectionReport:
        """Test Connection of the stored configuration, or of ``values`` entered over it (a
        form's values before they are saved; the mask keeps a stored secret), storing
        nothing. A configuration that cannot be tested raises its ConfigError, audited."""
        entered = "" if values is None else "entered values, "
        try:
            stored = self.config(name)
            if values is not None:
                stored = stored.updated(values)
            self._check_references(stored)
            spec = self.installer.runner_spec(name)
            if spec is not None:  # an upload's code is tested in a runner, never here
                report = self.runners.test_connection(spec, stored.resolve())
            else:
                report = self.service.test_connection(name, stored)
        except ConfigError:
            self.store.audit(user.name, "test-connection", name, f"{entered}configuration invalid")
            raise
        outcome = "ok" if report.ok else "failed"
        self.store.audit(user.name, "test-connection", name, entered + outcome)
        return report

    # -- indicators ------------------------------------------------------------------------

    def add_indicators(
        self, items: Sequence[Mapping[str, Any]], user: User, source: str = "analyst"
    ) -> list[dict[str, Any]]:
        """Check and store indicators; each gets a row: its id, or its one-line error."""
        if len(items) > MAX_INDICATORS_PER_CALL:
            raise ConfigError(f"at most {MAX_INDICATORS_PER_CALL} indicators per call")
        checked: list[tuple[int, tuple[str, str, str, str, str]]] = []
        out: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            if item.get("error"):
                out.append({"index": index, "error": str(item["error"])})
                continue
            try:
                kind, value, note = _checked_indicator(item.get("type"), item.get("value"))
                tlp = tlp_name(item.get("tlp"))
            except (InputError, ConfigError) as exc:
                out.append({"index": index, "error": " ".join(str(exc).split())})
                continue
            checked.append((index, (kind, value, tlp, note, source)))
            out.append({"index": index})
        ids = self.store.add_indicators([row for _, row in checked], user.name)
        for (index, row), (indicator_id, created) in zip(checked, ids):
            if not created:
                self._raise_tlp(indicator_id, row[2])
            out[index].update(
                {"id": indicator_id, "type": row[0], "value": row[1], "created": created}
            )
            if row[3]:
                out[index]["note"] = row[3]
        added = sum(1 for _, created in ids if created)
        self.store.audit(user.name, "add-indicators", "indicators", f"{added} added")
        return out

    def indicator_view(self, indicator_id: int) -> Optional[dict[str, Any]]:
        row = self.store.indicator(indicator_id)
        if row is None:
            return None
        return {**_indicator_row(row), "attributes": self.store.indicator_attributes(indicator_id)}

    def import_results(self, job_id: int, seqs: Optional[Iterable[int]], user: User) -> int:
        """Add what a job's results found to the indicator store; how many indicators were
        new (:meth:`import_summary` says what else it did)."""
        return int(self.import_summary(job_id, seqs, user)["new"])

    def import_summary(
        self,
        job_id: int,
        seqs: Optional[Iterable[int]],
        user: User,
        only: Optional[tuple[str, str]] = None,
    ) -> dict[str, Any]:
        """Add what a job's results found to the indicator store, the operation as source,
        each with its TLP (a stored one is never lowered); ``only`` (type, value) takes just
        that found indicator. A found value the platform's own checks refuse (an "FQDN"
        holding "/") is not stored. Counts of ``new`` indicators, ``attributes`` added and
        ``refused`` values, and the ``indicators`` (ids) it added to."""
        job = self.store.job(job_id)
        if job is None:
            raise ConfigError(f"no job {job_id}")
        label = self.service.operation(job["operation"]).manifest.label
        wanted = None if seqs is None else set(seqs)
        added = attributes_added = refused = 0
        touched: list[int] = []
        searched = {i["seq"]: i["tlp"] for i in self.store.job_inputs(job_id, 1_000_000)}
        _, rows = self.store.results(job_id, None, 0, 1_000_000)
        for row in rows:
            if wanted is not None and row["seq"] not in wanted:
                continue
            for found in json.loads(row["result"]).get("indicators", []):
                if only is not None and (found.get("type"), found.get("value")) != only:
                    continue
                try:
                    kind, value, _ = _checked_indicator(found.get("type"), found.get("value"))
                except (InputError, ConfigError):
                    refused += 1
                    continue
                tlp = str(_found_tlp(found, searched.get(row["seq"])))
                ((indicator_id, created),) = self.store.add_indicators(
                    [(kind, value, tlp, "", label)], user.name
                )
                if not created:
                    self._raise_tlp(indicator_id, tlp)
                added += created
                attributes = [
                    (a["name"], a["value"], a.get("published_at"))
                    for a in found.get("attributes", [])
                ]
                attributes_added += self.store.add_attributes(
                    indicator_id, attributes, label, tlp, job_id
                )
                if indicator_id not in touched:
                    touched.append(indicator_id)
        detail = f"{added} new indicators, {attributes_added} attributes"
        self.store.audit(user.name, "import-results", f"job {job_id}", detail)
        return {
            "new": added,
            "attributes": attributes_added,
            "refused": refused,
            "indicators": touched,
        }

    def _raise_tlp(self, indicator_id: int, tlp: str) -> None:
        """A stored indicator takes ``tlp`` when that is stricter than its own (a TLP is
        never lowered by adding the value again)."""
        row = self.store.indicator(indicator_id)
        if row is not None and Tlp.parse(tlp) > Tlp.parse(row["tlp"]):
            self.store.set_indicator_tlp(indicator_id, Tlp.parse(tlp).value)

    # -- jobs ------------------------------------------------------------------------------

    def create_job(
        self,
        operation: str,
        action: str,
        options: Mapping[str, Any],
        indicator_ids: Optional[Sequence[int]],
        inputs: Optional[Sequence[Mapping[str, Any]]],
        user: User,
        config: Optional[StoredConfig] = None,
        *,
        refuse_blocked: bool = False,
    ) -> dict[str, Any]:
        """Queue a job and start it; ``config`` is a configuration the request carried (the
        job then runs with it instead of the stored one). With ``refuse_blocked`` (every way
        in), a request that is otherwise sound is refused (409) while the operation is
        disabled or not configured, rather than queued to fail (:meth:`refuse_blocked`)."""
        # options are checked as the run will check them, against the configuration it
        # will run with: an option that configuration does not take is refused now
        self.service.check_options(operation, action, options, config or self.config(operation))
        # distinct ids (each indicator a distinct value) or inputs over the limit alone: refused
        # before each id is looked up
        given = (
            {str(i) for i in indicator_ids or ()},
            {(str(i.get("type", "")), str(i.get("value", ""))) for i in inputs or ()},
        )
        self.jobs.check_size(max(map(len, given)), user, f"{operation}.{action}")
        rows: list[tuple[str, str, str, Optional[int]]] = []
        if indicator_ids is not None:
            for indicator_id in indicator_ids:
                row = self.store.indicator(int(indicator_id))
                if row is None:
                    raise LookupError(f"no indicator with id {indicator_id}")
                rows.append((row["type"], row["value"], row["tlp"], row["id"]))
        for item in inputs or ():
            rows.append(
                (
                    str(item.get("type", "")),
                    str(item.get("value", "")),
                    tlp_name(item.get("tlp")),
                    None,
                )
            )
        if not rows:
            raise ConfigError("a job needs indicator_ids or inputs")
        if refuse_blocked:  # after the request's own problems, which its sender can fix
            self.refuse_blocked(operation, carried=config is not None)
        # a password-type option is stored sealed, as a configuration's secrets are
        sealed = self.vault.seal(options, self._password_options(operation, action))
        run: dict[str, Any] = {"operation": operation, "action": action, "options": sealed}
        if config is not None:  # sealed as a stored configuration is, dropped when it ends
            secret_fields = self.service.operation(operation).manifest.secret_fields
            run["carried"] = json.dumps(self.vault.seal(config.to_json(), secret_fields))
        job_id = self.jobs.queue(run, rows, user)  # within the caller's limits, or refused
        self.store.audit(
            user.name, "run", f"{operation}.{action}", f"job {job_id}, {len(rows)} inputs"
        )
        self.jobs.start(job_id)
        return self.job(job_id)

    def job(self, job_id: int) -> dict[str, Any]:
        row = self.store.job(job_id)
        if row is None:
            raise LookupError(f"no job {job_id}")
        hidden = self._password_options(row["operation"], row["action"])
        return job_view(row, self.jobs.running(job_id), hidden)

    def _password_options(self, operation: str, action: str) -> tuple[str, ...]:
        """The action's password-type options (shown masked even where a job stored before
        they were sealed holds one in clear); none for an operation no longer installed."""
        try:
            spec = self.service.describe(operation).action(action)
        except ValueError:
            return ()
        return tuple(option.name for option in spec.options if option.secret)

    def resume(self, job_id: int, user: User) -> dict[str, Any]:
        row = self.store.job(job_id)
        if row is None:
            raise LookupError(f"no job {job_id}")
        if self.jobs.running(job_id):
            raise ConfigError(f"job {job_id} is running")
        if row["status"] not in ("interrupted", "cancelled", "failed"):
            raise ConfigError(
                f"job {job_id} is {row['status']}; only an interrupted, cancelled "
                "or failed job can be resumed"
            )
        why, missing = self.blocked(row["operation"])
        if why:  # it would only fail again: say what an admin must do first
            label = self.service.describe(row["operation"]).label
            lacks = f" ({'; '.join(missing)})" if missing else ""
            fix = "enable" if why == "disabled" else "configure"
            raise ConfigError(
                f"job {job_id} cannot resume while {label} is {why}{lacks}: an admin can {fix} it"
            )
        self.jobs.requeue(job_id, row["created_by"], user)  # within its owner's open jobs
        self.store.audit(user.name, "resume", f"job {job_id}")
        self.jobs.start(job_id)
        return self.job(job_id)


def _alive(pid: int) -> bool:
    """Whether a process of this machine is running (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or inside it, links followed."""
    resolved, root = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath((resolved, root)) == root


def _found_tlp(found: Mapping[str, Any], searched: Optional[str]) -> Tlp:
    """The TLP a found indicator is added with: the strictest of its record's (its sources'
    TLP, the default when the record gives none) and the searched input's (what a search
    under RED learnt is not shared more widely than the search)."""
    levels = []
    for source in found.get("sources") or ():
        tlp = source.get("tlp") if isinstance(source, Mapping) else None
        name = tlp.get("name") if isinstance(tlp, Mapping) else tlp
        if name:
            try:
                levels.append(Tlp.parse(name))
            except ConfigError:  # a level no one knows: the strictest, never a lower one
                levels.append(Tlp.RED)
    if not levels:
        levels.append(DEFAULT)
    if searched:
        levels.append(Tlp.parse(searched))
    return Tlp.strictest(levels)


def _checked_indicator(kind: Any, value: Any) -> tuple[str, str, str]:
    """(type, value, note): the platform's type name and the value as it is searched."""
    if not isinstance(kind, str) or not isinstance(value, str) or not value.strip():
        raise InputError("an indicator needs a type and a value (text)")
    indicator = Indicator(value=value, type=IndicatorType.from_name(kind))
    checked = Service.check_indicator(indicator)
    found = checked.indicator
    return found.type.value, found.value, "; ".join(checked.notes)


def parse_indicator_csv(data: Union[str, bytes], source: str = "CSV") -> list[dict[str, Any]]:
    """``type,value[,tlp]`` rows (a header line is optional) as indicator items, each with
    its ``line`` in the file (the header is line 1); a row that cannot be read is an item
    with its one-line ``error``, and the others go on. A file that is no CSV at all is one
    such item."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    items: list[dict[str, Any]] = []
    try:
        rows = Service.indicator_rows(io.BytesIO(raw), source, header_required=False)
        for row in rows:
            if row.error is not None:
                items.append({"error": row.error, "line": row.line})
            else:
                items.append(
                    {"type": row.type, "value": row.value, "tlp": row.tlp, "line": row.line}
                )
            if len(items) > MAX_INDICATORS_PER_CALL:
                break  # add_indicators refuses the call; no need to read further
    except ConfigError as exc:
        items.append({"error": str(exc)})
    return items


def _indicator_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "type", "value", "tlp", "note", "source", "created_at")}

"""Installing integrations on the host: check an uploaded file, decide (install, upgrade,
refuse), report what an upgrade changes, activate it without a restart, and remove it.

The files are checked by :mod:`.wheel` and kept by :mod:`.files` under the data directory;
the store remembers which version of each operation is active, so a restart loads the same
ones again.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal, Optional

from packaging.version import InvalidVersion, Version

from tqops.errors import ConfigError, OperationError
from tqops.server.integrations.files import InstalledIntegration, Integrations
from tqops.server.integrations.wheel import IntegrationError, check_wheel
from tqops.server.runners import RunnerSpec
from tqops.server.users import User
from tqops.service import Manifest, Service

if TYPE_CHECKING:
    from tqops.server.host import Host

__all__ = ["Decision", "Installer", "upgrade_findings", "version_decision"]

log = logging.getLogger("tqops.server.integrations")

Decision = Literal["install", "upgrade"]


class Installer:
    """The integrations uploaded to one host."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.files = Integrations(host.data / "integrations", host.runners)
        #: the store's integrations as this process last loaded them
        self._loaded: dict[str, tuple[str, str]] = {}
        #: the uploads that failed to load here (name -> why, one line), listed as broken
        self.failed: dict[str, str] = {}
        #: what a runner needs of each loaded upload, by operation name
        self._specs: dict[str, RunnerSpec] = {}

    def runner_spec(self, name: str) -> Optional[RunnerSpec]:
        """How to run operation ``name`` in a runner: an upload's; None for one installed with
        tqops (its code is tqops' own, run in the worker)."""
        return self._specs.get(name)

    def _add(self, installed: InstalledIntegration, operation: Any) -> None:
        self.host.registry.add(operation)
        self._specs[installed.name] = installed.runner_spec(operation.manifest.label)

    def load_all(self) -> list[str]:
        """At start: activate the uploaded versions the store says are active. One that fails
        to load is reported (in the log and the listing) and the others go on."""
        problems: list[str] = []
        failed: dict[str, str] = {}
        rows = self.host.store.integrations()
        for row in rows:
            try:  # from this data directory, installed here first from the store's copy
                installed = self.files.present(row, self.host.store)
                self._add(installed, self.files.load(installed))
            except (ValueError, OperationError) as exc:
                self.host.registry.remove(row["name"])  # never a version the store replaced
                self._specs.pop(row["name"], None)
                problems.append(f"{row['name']}: {exc}")
                failed[row["name"]] = " ".join(str(exc).split())
                log.error("integration %s was not loaded: %s", row["name"], exc)
        self._loaded = {row["name"]: (row["path"], row["sha256"]) for row in rows}
        self.failed = failed
        return problems

    def refresh(self) -> None:
        """What another process of the same store installed, upgraded or removed since this
        one last looked (a worker between two slices): loaded, or forgotten."""
        rows = self.host.store.integrations()
        now = {row["name"]: (row["path"], row["sha256"]) for row in rows}
        if now == self._loaded:
            return
        for name in set(self._loaded) - set(now):
            self.host.registry.remove(name)
            self._specs.pop(name, None)
            self.host.pools.invalidate(name)
        for name in {n for n in now if now[n] != self._loaded.get(n)}:
            self.host.pools.invalidate(name)
        self.load_all()

    def uploaded(self, name: str) -> Optional[dict[str, Any]]:
        return next((r for r in self.host.store.integrations() if r["name"] == name), None)

    def install(
        self, data: bytes, filename: str, user: User, *, confirm: bool = False, force: bool = False
    ) -> dict[str, Any]:
        """Check and install an integration file. Another version of an installed operation
        answers with the upgrade report and is installed only when ``confirm`` is given."""
        checked = check_wheel(data, filename)
        registry = self.host.registry
        current = registry.operations.get(checked.name)
        row = self.uploaded(checked.name)
        if current is None:
            same = False
        elif row is not None:
            same = row["sha256"] == checked.sha256
        else:  # installed with tqops itself: the same manifest is the same integration
            same = current.manifest == checked.manifest
        old_version = current.manifest.version if current is not None else None
        decision = version_decision(
            old_version, checked.version, same, force, name=checked.manifest.label
        )
        report = None
        if current is not None and decision == "upgrade":
            findings = upgrade_findings(current.manifest, checked.manifest)
            report = {
                "from": old_version,
                "to": checked.version,
                "changes": [
                    {"what": c.what, "text": c.text or c.what, "needs_action": c.needs_action}
                    for c in findings
                ],
                "needs_action": sum(1 for c in findings if c.needs_action),
            }
            if not (confirm or force):  # forcing is a confirmation
                return {
                    "installed": False,
                    "operation": checked.name,
                    "version": checked.version,
                    "upgrade": report,
                    "confirm": "upload again with ?confirm=true to install this version",
                }
        installed, operation = self.files.activate(checked, data)
        self.host.store.save_integration(  # with the file, for every host and worker
            checked.name, checked.version, str(installed.path), checked.sha256, user.name, data
        )
        self._add(installed, operation)
        self.host.pools.invalidate(checked.name)
        if row is not None and row["path"] != str(installed.path):
            self._discard(row)
        action = "upgrade" if report else "install"
        self.host.store.audit(user.name, action, checked.name, f"version {checked.version}")
        return {
            "installed": True,
            "operation": checked.name,
            "version": checked.version,
            "upgrade": report,
        }

    def _discard(self, row: dict[str, Any]) -> None:
        try:  # this data directory's copy (the row may name another node's)
            installed = self.files.installed_for(row)
            if installed is not None:
                self.files.remove(installed)
        except IntegrationError as exc:
            log.warning("the replaced version of %s stays on disk: %s", row["name"], exc)

    def remove(self, name: str, user: User) -> dict[str, Any]:
        """Remove an uploaded integration (an operation installed with tqops shows again)."""
        row = self.uploaded(name)
        if row is None:
            if name in self.host.registry.operations:
                raise IntegrationError(
                    f"{name} was installed with tqops itself, not uploaded; disable it instead",
                    409,
                )
            raise LookupError(f"no integration named {name[:60]!r}")
        if any(self.host.jobs.running(job["id"]) for job in self.host.store.jobs(0, 500)
               if job["operation"] == name):  # fmt: skip
            raise ConfigError(f"{name} has a job running; cancel it first")
        self.host.registry.remove(name)
        self._specs.pop(name, None)
        self.host.pools.invalidate(name)
        self.host.store.remove_integration(name)
        self._discard(row)
        self.host.store.audit(user.name, "remove", name, f"version {row['version']}")
        return {"removed": name, "version": row["version"]}


def upgrade_findings(old: Manifest, new: Manifest) -> list[Any]:
    """What installing ``new`` over ``old`` changes for an admin (``tqops upgrade-check``):
    :class:`tqops.publishing.upgrade.Change` entries, through the service."""
    return list(Service.upgrade_report(old, new).changes)


def version_decision(
    old_version: Optional[str],
    new_version: str,
    same_content: bool,
    force: bool,
    *,
    name: str = "the operation",
) -> Decision:
    """``"install"`` when none is installed (or this very file is); ``"upgrade"`` for another
    version: answer with :func:`upgrade_findings` and install only when confirmed. The same
    version with other content, or an older one, is refused (409) unless ``force``."""
    if old_version is None:
        return "install"
    try:
        old, new = Version(old_version), Version(new_version)
    except InvalidVersion as exc:
        raise IntegrationError(f"{name}: {exc}; versions are compared as PEP 440") from None
    if new == old and same_content:
        return "install"
    if new > old or force:
        return "upgrade"
    if new == old:
        raise IntegrationError(
            f"{name} {new_version} is installed already with other content; give the new build "
            "a higher version, or force the replacement",
            409,
        )
    raise IntegrationError(
        f"{name} {new_version} is older than the installed {old_version}; force the "
        "downgrade if it is meant",
        409,
    )

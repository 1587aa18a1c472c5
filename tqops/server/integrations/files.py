"""Integration files on disk: extract a checked wheel, describe it, remove it; and install the
file the store keeps of an upload when this data directory has not got it.

An installed integration lives in ``<root>/<name>/<version>-<sha256[:12]>/`` (its package, its
dist-info and the wheel itself), never in site-packages. The host never imports it: it reads
the manifest, samples and change log as data (:meth:`Integrations.load`), and its code runs in
runner processes (:mod:`tqops.server.runners`), which get the wheel itself.

The store keeps each upload's file beside its row, so every host and worker of a store (each
with a data directory of its own, on any machine) installs what was uploaded to any one of
them: :meth:`Integrations.present` installs it from the store's copy, checked again as an
upload is (its SHA-256 must be the row's, and :func:`~.wheel.check_wheel` must pass).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional, Protocol

import attrs
from packaging.version import Version

from tqops.errors import ManifestError, OperationError
from tqops.server.integrations.wheel import (
    FILE_NAME,
    CheckedWheel,
    IntegrationError,
    Source,
    check_wheel,
    dist_info_of,
    inflate,
    read_upload,
)
from tqops.server.runners import RunnerFailed, Runners, RunnerSpec
from tqops.service import Operation, Service

__all__ = ["InstalledIntegration", "Integrations", "WheelStore"]

log = logging.getLogger("tqops.server.integrations")

RECORD_FILE = "integration.json"
_SHA = re.compile(r"[0-9a-f]{64}")
_REBUILD = "rebuild it with `tqops bundle`"


@attrs.frozen
class InstalledIntegration:
    """An integration on disk: ``path`` holds its package, its dist-info and its wheel."""

    name: str
    version: str
    package: str
    sha256: str
    path: Path

    @property
    def package_dir(self) -> Path:
        return self.path / self.package

    @property
    def wheel(self) -> Path:
        """The integration file itself (what a runner is given)."""
        return self.path / f"tq_op_{self.name}-{self.version}-py3-none-any.whl"

    def runner_spec(self, label: str) -> RunnerSpec:
        """What a runner needs to run it."""
        return RunnerSpec(self.name, label, self.version, self.package, self.sha256, self.wheel)

    @classmethod
    def read(cls, path: Path) -> InstalledIntegration:
        """The integration installed in ``path``; a ``ValueError`` if it is not one."""
        try:
            raw = json.loads((path / RECORD_FILE).read_text(encoding="utf-8"))
            found = cls(raw["name"], raw["version"], raw["package"], raw["sha256"], path)
            Version(found.version)
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path} holds no installed integration: {exc}") from None
        if not (
            FILE_NAME.fullmatch(f"tq_op_{found.name}-{found.version}-py3-none-any.whl")
            and found.package.isidentifier()
            and _SHA.fullmatch(found.sha256)
        ):
            raise ValueError(f"{path}/{RECORD_FILE} is not one tqops wrote")
        return found


class WheelStore(Protocol):
    """Where the uploaded integrations' files are kept for every node (the store)."""

    def integration_wheel(self, name: str, sha256: str) -> Optional[bytes]: ...

    def keep_integration_wheel(self, name: str, sha256: str, wheel: bytes) -> bool: ...


def _filename_of(name: str, version: str, sha256: str) -> Optional[str]:
    """The integration file a store's row names; None when the row is not one tqops wrote
    (its name or version would lead out of the data directory, its digest is no SHA-256)."""
    filename = f"tq_op_{name}-{version}-py3-none-any.whl"
    return filename if FILE_NAME.fullmatch(filename) and _SHA.fullmatch(sha256) else None


class Integrations:
    """The integrations installed under ``root`` (``<data>/integrations``)."""

    def __init__(self, root: Path, runners: Runners) -> None:
        self.root = Path(root)
        #: where an upload's code is imported to check it (never this process)
        self.runners = runners
        self._lock = threading.RLock()

    def _target(self, checked: CheckedWheel) -> Path:
        return self.root / checked.name / f"{checked.version}-{checked.sha256[:12]}"

    def install(self, checked: CheckedWheel, data: Source) -> InstalledIntegration:
        """Extract ``checked``'s package (with its dist-info and the wheel itself) into
        ``root/<name>/<version>-<sha12>/`` atomically; the same content again is a no-op."""
        where = checked.filename
        try:
            payload = read_upload(data, checked.size, where)
        except IntegrationError as exc:
            if exc.status != 413:
                raise
            payload = b""  # larger than when it was checked
        if hashlib.sha256(payload).hexdigest() != checked.sha256:
            raise IntegrationError(f"{where} changed after it was checked; upload it again")
        target = self._target(checked)
        installed = InstalledIntegration(
            checked.name, checked.version, checked.package, checked.sha256, target
        )
        if (target / RECORD_FILE).is_file():
            return installed
        record = attrs.asdict(installed, filter=lambda a, _: a.name != "path")
        record.update(wheel=where, size=checked.size)
        keep = (f"{checked.package}/", f"{dist_info_of(checked.name, checked.version)}/")
        try:
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=self.root))
            try:
                with zipfile.ZipFile(io.BytesIO(payload)) as archive:
                    for info in archive.infolist():
                        if info.filename.startswith(keep) and not info.is_dir():
                            file = staging.joinpath(*info.filename.split("/"))
                            file.parent.mkdir(parents=True, exist_ok=True)
                            file.write_bytes(inflate(archive, info, info.file_size, where))
                (staging / where).write_bytes(payload)
                (staging / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n")
                for path in [staging, *staging.rglob("*")]:
                    path.chmod(0o700 if path.is_dir() else 0o600)  # the data directory's own
                try:
                    os.replace(staging, target)
                except OSError:
                    if not (target / RECORD_FILE).is_file():  # else: installed meanwhile
                        raise
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        except OSError as exc:
            raise IntegrationError(
                f"cannot install {checked.name} {checked.version} under {self.root}: "
                f"{exc.strerror or exc}; check the data directory's space and permissions",
                507,
            ) from None
        return installed

    def present(self, row: Mapping[str, Any], store: WheelStore) -> InstalledIntegration:
        """The integration a store's row names (``name``, ``version``, ``sha256``;
        ``wheel_size`` None when the store keeps no file of it), installed in this data
        directory: the copy here when it has the row's SHA-256, else the file the store keeps,
        checked again as an upload is and installed here (0700/0600, as an upload). A row
        from before the store kept files gets this node's copy. An :class:`IntegrationError`
        (one line) when neither is there or the store's copy is not the row's."""
        name, version, sha256 = str(row["name"]), str(row["version"]), str(row["sha256"])
        label = f"integration {name[:40]} {version[:40]}"
        filename = _filename_of(name, version, sha256)
        if filename is None:
            raise IntegrationError(f"{label} has a row in the store that tqops did not write")
        here = self.installed_for(row)
        if here is not None and here.sha256 == sha256:
            if row.get("wheel_size") is None:  # a row from before: the store gets this copy
                self._give(here, store)
            return here
        data = store.integration_wheel(name, sha256)
        if data is None:
            raise IntegrationError(
                f"{label} is not in this data directory and the store keeps no file of it "
                "(it was uploaded before the store kept them, or changed meanwhile); upload it "
                "again"
            )
        if hashlib.sha256(data).hexdigest() != sha256:
            raise IntegrationError(
                f"{label}: the file the store keeps is not the one uploaded (its SHA-256 "
                "differs); upload it again"
            )
        checked = check_wheel(data, filename)
        if (checked.name, checked.version) != (name, version):  # the file name says so
            raise IntegrationError(f"{label}: the file the store keeps is {checked.filename}")
        if here is not None:  # another content under the same short digest: replaced
            self.remove(here)
        return self.install(checked, data)

    def installed_for(self, row: Mapping[str, Any]) -> Optional[InstalledIntegration]:
        """What this data directory holds where a store's row's version would be installed
        (None: nothing, or a row tqops did not write)."""
        name, version, sha256 = str(row["name"]), str(row["version"]), str(row["sha256"])
        if _filename_of(name, version, sha256) is None:
            return None
        try:
            return InstalledIntegration.read(self.root / name / f"{version}-{sha256[:12]}")
        except ValueError:
            return None

    def _give(self, installed: InstalledIntegration, store: WheelStore) -> None:
        try:
            data = installed.wheel.read_bytes()
            if hashlib.sha256(data).hexdigest() == installed.sha256:
                store.keep_integration_wheel(installed.name, installed.sha256, data)
        except (OSError, OperationError) as exc:  # the store may take it next time
            log.warning("the store did not get %s's file: %s", installed.name, exc)

    def activate(
        self, checked: CheckedWheel, data: Source
    ) -> tuple[InstalledIntegration, Operation]:
        """Install and describe ``checked``, then have a runner import its code and define its
        operation; when either fails, what this call installed is removed again, so a refused
        integration leaves nothing behind."""
        fresh = not (self._target(checked) / RECORD_FILE).is_file()
        installed = self.install(checked, data)
        try:
            operation = self.load(installed)
            self.check(installed, operation)
            return installed, operation
        except IntegrationError:
            if fresh:
                self.remove(installed)
            raise

    def check(self, installed: InstalledIntegration, operation: Operation) -> None:
        """A runner imports the integration and defines its operation; an
        :class:`IntegrationError` (422) says why it cannot."""
        try:
            self.runners.check(installed.runner_spec(operation.manifest.label))
        except RunnerFailed as exc:
            label = f"integration {installed.name} {installed.version}"
            reason = f"{label} {exc.reason}" if exc.reason else str(exc)
            raise IntegrationError(reason, 422) from None

    def load(self, installed: InstalledIntegration) -> Operation:
        """The integration as this process knows it: its manifest and package files, read as
        data (its code is never imported here); an :class:`IntegrationError` naming it when
        they do not read."""
        label = f"integration {installed.name} {installed.version}"
        manifest_file = installed.package_dir / f"{installed.name}.yaml"
        if not manifest_file.is_file() or not installed.wheel.is_file():
            raise IntegrationError(
                f"{label} is not complete in {installed.path}; remove it and upload it again"
            )
        try:
            manifest = Service.load_manifest(manifest_file)
        except ManifestError as exc:
            raise IntegrationError(f"{label} failed to load: {exc}; {_REBUILD}") from None
        if manifest.name != installed.name or manifest.version != installed.version:
            raise IntegrationError(
                f"{label} carries the manifest of {manifest.name} {manifest.version}"
            )
        return Operation.described(manifest, installed.package_dir, installed.package)

    def remove(self, installed: InstalledIntegration) -> None:
        """Unregister the integration's modules and delete its directory."""
        path = installed.path
        if path.resolve() != (self.root / installed.name / path.name).resolve():
            raise IntegrationError(f"{path} is not an integration under {self.root}")
        with self._lock:
            if path.is_dir():
                trash = Path(tempfile.mkdtemp(prefix=".removing-", dir=self.root))
                os.replace(path, trash / path.name)
                shutil.rmtree(trash, ignore_errors=True)
            with contextlib.suppress(OSError):  # not empty: other versions stay
                path.parent.rmdir()

    def installed_integrations(self) -> list[InstalledIntegration]:
        """What is installed on disk (to load again at start), by name then version."""
        found = []
        for record in self.root.glob(f"[!.]*/[!.]*/{RECORD_FILE}"):
            try:
                found.append(InstalledIntegration.read(record.parent))
            except ValueError as exc:
                log.warning("skipping %s", exc)
        return sorted(found, key=lambda i: (i.name, Version(i.version), i.sha256))

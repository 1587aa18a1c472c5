"""Integration files on disk: extract a checked wheel, describe it, remove it.

An installed integration lives in ``<root>/<name>/<version>-<sha256[:12]>/`` (its package, its
dist-info and the wheel itself), never in site-packages. The host never imports it: it reads
the manifest, samples and change log as data (:meth:`Integrations.load`), and its code runs in
runner processes (:mod:`tqops.server.runners`), which get the wheel itself.
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
from pathlib import Path

import attrs
from packaging.version import Version

from tqops.errors import ManifestError
from tqops.server.integrations.wheel import (
    FILE_NAME,
    CheckedWheel,
    IntegrationError,
    Source,
    dist_info_of,
    inflate,
    read_upload,
)
from tqops.server.runners import RunnerFailed, Runners, RunnerSpec
from tqops.service import Operation, Service

__all__ = ["InstalledIntegration", "Integrations"]

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

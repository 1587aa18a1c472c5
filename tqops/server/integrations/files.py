"""Integration files on disk: extract a checked wheel, import it, remove it.

An installed integration lives in ``<root>/<name>/<version>-<sha256[:12]>/`` (its package, its
dist-info and the wheel itself), never in site-packages, and is imported under a module name
of its own: two versions load side by side and none needs a restart.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import zipfile
from pathlib import Path

import attrs
from packaging.version import Version

from tqops.errors import ManifestError, OperationError
from tqops.server.integrations.wheel import (
    FILE_NAME,
    CheckedWheel,
    IntegrationError,
    Source,
    dist_info_of,
    inflate,
    read_upload,
)
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
    def module_name(self) -> str:
        """The name it is imported under (one per content, so versions never clash)."""
        return f"tqops_integration_{self.name}_{self.sha256[:12]}"

    @property
    def package_dir(self) -> Path:
        return self.path / self.package

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


def _unregister(module_name: str) -> None:
    for key in [k for k in sys.modules if k == module_name or k.startswith(f"{module_name}.")]:
        del sys.modules[key]


def _named(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class Integrations:
    """The integrations installed under ``root`` (``<data>/integrations``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
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
        """Install and load ``checked``; when it fails to load, what this call installed is
        removed again, so a refused integration leaves nothing behind."""
        fresh = not (self._target(checked) / RECORD_FILE).is_file()
        installed = self.install(checked, data)
        try:
            return installed, self.load(installed)
        except IntegrationError:
            if fresh:
                self.remove(installed)
            raise

    def load(self, installed: InstalledIntegration) -> Operation:
        """Import the integration under its own module name and return its ``OPERATION``;
        an :class:`IntegrationError` naming it when it fails (nothing stays registered)."""
        alias = installed.module_name
        label = f"integration {installed.name} {installed.version}"
        with self._lock:
            module = sys.modules.get(alias)
            if module is None:
                init = installed.package_dir / "__init__.py"
                spec = importlib.util.spec_from_file_location(
                    alias, init, submodule_search_locations=[str(installed.package_dir)]
                )
                if spec is None or spec.loader is None or not init.is_file():
                    raise IntegrationError(
                        f"{label} is not complete in {installed.path}; remove it and upload "
                        "it again"
                    )
                module = importlib.util.module_from_spec(spec)
                sys.modules[alias] = module  # first: its relative imports and resources need it
                try:
                    spec.loader.exec_module(module)
                except (Exception, SystemExit) as exc:
                    _unregister(alias)
                    log.debug("%s failed to import", label, exc_info=True)
                    reason = str(exc) if isinstance(exc, OperationError) else _named(exc)
                    for internal, shown in ((alias, installed.package), (f"{installed.path}/", "")):
                        reason = reason.replace(internal, shown)  # the admin's names, not ours
                    raise IntegrationError(
                        f"{label} failed to load: {reason}; fix it and upload a new version"
                    ) from None
            try:
                return Service.exported_operation(module, installed.name)
            except ManifestError as exc:
                _unregister(alias)
                raise IntegrationError(f"{label} failed to load: {exc}; {_REBUILD}") from None

    def remove(self, installed: InstalledIntegration) -> None:
        """Unregister the integration's modules and delete its directory."""
        path = installed.path
        if path.resolve() != (self.root / installed.name / path.name).resolve():
            raise IntegrationError(f"{path} is not an integration under {self.root}")
        with self._lock:
            _unregister(installed.module_name)
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

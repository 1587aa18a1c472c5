"""Integration files: ``tq_op_<name>-<version>-py3-none-any.whl``, built without the network.

The wheel holds the operation's package as installed (its code and its package data: its
manifest, its sample responses, its change log) and the guide rendered from them; the
manifest's version is the wheel's version. Everything comes from the packages themselves,
nothing from a checkout. The runtime an operation imports (``tqops``, the platform SDK, as
``threatqsdk`` is on ThreatQ) is written beside it as ``tqops-<version>-py3-none-any.whl``: two
operation wheels that each carried the runtime would both own ``tqops/`` and ``bin/tqops`` and
clash. Install with ``pip install --find-links DIR DIR/tq_op_<name>-*.whl``. Builds are
reproducible: fixed timestamps, sorted entries.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import zipfile
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Callable

from tqops import __version__
from tqops.errors import ConfigError
from tqops.manifest.document import find_packaged_file
from tqops.operations.operation import Operation
from tqops.publishing.guide import guide_for

__all__ = ["build_operation_wheel", "build_runtime_wheel", "bundle"]

THIRD_PARTY = ("requests>=2.28", "attrs>=22.2", "jsonschema>=4.17", "pyyaml>=6.0")
#: extras of the tqops distribution that only its developers need (not carried by the wheel)
DEVELOPER_EXTRAS = frozenset({"test", "bench"})
_EXTRA = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")
_EPOCH = (2020, 1, 1, 0, 0, 0)
_SKIP = ("__pycache__", ".pyc", ".pyo")


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


class _Wheel:
    def __init__(self, distribution: str, version: str) -> None:
        self.distribution = distribution.replace("-", "_")
        self.version = version
        self.files: dict[str, bytes] = {}

    @property
    def filename(self) -> str:
        return f"{self.distribution}-{self.version}-py3-none-any.whl"

    @property
    def dist_info(self) -> str:
        return f"{self.distribution}-{self.version}.dist-info"

    def add(self, arcname: str, data: bytes) -> None:
        self.files[arcname] = data

    def add_tree(
        self, source: Path, prefix: str, keep: Callable[[Path], bool] = lambda p: True
    ) -> None:
        for path in sorted(source.rglob("*")):
            if path.is_file() and not any(s in str(path) for s in _SKIP) and keep(path):
                self.add(f"{prefix}/{path.relative_to(source).as_posix()}", path.read_bytes())

    def write(
        self, out_dir: Path, metadata: str, entry_points: str, top_level: Iterable[str]
    ) -> Path:
        info = self.dist_info
        self.add(f"{info}/METADATA", metadata.encode())
        self.add(
            f"{info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: tqops bundle\n"
            b"Root-Is-Purelib: true\nTag: py3-none-any\n",
        )
        self.add(f"{info}/entry_points.txt", entry_points.encode())
        self.add(f"{info}/top_level.txt", ("\n".join(sorted(top_level)) + "\n").encode())
        record = [
            f"{name},{_digest(data)},{len(data)}" for name, data in sorted(self.files.items())
        ]
        record.append(f"{info}/RECORD,,")
        self.add(f"{info}/RECORD", ("\n".join(record) + "\n").encode())
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / self.filename
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            names = sorted(n for n in self.files if not n.startswith(info))
            names += sorted(
                n for n in self.files if n.startswith(info) and not n.endswith("RECORD")
            )
            names.append(f"{info}/RECORD")
            for name in names:
                entry = zipfile.ZipInfo(name, date_time=_EPOCH)
                entry.external_attr = 0o644 << 16
                entry.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(entry, self.files[name])
        target.write_bytes(buffer.getvalue())
        return target


def _metadata(
    name: str, version: str, summary: str, requires: Iterable[str], extras: Iterable[str] = ()
) -> str:
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {name}",
        f"Version: {version}",
        f"Summary: {summary}",
        "Requires-Python: >=3.9",
        "License: Apache-2.0",
    ]
    lines += [f"Provides-Extra: {extra}" for extra in extras]
    lines += [f"Requires-Dist: {r}" for r in requires]
    return "\n".join(lines) + "\n"


def runtime_requirements() -> tuple[list[str], list[str]]:
    """The runtime's requirements and extras, as the installed ``tqops`` distribution declares
    them (so ``pip install 'tqops[server]'`` works from the wheel), less the extras only its
    developers need. Without an installed distribution: the bare third-party requirements."""
    try:
        installed = metadata.metadata("tqops")
    except metadata.PackageNotFoundError:
        return list(THIRD_PARTY), []
    extras = [e for e in installed.get_all("Provides-Extra") or [] if e not in DEVELOPER_EXTRAS]
    requires = [
        requirement
        for requirement in installed.get_all("Requires-Dist") or []
        if not set(_EXTRA.findall(requirement)) & DEVELOPER_EXTRAS
    ]
    return requires, extras


def build_runtime_wheel(out_dir: Path) -> Path:
    """The runtime (the platform SDK shim and the ``tqops`` command) as its own wheel."""
    import tqops

    wheel = _Wheel("tqops", __version__)
    wheel.add_tree(Path(tqops.__file__).parent, "tqops")  # with its manifest.schema.json
    requires, extras = runtime_requirements()
    return wheel.write(
        out_dir,
        _metadata(
            "tqops",
            __version__,
            "Runtime of tqops threat-intelligence operations",
            requires,
            extras,
        ),
        "[console_scripts]\ntqops = tqops.cli:main\n",
        ["tqops"],
    )


def build_operation_wheel(operation: Operation, out_dir: Path) -> Path:
    """The operation's integration file: its package (code, manifest, ``samples/``,
    ``CHANGELOG.md``) and the guide rendered from them."""
    manifest = operation.manifest
    package_dir = operation.package_dir
    if package_dir is None or not operation.package:
        raise ConfigError(f"operation {manifest.name!r} does not name its package; cannot bundle")
    package = operation.package
    manifest_file = f"{manifest.name}.yaml"
    find_packaged_file(package, manifest_file)  # a package without its manifest is refused
    wheel = _Wheel(f"tq_op_{manifest.name}", manifest.version)
    wheel.add_tree(package_dir, package)  # links (the checkout's manifest) are read through
    wheel.add(f"{package}/GUIDE.md", guide_for(operation).encode())
    requires = [f"tqops=={__version__}", *THIRD_PARTY]
    return wheel.write(
        out_dir,
        _metadata(
            f"tq-op-{manifest.name.replace('_', '-')}",
            manifest.version,
            f"{manifest.label} operation for ThreatQ-style TIPs",
            requires,
        ),
        f"[tqops.operations]\n{manifest.name} = {package}:OPERATION\n",
        [package],
    )


def bundle(operation: Operation, out_dir: Path) -> list[Path]:
    """Write the operation's integration file and the runtime wheel it needs into ``out_dir``."""
    return [
        build_operation_wheel(operation, out_dir),
        build_runtime_wheel(out_dir),
    ]

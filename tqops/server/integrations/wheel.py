"""Checking an integration file (the wheel ``tqops bundle`` writes) before anything is written.

It must be a wheel whose file name, metadata, entry point and manifest agree; within its size
limits (a zip bomb is refused from its headers, and every member is inflated with a cap rather
than trusted); every member inside its one package or its dist-info, with no link, ``.pth``
file or ``.data`` directory; and the host must have what it requires. Each refusal is one
line saying what is wrong and how to fix it.
"""

from __future__ import annotations

import configparser
import hashlib
import io
import os
import platform
import re
import stat
import tempfile
import zipfile
import zlib
from email.message import Message
from email.parser import HeaderParser
from importlib import metadata
from pathlib import Path
from typing import Optional, Union

import attrs
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from tqops.errors import ConfigError, OperationError
from tqops.service import ENTRY_POINT_GROUP, Manifest, Service

__all__ = [
    "FILE_NAME",
    "CheckedWheel",
    "IntegrationError",
    "Limits",
    "Source",
    "check_wheel",
    "dist_info_of",
    "inflate",
    "read_upload",
]

MB = 1_000_000
#: an upload: its bytes, or the path of the file it was saved to
Source = Union[bytes, str, "os.PathLike[str]"]
#: ``tq_op_<name>-<version>-py3-none-any.whl``
FILE_NAME = re.compile(r"tq_op_([a-z][a-z0-9_]{1,40})-([0-9][0-9A-Za-z.+!_]*)-py3-none-any\.whl")
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+=@-]*")
_REBUILD = "rebuild it with `tqops bundle`"
_RENAMED = "its file name says otherwise: upload it under the name `tqops bundle` gave it"


class IntegrationError(ConfigError):
    """An integration file refused, or an installed one that fails to load: one line saying
    what is wrong and how to fix it; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(" ".join(message.split()))
        self.status = status


@attrs.frozen
class Limits:
    """What an upload may weigh: the file, its members unpacked, their count, their ratio."""

    upload: int = 20 * MB
    unpacked: int = 50 * MB
    members: int = 1000
    #: the largest compression ratio of a member over 64 kB (text packs far below it)
    ratio: int = 200


@attrs.frozen
class CheckedWheel:
    """An integration file that passed every check; nothing of it is written yet."""

    name: str
    version: str
    package: str
    manifest: Manifest
    sha256: str
    requires: tuple[str, ...]
    size: int

    @property
    def filename(self) -> str:
        return f"tq_op_{self.name}-{self.version}-py3-none-any.whl"


def dist_info_of(name: str, version: str) -> str:
    """The dist-info directory of integration ``name`` ``version``."""
    return f"tq_op_{name}-{version}.dist-info"


def _shown(name: str) -> str:
    return repr(name if len(name) <= 80 else name[:77] + "...")


def read_upload(source: Source, limit: int, where: str) -> bytes:
    too_big = f"{where} is larger than the {limit / MB:g} MB an integration file may be"
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        path = Path(source)
        try:
            if path.stat().st_size > limit:
                raise IntegrationError(f"{too_big}; {_REBUILD}", 413)
            data = path.read_bytes()
        except OSError as exc:
            raise IntegrationError(f"cannot read {where}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise IntegrationError(f"{too_big}; {_REBUILD}", 413)
    return data


def _member_problem(info: zipfile.ZipInfo) -> Optional[str]:
    name, mode = info.filename, info.external_attr >> 16
    parts = name.rstrip("/").split("/")
    if (
        info.orig_filename != name
        or "\\" in name
        or name.startswith("/")
        or re.match(r"[A-Za-z]:", name)
        or ".." in parts
    ):
        return f"member {_shown(info.orig_filename)} has a path that leaves its package"
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
        return f"member {_shown(name)} is {kind}"
    if not all(_SEGMENT.fullmatch(part) for part in parts):
        return f"member {_shown(name)} has a name other than letters, digits and ._+=@-"
    if parts[0].endswith(".data"):
        return f"member {_shown(name)} would install scripts or data outside the package"
    if name.endswith(".pth"):
        return f"member {_shown(name)} is a .pth file (code run at every interpreter start)"
    if info.flag_bits & 0x1:
        return f"member {_shown(name)} is encrypted"
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return f"member {_shown(name)} uses compression method {info.compress_type}"
    return None


def inflate(archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, where: str) -> bytes:
    """A member's content, inflated in chunks and never past ``cap`` bytes (headers lie)."""
    chunks, total = [], 0
    try:
        with archive.open(info) as member:
            while chunk := member.read(1 << 16):
                total += len(chunk)
                if total > cap:
                    raise IntegrationError(
                        f"{where} unpacks to more than its limit at {_shown(info.filename)}; "
                        f"{_REBUILD}",
                        413,
                    )
                chunks.append(chunk)
    except IntegrationError:
        raise
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
        raise IntegrationError(
            f"{where} is corrupt at {_shown(info.filename)} ({exc}); {_REBUILD}"
        ) from None
    if total != info.file_size:
        raise IntegrationError(f"{where} is corrupt at {_shown(info.filename)}; {_REBUILD}")
    return b"".join(chunks)


def _members(archive: zipfile.ZipFile, where: str, limits: Limits) -> list[zipfile.ZipInfo]:
    """The archive's members, checked from their headers alone (nothing inflated yet)."""
    infos = archive.infolist()
    if len(infos) > limits.members:
        raise IntegrationError(
            f"{where} has {len(infos)} members, more than the {limits.members} allowed; {_REBUILD}",
            413,
        )
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        raise IntegrationError(f"{where} names a member twice; {_REBUILD}")
    for info in infos:
        problem = _member_problem(info)
        if problem:
            raise IntegrationError(f"{where}: {problem}; {_REBUILD} from a clean package")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > 64_000 and ratio > limits.ratio:
            raise IntegrationError(
                f"{where}: member {_shown(info.filename)} is compressed {ratio:.0f} to 1 "
                f"(at most {limits.ratio} to 1 is allowed: a zip bomb?); {_REBUILD}",
                413,
            )
    unpacked = sum(i.file_size for i in infos)
    if unpacked > limits.unpacked:
        raise IntegrationError(
            f"{where} unpacks to {unpacked / MB:.0f} MB, more than the "
            f"{limits.unpacked / MB:g} MB allowed; {_REBUILD}",
            413,
        )
    return infos


def _text(files: dict[str, bytes], member: str, where: str) -> str:
    if member not in files:
        raise IntegrationError(f"{where} has no {member}: it is not a wheel; {_REBUILD}")
    try:
        return files[member].decode("utf-8")
    except UnicodeDecodeError:
        raise IntegrationError(f"{where}: {member} is not UTF-8 text; {_REBUILD}") from None


def _entry_point(text: str, where: str) -> tuple[str, str]:
    """The one operation entry point: (its name, its module)."""
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # names keep their case
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        first = str(exc).splitlines()[0]
        raise IntegrationError(f"{where}: entry_points.txt does not parse ({first})") from None
    entries = dict(parser[ENTRY_POINT_GROUP]) if parser.has_section(ENTRY_POINT_GROUP) else {}
    if len(entries) != 1:
        raise IntegrationError(
            f"{where} has {len(entries)} entry points in [{ENTRY_POINT_GROUP}]; an integration "
            f"has exactly one, `<name> = <package>:OPERATION`; {_REBUILD}"
        )
    ((name, value),) = entries.items()
    module, _, attribute = (part.strip() for part in value.partition(":"))
    if attribute != "OPERATION" or not module.isidentifier():
        raise IntegrationError(
            f"{where}: entry point {name!r} is {value.strip()!r}, not "
            f"`<package>:OPERATION`; {_REBUILD}"
        )
    return name, module


def _unmet(requires: tuple[str, ...], python: Optional[str], where: str) -> list[str]:
    """What the host lacks of ``requires`` (``extra`` ones skipped, markers evaluated)."""
    missing = []
    try:
        if python and not SpecifierSet(python).contains(platform.python_version()):
            missing.append(f"Python {python} (host has {platform.python_version()})")
        wanted = [Requirement(line) for line in requires]
    except (InvalidRequirement, InvalidSpecifier) as exc:
        raise IntegrationError(f"{where}: METADATA has a bad requirement ({exc})") from None
    for requirement in wanted:
        if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
            continue
        needed = f"{requirement.name}{requirement.specifier}"
        try:
            have = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            missing.append(f"{needed} (not installed)")
            continue
        try:
            met = requirement.specifier.contains(have, prereleases=True)
        except InvalidVersion:
            met = False
        if not met:
            missing.append(f"{needed} (host has {have})")
    return missing


def _manifest(data: bytes, member: str, where: str) -> Manifest:
    """The manifest, read by the runtime's own loader (the one the operation will use)."""
    with tempfile.TemporaryDirectory(prefix="tqops-manifest-") as scratch:
        path = Path(scratch, member.rsplit("/", 1)[-1])
        path.write_bytes(data)
        try:
            return Service.load_manifest(path)
        except OperationError as exc:
            raise IntegrationError(f"{where}: {exc}; fix the manifest and {_REBUILD}") from None


def _metadata(files: dict[str, bytes], name: str, version: str, where: str) -> Message:
    """The wheel's METADATA, once WHEEL says it is a wheel and METADATA agrees with its name."""
    dist_info = dist_info_of(name, version)
    wheel = HeaderParser().parsestr(_text(files, f"{dist_info}/WHEEL", where))
    if not str(wheel.get("Wheel-Version", "")).startswith("1."):
        raise IntegrationError(f"{where}: WHEEL has no Wheel-Version 1.x; {_REBUILD}")
    meta = HeaderParser().parsestr(_text(files, f"{dist_info}/METADATA", where))
    said_name, said_version = str(meta.get("Name")), str(meta.get("Version"))
    if (
        canonicalize_name(said_name) != canonicalize_name(f"tq_op_{name}")
        or said_version != version
    ):
        raise IntegrationError(f"{where}: its METADATA says {said_name} {said_version}; {_RENAMED}")
    return meta


def _package(
    files: dict[str, bytes], infos: list[zipfile.ZipInfo], dist_info: str, name: str, where: str
) -> str:
    """The one package: named by the entry point and top_level.txt, the only top-level entry
    beside the dist-info."""
    entry, package = _entry_point(_text(files, f"{dist_info}/entry_points.txt", where), where)
    top_level = _text(files, f"{dist_info}/top_level.txt", where).split()
    if entry != name or top_level != [package]:
        raise IntegrationError(
            f"{where}: its entry point {entry!r} in package {package!r}, its file name "
            f"({name!r}) and top_level.txt ({' '.join(top_level)!r}) disagree; {_REBUILD}"
        )
    for info in infos:
        top, _, rest = info.filename.partition("/")
        if top not in (package, dist_info):
            kind = "package" if rest else "module"
            raise IntegrationError(
                f"{where}: {_shown(top)} is a second top-level {kind} beside {package!r}; an "
                f"integration holds its one package only; {_REBUILD}"
            )
    if f"{package}/__init__.py" not in {i.filename for i in infos}:
        raise IntegrationError(f"{where}: {package}/__init__.py is missing; {_REBUILD}")
    return package


def check_wheel(
    source: Source, filename: Optional[str] = None, limits: Limits = Limits()
) -> CheckedWheel:
    """Check an uploaded integration file, writing nothing; :class:`IntegrationError` (400,
    or 413 for a size limit) names the first problem and its fix."""
    if filename is None and isinstance(source, (bytes, bytearray)):
        raise IntegrationError("an uploaded integration file needs its file name to be checked")
    where = filename if filename is not None else Path(source).name  # type: ignore[arg-type]
    match = FILE_NAME.fullmatch(where)
    if not match:
        raise IntegrationError(
            f"{_shown(where)} is not named like an integration file "
            "(tq_op_<name>-<version>-py3-none-any.whl); upload the file `tqops bundle` wrote"
        )
    name, version = match.groups()
    try:
        Version(version)
    except InvalidVersion:
        raise IntegrationError(f"{where}: version {version!r} is not a PEP 440 version") from None
    data = read_upload(source, limits.upload, where)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        raise IntegrationError(f"{where} is not a zip file (a wheel); {_REBUILD}") from None
    with archive:
        infos = _members(archive, where, limits)
        budget, files = limits.unpacked, {}
        for info in infos:
            content = inflate(archive, info, budget, where)
            budget -= len(content)
            if ".dist-info/" in info.filename or info.filename.endswith(".yaml"):
                files[info.filename] = content
    dist_info = dist_info_of(name, version)
    found = sorted({i.filename.split("/")[0] for i in infos} - {dist_info})
    found = [top for top in found if top.endswith(".dist-info")]
    if found:
        raise IntegrationError(f"{where}: it holds {found[0]}; {_RENAMED}")
    meta = _metadata(files, name, version, where)
    package = _package(files, infos, dist_info, name, where)
    manifest_member = f"{package}/{name}.yaml"
    if manifest_member not in files:
        raise IntegrationError(f"{where} holds no manifest {manifest_member}; {_REBUILD}")
    manifest = _manifest(files[manifest_member], manifest_member, where)
    if manifest.name != name or manifest.version != version:
        raise IntegrationError(
            f"{where}: its manifest is {manifest.name} {manifest.version}, the wheel "
            f"{name} {version}; {_REBUILD}"
        )
    requires = tuple(str(line) for line in meta.get_all("Requires-Dist") or ())
    missing = _unmet(requires, meta.get("Requires-Python"), where)
    if missing:
        raise IntegrationError(
            f"{where} needs {', '.join(missing)}; install that on the host, or upload a build "
            "made for this host"
        )
    digest = hashlib.sha256(data).hexdigest()
    return CheckedWheel(name, version, package, manifest, digest, requires, len(data))

"""The host's integrations: real wheels from `tqops bundle` are checked, installed under the data
directory, loaded without a restart (two versions side by side) and removed; hostile ones,
crafted with zipfile, are each refused in one line with nothing written under the root."""

from __future__ import annotations

import re
import stat
import struct
import sys
import zipfile
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Callable, Optional

import pytest
from packaging.version import Version

from tqops import ConfigError, OperationError, load_operation
from tqops.publishing.guide import package_changelog
from tqops.server.integrations import (
    CheckedWheel,
    InstalledIntegration,
    IntegrationError,
    Integrations,
    Limits,
    check_wheel,
    upgrade_findings,
    version_decision,
)
from tqops.server.runners import Runners
from tqops.service import Service

NAME = "dcso_tie"
PACKAGE = "dcso_tie_operation"
VERSION = load_operation(NAME).manifest.version
NEXT = f"{Version(VERSION).major + 1}.0.0"  # a later version than the one bundled
DIST_INFO = f"tq_op_{NAME}-{VERSION}.dist-info"
EPOCH = (2020, 1, 1, 0, 0, 0)

Files = dict[str, bytes]


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    for name in ("dcso_tie", "tego"):
        Service().bundle(name, out)
    return out


@pytest.fixture(scope="module")
def runners() -> Iterable[Runners]:
    found = Runners()
    yield found
    found.close()


@pytest.fixture()
def integrations(tmp_path, runners) -> Iterable[Integrations]:
    host = Integrations(tmp_path / "integrations", runners)
    yield host
    for installed in host.installed_integrations():
        host.remove(installed)


def wheel_of(dist: Path, name: str = NAME) -> Path:
    (wheel,) = dist.glob(f"tq_op_{name}-*-py3-none-any.whl")
    return wheel


def members(wheel: Path) -> Files:
    with zipfile.ZipFile(wheel) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def entry(name: str, mode: int = 0o100644) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=EPOCH)
    info.external_attr = mode << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def write(path: Path, files: Files, extra: Iterable[tuple[zipfile.ZipInfo, bytes]] = ()) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(entry(name), data)
        for info, data in extra:
            archive.writestr(info, data)
    return path


def variant(
    dist: Path,
    where: Path,
    change: Optional[Callable[[Files], None]] = None,
    version: str = VERSION,
    filename: Optional[str] = None,
    extra: Iterable[tuple[zipfile.ZipInfo, bytes]] = (),
) -> Path:
    """The real dcso_tie wheel, rewritten: another version, edited members, extra entries."""
    files = {}
    for name, data in members(wheel_of(dist)).items():
        if name.startswith(DIST_INFO):
            name = name.replace(DIST_INFO, f"tq_op_{NAME}-{version}.dist-info")
            data = data.replace(f"Version: {VERSION}\n".encode(), f"Version: {version}\n".encode())
        if name == f"{PACKAGE}/{NAME}.yaml":
            data = re.sub(rb"(?m)^version: .*$", f"version: {version}".encode(), data)
        files[name] = data
    if change:
        change(files)
    return write(where / (filename or f"tq_op_{NAME}-{version}-py3-none-any.whl"), files, extra)


def setting(name: str, data: Optional[bytes]) -> Callable[[Files], None]:
    def change(files: Files) -> None:
        if data is None:
            files.pop(name)
        else:
            files[name] = data

    return change


def with_zeros(path: Path, member: str, megabytes: int) -> Path:
    """Add ``megabytes`` MB of zeros as ``member``, inflated nowhere: written streaming."""
    archive = zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED)
    with archive, archive.open(entry(member), "w") as out:
        for _ in range(megabytes):
            out.write(bytes(1_000_000))
    return path


def lie_about_size(path: Path, member: str, size: int) -> Path:
    """Rewrite the central directory so that ``member`` claims ``size`` bytes unpacked."""
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46 : at + 46 + length] == member.encode():
            struct.pack_into("<I", data, at + 24, size)
        at = data.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(data))
    return path


def refused(host: Integrations, path: Path, limits: Optional[Limits] = None) -> IntegrationError:
    """Upload ``path`` as the host does; the error, once it is shown nothing was left behind."""
    before = set(sys.modules)
    with pytest.raises(IntegrationError) as caught:
        host.activate(check_wheel(path, limits=limits or Limits()), path)
    error = caught.value
    assert isinstance(error, ConfigError)
    assert "\n" not in str(error) and "Traceback" not in str(error)
    assert not host.root.exists() or list(host.root.rglob("*")) == []
    assert [m for m in set(sys.modules) - before if m.startswith("tqops_integration")] == []
    return error


def write_raw(where: Path, data: bytes) -> Path:
    path = where / f"tq_op_{NAME}-{VERSION}-py3-none-any.whl"
    path.write_bytes(data)
    return path


def _ep(*lines: str) -> bytes:
    return ("[tqops.operations]\n" + "".join(f"{line}\n" for line in lines)).encode()


HOSTILE = {
    "not a zip": (lambda d, t: write_raw(t, b"PK\x03\x04 but nothing else"), "not a zip file"),
    "a path that climbs out": (
        lambda d, t: variant(d, t, setting("../../evil.py", b"x = 1\n")),
        "'../../evil.py' has a path that leaves its package",
    ),
    "an absolute path": (
        lambda d, t: variant(d, t, setting("/tmp/evil.py", b"x = 1\n")),
        "leaves its package",
    ),
    "a backslash path": (
        lambda d, t: variant(d, t, setting(f"{PACKAGE}\\..\\evil.py", b"x = 1\n")),
        "leaves its package",
    ),
    "a drive letter": (
        lambda d, t: variant(d, t, setting("C:/evil.py", b"x = 1\n")),
        "leaves its package",
    ),
    "a symlink": (
        lambda d, t: variant(d, t, extra=[(entry(f"{PACKAGE}/passwd", 0o120777), b"/etc/passwd")]),
        "is a symbolic link",
    ),
    "a .pth file": (
        lambda d, t: variant(d, t, setting(f"{PACKAGE}/evil.pth", b"import os\n")),
        ".pth file",
    ),
    "a second top-level module": (
        lambda d, t: variant(d, t, setting("evil.py", b"x = 1\n")),
        "'evil.py' is a second top-level module beside 'dcso_tie_operation'",
    ),
    "a second top-level package": (
        lambda d, t: variant(d, t, setting("requests/__init__.py", b"x = 1\n")),
        "'requests' is a second top-level package",
    ),
    "a .data directory": (
        lambda d, t: variant(d, t, setting(f"tq_op_{NAME}-{VERSION}.data/scripts/x", b"#!")),
        "would install scripts or data outside the package",
    ),
    "no entry point": (
        lambda d, t: variant(d, t, setting(f"{DIST_INFO}/entry_points.txt", b"")),
        "has 0 entry points in [tqops.operations]",
    ),
    "two entry points": (
        lambda d, t: variant(
            d,
            t,
            setting(
                f"{DIST_INFO}/entry_points.txt",
                _ep(f"{NAME} = {PACKAGE}:OPERATION", f"tego = {PACKAGE}:OPERATION"),
            ),
        ),
        "has 2 entry points",
    ),
    "an entry point into another module": (
        lambda d, t: variant(
            d, t, setting(f"{DIST_INFO}/entry_points.txt", _ep(f"{NAME} = os:OPERATION"))
        ),
        "disagree",
    ),
    "no WHEEL": (
        lambda d, t: variant(d, t, setting(f"{DIST_INFO}/WHEEL", None)),
        f"has no {DIST_INFO}/WHEEL: it is not a wheel",
    ),
    "a broken manifest": (
        lambda d, t: variant(d, t, setting(f"{PACKAGE}/{NAME}.yaml", b"name: [unclosed\n")),
        "dcso_tie.yaml is not valid YAML at line",
    ),
    "an invalid manifest": (
        lambda d, t: variant(
            d, t, setting(f"{PACKAGE}/{NAME}.yaml", f"name: {NAME}\nversion: {VERSION}\n".encode())
        ),
        "dcso_tie.yaml is invalid",
    ),
    "no manifest": (
        lambda d, t: variant(d, t, setting(f"{PACKAGE}/{NAME}.yaml", None)),
        f"holds no manifest {PACKAGE}/{NAME}.yaml",
    ),
    "a file name with another version": (
        lambda d, t: variant(d, t, filename=f"tq_op_{NAME}-9.9.9-py3-none-any.whl"),
        f"it holds {DIST_INFO}; its file name says otherwise",
    ),
    "METADATA with another version": (
        lambda d, t: variant(
            d, t, setting(f"{DIST_INFO}/METADATA", b"Name: tq-op-dcso-tie\nVersion: 2.0.0\n")
        ),
        "its METADATA says tq-op-dcso-tie 2.0.0",
    ),
    "a manifest of another version": (
        lambda d, t: variant(
            d,
            t,
            lambda files: files.update(
                {
                    f"{PACKAGE}/{NAME}.yaml": re.sub(
                        rb"(?m)^version: .*$", b"version: 7.0.0", files[f"{PACKAGE}/{NAME}.yaml"]
                    )
                }
            ),
        ),
        f"its manifest is {NAME} 7.0.0, the wheel {NAME} {VERSION}",
    ),
    "not an integration file name": (
        lambda d, t: write(t / "evil.zip", members(wheel_of(d))),
        "'evil.zip' is not named like an integration file",
    ),
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_a_hostile_integration_file_is_refused_in_one_line_and_writes_nothing(
    dist, integrations, tmp_path, case
):
    build, expected = HOSTILE[case]
    error = refused(integrations, build(dist, tmp_path))
    assert expected in str(error)
    assert error.status == 400


def test_a_zip_bomb_is_refused_from_its_headers_without_being_inflated(
    dist, integrations, tmp_path
):
    bomb = with_zeros(variant(dist, tmp_path), f"{PACKAGE}/samples/zeros.json", 200)
    assert bomb.stat().st_size < 2_000_000
    error = refused(integrations, bomb)
    assert error.status == 413 and "zip bomb" in str(error)
    error = refused(integrations, bomb, Limits(ratio=10_000))
    assert error.status == 413
    assert re.search(r"unpacks to 20\d MB, more than the 50 MB allowed", str(error))


def test_a_header_that_lies_about_the_size_is_caught_while_inflating(dist, integrations, tmp_path):
    member = f"{PACKAGE}/samples/zeros.json"
    bomb = lie_about_size(with_zeros(variant(dist, tmp_path), member, 50), member, 1000)
    error = refused(integrations, bomb)
    assert error.status == 400 and f"is corrupt at '{member}'" in str(error)


def test_a_damaged_member_is_refused_as_corrupt(dist, integrations, tmp_path):
    member = f"{PACKAGE}/{NAME}.yaml"
    with zipfile.ZipFile(wheel_of(dist)) as archive:
        info = archive.getinfo(member)
    data = bytearray(wheel_of(dist).read_bytes())
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start : start + 64] = bytes(range(64))  # not a deflate stream
    error = refused(integrations, write_raw(tmp_path, bytes(data)))
    assert error.status == 400 and f"is corrupt at '{member}'" in str(error)


def test_an_integration_too_large_or_with_too_many_members_is_refused_with_413(
    dist, integrations, tmp_path
):
    wheel = wheel_of(dist)
    for limits, expected in (
        (Limits(upload=1000), "is larger than the 0.001 MB an integration file may be"),
        (Limits(unpacked=10_000), "more than the 0.01 MB allowed"),
        (Limits(members=5), "more than the 5 allowed"),
    ):
        error = refused(integrations, wheel, limits)
        assert error.status == 413 and expected in str(error)
    with pytest.raises(IntegrationError, match=r"larger than the 0\.001 MB") as caught:
        check_wheel(wheel.read_bytes(), wheel.name, Limits(upload=1000))
    assert caught.value.status == 413


_METADATA = f"Metadata-Version: 2.1\nName: tq-op-dcso-tie\nVersion: {VERSION}\n"


def test_requirements_the_host_lacks_are_all_listed(dist, integrations, tmp_path):
    metadata_text = _METADATA + (
        "Requires-Dist: tqops==999.0\n"
        "Requires-Dist: surely-absent-distribution>=1\n"
        'Requires-Dist: absent-but-optional>=1; extra == "docs"\n'
        'Requires-Dist: absent-but-for-old-pythons>=1; python_version < "3"\n'
        "Requires-Dist: attrs>=1\n"
    )
    wheel = variant(dist, tmp_path, setting(f"{DIST_INFO}/METADATA", metadata_text.encode()))
    error = refused(integrations, wheel)
    assert (
        f"needs tqops==999.0 (host has {metadata.version('tqops')}), "
        "surely-absent-distribution>=1 (not installed);"
    ) in str(error)
    assert "optional" not in str(error) and "old-pythons" not in str(error)


LOAD_FAILURES = {
    "an exception at import": (
        b"raise RuntimeError('boom at import')\n",
        "RuntimeError: boom at import",
    ),
    "an exception after a submodule loaded": (
        b"from . import client\nraise ValueError('late')\n",
        "ValueError: late",
    ),
    "a syntax error": (b"def broken(:\n", "SyntaxError: invalid syntax (__init__.py, line 1)"),
    "a missing module": (
        b"from .nowhere import thing\n",
        "ModuleNotFoundError: No module named 'dcso_tie_operation.nowhere'",
    ),
    "an exit at import": (b"import sys\nsys.exit(3)\n", "SystemExit: 3"),
    "no OPERATION": (b"OPERATION = 42\n", "its OPERATION is not an Operation (a int object)"),
}


@pytest.mark.parametrize("case", LOAD_FAILURES, ids=list(LOAD_FAILURES))
def test_a_package_that_fails_to_load_is_named_and_leaves_nothing(
    dist, integrations, tmp_path, case
):
    source, expected = LOAD_FAILURES[case]
    error = refused(
        integrations, variant(dist, tmp_path, setting(f"{PACKAGE}/__init__.py", source))
    )
    assert str(error).startswith(f"integration {NAME} {VERSION} failed to load: ")
    assert expected in str(error)


@pytest.mark.parametrize("name", ["dcso_tie", "tego"])
def test_a_bundled_operation_installs_loads_and_maps_its_sample_offline(dist, integrations, name):
    wheel = wheel_of(dist, name)
    checked = check_wheel(wheel)
    assert isinstance(checked, CheckedWheel)
    version = load_operation(name).manifest.version
    assert (checked.name, checked.version, checked.filename) == (name, version, wheel.name)
    assert f"tqops=={metadata.version('tqops')}" in checked.requires
    before = set(sys.modules)
    installed, operation = integrations.activate(checked, wheel)  # a runner imported it
    assert [m for m in set(sys.modules) - before if m.startswith("tqops_integration")] == []
    assert operation.runs_apart and operation.package == installed.package
    assert installed.package_dir.is_relative_to(integrations.root)
    assert operation.manifest == load_operation(name).manifest
    with pytest.raises(OperationError, match="runs in a runner process"):
        operation.configure({})


def test_the_install_holds_the_package_dist_info_and_wheel_with_private_modes(dist, integrations):
    wheel = wheel_of(dist)
    checked = check_wheel(wheel)
    installed = integrations.install(checked, wheel.read_bytes())
    assert installed.path == integrations.root / NAME / f"{VERSION}-{checked.sha256[:12]}"
    assert sorted(p.name for p in installed.path.iterdir()) == sorted(
        [DIST_INFO, "integration.json", PACKAGE, wheel.name]
    )
    assert (installed.path / wheel.name).read_bytes() == wheel.read_bytes()
    for path in [installed.path, *installed.path.rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path
    assert [p.name for p in integrations.root.iterdir()] == [NAME]  # no staging left
    again = integrations.install(checked, wheel)
    assert again == installed and integrations.installed_integrations() == [installed]


def test_the_host_reads_the_package_files_as_data(dist, integrations):
    wheel = wheel_of(dist)
    installed, operation = integrations.activate(check_wheel(wheel), wheel)
    assert package_changelog(operation).startswith("#")
    assert operation.package_dir == installed.package_dir
    guide = Service.of(operation).docs(NAME)
    assert guide == Service().docs(NAME)  # its samples and change log, read from its folder
    assert integrations.load(installed) == operation  # loading again is the same operation


def test_two_versions_load_side_by_side_and_are_removed_one_at_a_time(dist, integrations, tmp_path):
    old_wheel = wheel_of(dist)
    new_wheel = variant(dist, tmp_path, version=NEXT)
    old, old_op = integrations.activate(check_wheel(old_wheel), old_wheel)
    new, new_op = integrations.activate(check_wheel(new_wheel), new_wheel)
    assert old.path != new.path and old.wheel != new.wheel
    assert (old_op.manifest.version, new_op.manifest.version) == (VERSION, NEXT)
    assert integrations.installed_integrations() == [old, new]

    integrations.remove(old)
    assert not old.path.exists()
    assert integrations.installed_integrations() == [new]
    assert integrations.load(new) == new_op
    integrations.remove(new)
    assert list(integrations.root.iterdir()) == []


def test_leftovers_on_disk_are_not_listed_as_integrations(dist, integrations):
    wheel = wheel_of(dist)
    installed = integrations.install(check_wheel(wheel), wheel)
    (integrations.root / ".partial-x" / "junk").mkdir(parents=True)
    (integrations.root / NAME / "0.0.1-000000000000").mkdir()
    (integrations.root / "other" / "1.0.0-abc").mkdir(parents=True)
    (integrations.root / "other" / "1.0.0-abc" / "integration.json").write_text("{not json")
    assert integrations.installed_integrations() == [installed]
    assert InstalledIntegration.read(installed.path) == installed


def test_install_refuses_content_that_is_not_what_was_checked(dist, integrations, tmp_path):
    checked = check_wheel(wheel_of(dist))
    other = variant(dist, tmp_path, setting(f"{PACKAGE}/extra.txt", b"more"))
    with pytest.raises(IntegrationError, match="changed after it was checked"):
        integrations.install(checked, other)
    assert not integrations.root.exists()


def test_bytes_need_their_file_name_to_be_checked(dist):
    data = wheel_of(dist).read_bytes()
    with pytest.raises(IntegrationError, match="needs its file name"):
        check_wheel(data)
    assert check_wheel(data, wheel_of(dist).name).size == len(data)


def test_upgrade_findings_are_those_of_upgrade_check(dist, tmp_path):
    old = check_wheel(wheel_of(dist)).manifest
    new = check_wheel(variant(dist, tmp_path, version=NEXT)).manifest
    changes = [str(c) for c in upgrade_findings(old, new)]
    report = Service().upgrade_check(
        wheel_of(dist), tmp_path / f"tq_op_{NAME}-{NEXT}-py3-none-any.whl"
    )
    assert changes == [str(c) for c in report.changes]
    assert any(f"version {VERSION} -> {NEXT}" in c for c in changes)


DECISIONS = [
    # installed, uploaded, same content, force -> decision (or the refusal's text)
    (None, "1.0.0", False, False, "install"),
    ("1.0.0", "1.0.0", True, False, "install"),
    ("1.0.0", "1.1.0", False, False, "upgrade"),
    ("1.9.0", "1.10.0", False, False, "upgrade"),
    ("1.0.0", "1.0.0", False, False, "installed already with other content"),
    ("1.0.0", "1.0.0", False, True, "upgrade"),
    ("1.1.0", "1.0.0", False, False, "older than the installed 1.1.0"),
    ("1.1.0", "1.0.0", False, True, "upgrade"),
]


@pytest.mark.parametrize(("old", "new", "same", "force", "expected"), DECISIONS)
def test_version_decision(old, new, same, force, expected):
    if expected in ("install", "upgrade"):
        assert version_decision(old, new, same, force) == expected
    else:
        with pytest.raises(IntegrationError, match=expected) as caught:
            version_decision(old, new, same, force, name=NAME)
        assert caught.value.status == 409


def test_remove_touches_nothing_outside_the_root(integrations, tmp_path):
    outside = tmp_path / "elsewhere" / NAME / "1.0.0-0123456789ab"
    outside.mkdir(parents=True)
    stranger = InstalledIntegration(NAME, VERSION, PACKAGE, "0" * 64, outside)
    with pytest.raises(IntegrationError, match="is not an integration under"):
        integrations.remove(stranger)
    assert outside.is_dir()


def test_members_are_inflated_with_a_cap_whatever_their_headers_say(dist):
    from tqops.server.integrations.wheel import inflate

    with zipfile.ZipFile(wheel_of(dist)) as archive:
        info = archive.getinfo(f"{PACKAGE}/{NAME}.yaml")
        assert len(inflate(archive, info, info.file_size, "upload")) == info.file_size
        with pytest.raises(IntegrationError, match="unpacks to more than its limit") as caught:
            inflate(archive, info, 100, "upload")
    assert caught.value.status == 413

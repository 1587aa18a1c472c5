"""Fresh virtualenvs for the tests that install what users install, with no network: the
third-party packages come from this environment, repacked as wheels (a *wheelhouse*), and the
venvs are made without pip (ensurepip costs seconds of CPU each): this environment's pip
installs into them through ``pip --python``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import venv
import zipfile
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

__all__ = ["clean_env", "closure", "fresh_venv", "pip_install", "repack", "run"]


def closure(names: Iterable[str]) -> list[metadata.Distribution]:
    """The installed distributions ``names`` need (their requirements, markers evaluated)."""
    found: dict[str, metadata.Distribution] = {}
    todo = list(names)
    while todo:
        key = canonicalize_name(todo.pop())
        if key in found:
            continue
        dist = metadata.distribution(key)
        found[key] = dist
        for text in dist.requires or ():
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return list(found.values())


def repack(dist: metadata.Distribution, out: Path) -> Path:
    """A wheel of an installed distribution, from the files its RECORD lists: pip installs it
    with ``--no-index``, so the test needs no network (the machine's own Python only)."""
    name = re.sub(r"[-_.]+", "_", dist.metadata["Name"]).lower()
    target = out / f"{name}-{dist.version}-py3-none-any.whl"
    skipped = ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json")
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as wheel:
        record = []
        for file in dist.files or ():
            posix = file.as_posix()
            if posix.startswith("..") or "__pycache__" in posix or posix.endswith(".pyc"):
                continue
            if ".dist-info/" in posix and posix.rsplit("/", 1)[1] in skipped:
                continue
            source = Path(str(dist.locate_file(file)))
            if source.is_file():
                wheel.write(source, posix)
                record.append(f"{posix},,")
        info = next(f.as_posix() for f in dist.files or () if ".dist-info/" in f.as_posix())
        wheel.writestr(f"{info.split('/')[0]}/RECORD", "\n".join(record) + "\n")
    return target


def clean_env() -> dict[str, str]:
    """The environment, with no proxy, no pip configuration and no virtualenv of ours."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().endswith("_PROXY")
        and not k.startswith("PIP_")
        and k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    return {**env, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def run(*args: object, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run a command in the clean environment; it must succeed."""
    done = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=cwd,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{' '.join(map(str, args))}:\n{done.stdout}\n{done.stderr}"
    return done


def pip_install(home: Path, *args: object, cwd: Path) -> subprocess.CompletedProcess:
    """``pip install --no-index ARGS`` into the virtualenv at ``home``, by this environment's
    pip (the venv has none of its own)."""
    pip = (sys.executable, "-m", "pip", "--python", home / "bin" / "python", "install")
    return run(*pip, "--no-index", *args, cwd=cwd)


def fresh_venv(home: Path, wheelhouse: Path, *requirements: object) -> Path:
    """A new virtualenv at ``home`` holding ``requirements`` from ``wheelhouse``; its bin/."""
    venv.EnvBuilder(with_pip=False, system_site_packages=False).create(home)
    pip_install(home, "--quiet", "--find-links", wheelhouse, *requirements, cwd=home)
    return home / "bin"

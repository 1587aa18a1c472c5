"""A real PostgreSQL server for the tests: Debian's ``postgresql`` package's binaries, a cluster
made by ``initdb`` in a temporary directory and started by ``pg_ctl`` on a free loopback port,
with password (SCRAM) authentication and no Unix socket.

PostgreSQL refuses to run as root: when the tests run as root (CI does), the cluster belongs
to a system user, ``tqops-test`` (made when missing), and its commands run through
``runuser``. One cluster serves a whole test session (``postgres`` fixture); each test takes a
database of its own from it (``cluster.create_database()``), owned by a login role that is no
superuser, as a deployment's would be.

When the binaries are missing, the tests that need them fail with one line saying how to
install them: a skipped PostgreSQL test would pass for a store it never ran on.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import pytest

from tests.support.hosting import free_port

__all__ = ["INSTALL_HINT", "Cluster", "postgres", "server_binaries"]

#: where Debian's postgresql-NN packages put the server's programs
BINARIES = Path("/usr/lib/postgresql")
INSTALL_HINT = (
    "PostgreSQL's server programs (initdb, pg_ctl, postgres) are not installed: run "
    "`make postgres` (or, as root, `apt-get install postgresql`)"
)
#: the system user the cluster runs as when the tests run as root
SYSTEM_USER = "tqops-test"
#: the cluster's superuser (the fixtures' own) and the role the stores connect as
ADMIN, ROLE = "tqops_admin", "tqops"


def server_binaries(root: Path = BINARIES) -> Optional[Path]:
    """The newest installed version's ``bin`` folder with initdb, pg_ctl and postgres."""
    found = []
    for folder in root.glob("*/bin"):
        if all((folder / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            with contextlib.suppress(ValueError):
                found.append((float(folder.parent.name), folder))
    return max(found)[1] if found else None


def _system_user() -> pwd.struct_passwd:
    """The unprivileged account for the cluster, made when missing (tests running as root)."""
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        pass
    subprocess.run(
        [
            "useradd",
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            SYSTEM_USER,
        ],
        capture_output=True,
        check=False,  # another test process may have made it meanwhile: looked up below
    )
    return pwd.getpwnam(SYSTEM_USER)


class Cluster:
    """A PostgreSQL cluster in ``root`` (a new, empty folder), served on 127.0.0.1."""

    def __init__(self, root: Path, binaries: Path) -> None:
        self.root = root
        self.binaries = binaries
        self.port = free_port()
        self.data = root / "data"
        self.log = root / "server.log"
        self.admin_password = secrets.token_urlsafe(18)
        #: the password of the role the stores connect as (``ROLE``)
        self.password = secrets.token_urlsafe(18)
        self._as: list[str] = []
        self._databases = 0

    def _run(self, *command: str, timeout: float = 60) -> None:
        done = subprocess.run(
            [*self._as, str(self.binaries / command[0]), *command[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.root,
            check=False,
        )
        if done.returncode != 0:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise RuntimeError(f"{command[0]} failed: {done.stderr or done.stdout}{log[-2000:]}")

    def start(self) -> Cluster:
        if os.geteuid() == 0:
            account = _system_user()
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self._as = ["runuser", "-u", SYSTEM_USER, "--"]
        password_file = self.root / "admin-password"
        password_file.write_text(self.admin_password + "\n")
        if self._as:
            os.chown(password_file, pwd.getpwnam(SYSTEM_USER).pw_uid, -1)
        password_file.chmod(0o600)
        self._run(
            "initdb",
            "--pgdata",
            str(self.data),
            "--username",
            ADMIN,
            "--pwfile",
            str(password_file),
            "--auth",
            "scram-sha-256",
            "--encoding",
            "UTF8",
            "--locale",
            "C",
            "--no-sync",
        )
        password_file.unlink()
        for attempt in range(3):  # the free port may be taken meanwhile: then another
            try:
                self._serve()
                break
            except RuntimeError:
                if attempt == 2 or "could not bind" not in self.log.read_text(errors="replace"):
                    raise
                self.port = free_port()
        return self

    def _serve(self) -> None:
        # loopback TCP only (no socket file); durability off: a test's data need not survive
        # a power cut, and fsync would make each test's commits slow on a shared disk
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories='' "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            "pg_ctl", "--pgdata", str(self.data), "--log", str(self.log), "--options", options,
            "--wait", "--timeout", "60", "start",
        )  # fmt: skip

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self._run("pg_ctl", "--pgdata", str(self.data), "--mode", "fast", "--wait", "stop")

    def url(self, database: str, *, user: str = ROLE, password: Optional[str] = None) -> str:
        """``postgresql://`` for ``database``; with the password only when it is given."""
        secret = f":{password}" if password else ""
        return f"postgresql://{user}{secret}@127.0.0.1:{self.port}/{database}"

    def admin(self, *statements: str, database: str = "postgres") -> None:
        """Run statements as the cluster's superuser (outside a transaction)."""
        import psycopg

        url = self.url(database, user=ADMIN, password=self.admin_password)
        with psycopg.connect(url, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)  # type: ignore[arg-type] - the fixtures' own SQL

    def query(self, sql: str, database: str = "postgres") -> list[tuple]:
        """The rows of a query run as the cluster's superuser."""
        import psycopg

        url = self.url(database, user=ADMIN, password=self.admin_password)
        with psycopg.connect(url, autocommit=True) as conn:
            return conn.execute(sql).fetchall()  # type: ignore[arg-type] - the fixtures' own

    def create_database(self, name: Optional[str] = None) -> str:
        """A new, empty database owned by ``ROLE`` (no superuser); its URL, without the
        password (``self.password``: give it as PGPASSWORD or in the URL)."""
        self._databases += 1
        name = name or f"store{self._databases}"
        if self._databases == 1:
            self.admin(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{self.password}'")
        self.admin(f"CREATE DATABASE {name} OWNER {ROLE}")
        return self.url(name)

    def with_password(self, url: str) -> str:
        """``url`` (one of this cluster's) with the role's password in it."""
        return url.replace(f"//{ROLE}@", f"//{ROLE}:{self.password}@", 1)


@contextlib.contextmanager
def running_cluster(installed: Path = BINARIES) -> Iterator[Cluster]:
    """A started cluster in a new temporary folder, stopped and removed afterwards; the
    server's programs are looked for in ``installed`` (one folder per version)."""
    found = server_binaries(installed)
    if found is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    # not under pytest's own temporary folder: as root that is closed to the cluster's user
    root = Path(tempfile.mkdtemp(prefix="tqops-postgres-"))
    cluster = Cluster(root, found)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """One PostgreSQL cluster for the test session (Debian's binaries, loopback, passwords)."""
    with running_cluster() as cluster:
        yield cluster

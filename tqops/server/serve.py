"""``tqops serve``: the host under uvicorn, and ``--demo``, which starts the vendor simulators
of a checkout as separate processes and configures both operations against them, in a data
directory of its own (a temporary one unless named), and prints a login for each role. With
``--misp-modules``, MISP's enrichment modules get a listener of their own in the same process
(a second uvicorn server in the same event loop, sharing the host)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Optional, TextIO

import attrs

from tqops.errors import ConfigError
from tqops.server.host import Host
from tqops.server.limits import HostLimits
from tqops.server.listener import guarded_protocol
from tqops.server.supervisor import WorkerProcesses
from tqops.server.users import NewUser, Role, User, Users
from tqops.server.worker import StorePacer

__all__ = ["LOOPBACK_NAMES", "host_names", "listener_settings", "run_worker", "serve"]

#: what the demo adds to the indicator store: values the simulators know, one defanged
DEMO_INDICATORS = (
    ("FQDN", "www.microsoft.com"),
    ("IP Address", "203.0.113.7"),
    ("URL", "http://paypa1-secure.com/login.php?id=1"),
    ("Email Address", "billing@paypa1-secure.com"),
    ("MD5", "5d41402abc4b2a76b9719d911017c592"),
    ("SHA-256", "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"),
    ("Filename", "invoice_2024.pdf.exe"),
    ("IP Address", "8.8.8.8"),
    ("FQDN", "google.com"),
)
_STARTED = re.compile(r"simulator on (\S+) \(CA bundle: (.+?), credential:")
#: the simulator module each demo operation's vendor is served by
DEMO_SIMULATORS = {"dcso_tie": "tie", "tego": "tego"}
#: the demo's users: one of each role, given new passwords and keys at each start
DEMO_USERS = (("admin", Role.ADMIN), ("analyst", Role.ANALYST), ("viewer", Role.VIEWER))


@contextlib.contextmanager
def _simulator(vendor: str, token: str) -> Iterator[tuple[str, str]]:
    """A simulator of the checkout in a process of its own: (host:port, CA bundle path)."""
    process = subprocess.Popen(
        # the token may begin with '-'; the pipe on stdin ends with this process, however it
        # ends (kill -9 included), and the simulator with it
        [sys.executable, "-m", "simulators", vendor, f"--token={token}", "--until-stdin-closes"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=os.getcwd(),
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        found = _STARTED.search(line)
        if not found:
            error = (process.stderr.read() if process.stderr else "").strip().splitlines()
            raise ConfigError(
                "--demo needs the vendor simulators of a tqops checkout: run `tqops serve "
                f"--demo` from the checkout's root ({(error or ['no output'])[-1][:120]})"
            )
        yield found.group(1), found.group(2)
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)


def _demo_logins(users: Users) -> list[NewUser]:
    """A login for each demo user: made, or given a new password and API key (a second start
    of the demo prints logins that work, and no earlier start's password lives on)."""
    made = []
    for name, role in DEMO_USERS:
        if users.store.user(name) is None:
            made.append(users.add(name, role.value))
            continue
        users.set_role(name, role.value)
        users.disable(name, False)
        password = users.new_password(name).password
        made.append(NewUser(name, role, password, users.new_key(name).api_key))
    return made


def _url(scheme: str, host: str, port: int, path: str = "") -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}{path}"


def _configure_demo(host: Host, operation: str, hostname: str, ca: str, token: str) -> None:
    """Configure an operation against a simulator, through its manifest's roles and auth."""
    values = host.service.demo_config(operation, hostname, ca, token)
    admin = User(0, "demo", Role.ADMIN)
    host.set_config(operation, values, admin)


def serve(
    data: Optional[Path],
    *,
    host: str,
    port: int,
    tls_cert: Optional[str],
    tls_key: Optional[str],
    demo: bool,
    out: TextIO,
    misp_modules: Optional[tuple[str, int]] = None,
    secrets_dirs: Sequence[Path] = (),
    allowed_hosts: Sequence[str] = (),
    forwarded_allow_ips: Sequence[str] = (),
    database: Optional[str] = None,
    workers: int = 1,
    concurrency: int = 16,
    misp_allowed_hosts: Sequence[str] = (),
    retention_days: Optional[int] = None,
) -> int:
    """Run the host until SIGINT/SIGTERM, with ``workers`` worker processes running its jobs
    (:mod:`.supervisor`); at a stop they stop sending and give back what they did not answer,
    which the next start carries on (the demo's simulators stop too, however early the signal
    comes). ``data`` None: a temporary data directory, removed when the host stops (the
    demo's). ``misp_modules`` (address, port) turns MISP's modules listener on. Each listener
    answers only the Host names :func:`host_names` gives it (``allowed_hosts`` the host's,
    ``misp_allowed_hosts`` MISP's modules'), and believes forwarded headers only from
    ``forwarded_allow_ips`` (none by default). Each listener holds a request's headers,
    its body and an idle connection for at most the limits' seconds, and serves at most
    their number of connections (:func:`listener_settings`); ``retention_days`` (``None``:
    ``TQOPS_RETENTION_DAYS``) is how long ended jobs are kept."""
    import uvicorn

    from tqops.server.app import ListenerGuard, create_app

    limits = HostLimits.from_environ()
    if retention_days is not None:
        limits = attrs.evolve(limits, retention_days=retention_days)
    listening = {**_forwarded(forwarded_allow_ips), **listener_settings(limits)}

    scheme = "https" if tls_cert else "http"
    # SIGTERM unwinds from here on: a signal while the demo's simulators start stops them too
    with _sigterm_unwinds(), contextlib.ExitStack() as stack:
        if data is None:
            data = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tqops-demo-")))
        the_host = Host(
            data,
            secrets_dirs=secrets_dirs,
            database=database,
            concurrency=concurrency,
            run_jobs=False,  # the worker processes run them; the host never runs operation code
            limits=limits,
        )
        the_host.users.prepare()
        if demo:
            for operation, vendor in DEMO_SIMULATORS.items():
                token = secrets.token_urlsafe(16)
                hostname, ca = stack.enter_context(_simulator(vendor, token))
                _configure_demo(the_host, operation, hostname, ca, token)
                out.write(f"{operation}: simulator on https://{hostname}\n")
            analyst = User(0, "demo", Role.ANALYST)
            the_host.add_indicators([{"type": t, "value": v} for t, v in DEMO_INDICATORS], analyst)
            for made in _demo_logins(the_host.users):
                role = made.role.value
                out.write(
                    f"login {made.name} ({role}): password {made.password} api key {made.api_key}\n"
                )
            console = _url(scheme, host, port, "/console/")
            out.write(f"console: {console} (log in as admin, analyst or viewer above)\n")
        misp = (
            _misp_listener(the_host, misp_modules, tls_cert, tls_key, misp_allowed_hosts, listening)
            if misp_modules
            else None
        )
        if misp is not None:
            address, misp_port = misp_modules or ("", 0)
            shown = f"[{address}]" if ":" in address else address
            misp_scheme = "https" if misp[0].config.ssl_certfile else "http"
            out.write(f"MISP modules on {misp_scheme}://{shown}:{misp_port}\n")
        store = f", store {the_host.store.where}" if database else ""  # its password as ****
        out.write(f"tqops host on {scheme}://{host}:{port} (data in {data}{store})\n")
        out.flush()
        config = uvicorn.Config(
            ListenerGuard(
                create_app(the_host, secure_cookies=bool(tls_cert)),
                host_names(host, allowed_hosts),
                tls=bool(tls_cert),
            ),
            host=host,
            port=port,
            ssl_certfile=tls_cert,
            ssl_keyfile=tls_key,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=30,
            **listening,
        )
        server = _server_class()(config)
        if workers:
            stack.enter_context(WorkerProcesses(the_host.data, database, workers, concurrency))
        if misp is None:
            server.run()
        else:
            asyncio.run(_serve_together(server, *misp))
        if server.interrupted or (misp is not None and misp[0].interrupted):
            # uvicorn raises the signal again once stopped, which a process that started with
            # SIGINT ignored (a background job of a script, a test runner's worker) ignores
            raise KeyboardInterrupt
    return 0


def run_worker(
    data: Path,
    *,
    database: Optional[str],
    concurrency: int,
    until_stdin_closes: bool,
    out: TextIO,
) -> int:
    """``tqops worker``: claim and run jobs until SIGINT/SIGTERM or, for a worker a host
    started, until its pipe on standard input closes; then stop sending and give back what was
    not answered."""
    the_host = Host(data, database=database, concurrency=concurrency, run_jobs=False)
    # every vendor's rate holds for all the store's workers together, not per process
    the_host.service.share_pacing(lambda vendor, rate: StorePacer(the_host.store, vendor, rate))
    the_host.installer.load_all()
    the_host.release_dead_workers()
    worker = the_host.worker
    if until_stdin_closes:
        threading.Thread(target=_stop_at_eof, args=(worker.stop,), daemon=True).start()
    where = the_host.store.where if database else str(data)
    out.write(f"tqops worker {worker.id}: {concurrency} calls at a time, store {where}\n")
    out.flush()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def stop(signum: int, frame: Any) -> None:
        worker.stop()

    for sig in previous:
        signal.signal(sig, stop)
    try:
        worker.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        the_host.stop()
    return 0


def _stop_at_eof(stop: Any) -> None:
    """Read standard input to its end (the host that started this worker has gone), then stop."""
    with contextlib.suppress(OSError, ValueError):
        while sys.stdin.buffer.read(4096):
            pass
    stop()


#: the names a loopback listener always answers to (no rebound DNS name is one of them)
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def host_names(address: str, allowed: Sequence[str]) -> tuple[str, ...]:
    """The Host names a listener on ``address`` answers to: ``allowed`` (``--allowed-hosts``),
    its own address (a client that dials the address names it), and on loopback the loopback
    names."""
    bare = address.strip("[]").lower()
    names = [*allowed, bare]
    if bare == "localhost" or _is_loopback(bare):
        names += LOOPBACK_NAMES
    return tuple(dict.fromkeys(names))


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _server_class() -> Any:
    """uvicorn's server, which remembers a SIGINT it stopped on (the command then exits 130,
    as an interrupted command does)."""
    import uvicorn

    class Server(uvicorn.Server):
        interrupted = False

        def handle_exit(self, sig: int, frame: Any) -> None:
            if sig == signal.SIGINT:
                self.interrupted = True
            super().handle_exit(sig, frame)

    return Server


def listener_settings(limits: HostLimits) -> dict[str, Any]:
    """uvicorn's settings for a listener within ``limits``: the header and body deadlines
    (:mod:`.listener`), the idle keep-alive timeout, and the connections served at once (more
    are answered 503 at once)."""
    return {
        "http": guarded_protocol(limits.header_timeout, limits.body_timeout),
        "timeout_keep_alive": limits.idle_timeout,
        "limit_concurrency": limits.connections,
    }


def _forwarded(allowed: Sequence[str]) -> dict[str, Any]:
    """uvicorn's proxy settings: X-Forwarded-For and -Proto believed only from ``allowed``
    (uvicorn's own default trusts loopback, and ``FORWARDED_ALLOW_IPS`` from the environment:
    any local process could then name the client the audit log records)."""
    if not allowed:
        return {"proxy_headers": False, "forwarded_allow_ips": []}
    return {"proxy_headers": True, "forwarded_allow_ips": list(allowed)}


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """SIGTERM as an orderly exit: uvicorn shuts down, restores the handler it found and raises
    the signal again; this handler turns it into ``SystemExit``, so every ``finally`` (the demo's
    simulators) runs instead of the process dying where it stands."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def unwind(signum: int, frame: Any) -> None:
        # once: a second SIGTERM does not cut the unwinding short (the simulators' stop)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise SystemExit(0)

    before = signal.signal(signal.SIGTERM, unwind)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def _misp_listener(
    the_host: Host,
    where: tuple[str, int],
    tls_cert: Optional[str],
    tls_key: Optional[str],
    allowed_hosts: Sequence[str],
    settings: dict[str, Any],
) -> tuple[Any, socket.socket]:
    """MISP's modules server and its bound socket: plain HTTP on loopback (as MISP expects
    there), else TLS with the host's certificate; it answers the Host names ``allowed_hosts``
    (``--misp-allowed-hosts``) beside its own. A busy port is a one-line error before anything
    starts."""
    import uvicorn

    from tqops.server.api.misp import create_app as misp_app
    from tqops.server.app import ListenerGuard

    address, port = where
    loopback = address == "localhost" or ipaddress.ip_address(address.strip("[]")).is_loopback
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((address.strip("[]"), port))
    except OSError as exc:
        listener.close()
        raise ConfigError(
            f"cannot listen on {address}:{port} for MISP's modules: {exc.strerror}"
        ) from None
    tls = bool(tls_cert) and not loopback
    config = uvicorn.Config(
        ListenerGuard(
            misp_app(the_host),
            host_names(address, allowed_hosts),
            tls=tls,
            option="--misp-allowed-hosts",
            protocol_errors=False,  # MISP's {"error"} already, with the refusal's status
        ),
        ssl_certfile=tls_cert if tls else None,
        ssl_keyfile=tls_key if tls else None,
        log_level="warning",
        lifespan="off",  # the host's own application starts and stops the host
        timeout_graceful_shutdown=10,
        **settings,
    )
    return _server_class()(config), listener


async def _serve_together(main: Any, misp: Any, listener: socket.socket) -> None:
    """Both servers until either ends; then the other ends too. The second to start takes the
    signals first and hands them on to the first when it stops (uvicorn restores and raises
    them), so SIGTERM or SIGINT stops both, the host's jobs saved by its lifespan."""
    tasks = [asyncio.ensure_future(main.serve()), asyncio.ensure_future(misp.serve([listener]))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        main.should_exit = misp.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)

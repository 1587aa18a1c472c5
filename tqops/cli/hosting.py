"""``tqops serve``, ``tqops worker`` and ``tqops users``: the operation host, the workers that
run its jobs, and its users (extra ``server``)."""

from __future__ import annotations

import argparse
import importlib
import ipaddress
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable, Optional

from tqops.cli.commands import EXIT_OK, Context
from tqops.errors import ConfigError

__all__ = ["add_parsers", "serve", "users", "worker"]

INSTALL_HINT = "the host needs the server extra: pip install 'tqops[server]'"
#: the environment variable that names the store's PostgreSQL database (as --database does)
DATABASE_VARIABLE = "TQOPS_DATABASE_URL"


def _server(module: str = "host") -> Any:
    """A module of the server package (`tqops users` needs only its store and users, not the
    whole host), or a one-line error saying what to install."""
    try:
        return importlib.import_module(f"tqops.server.{module}")
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None


def _data_dir(args: argparse.Namespace) -> Path:
    return Path(args.data).expanduser() if args.data else _server("datadir").default_data_dir()


def _database(args: argparse.Namespace) -> Optional[str]:
    """``--database``, else ``TQOPS_DATABASE_URL``: a PostgreSQL URL, or None for the data
    directory's SQLite file."""
    given = (args.database or os.environ.get(DATABASE_VARIABLE, "")).strip()
    if given and "://" not in given:  # a path would quietly make a SQLite file there
        raise ConfigError("--database takes a URL: postgresql://USER@HOST:PORT/DATABASE")
    return given or None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(args: argparse.Namespace, ctx: Context) -> int:
    if bool(args.tls_cert) != bool(args.tls_key):
        raise ConfigError("give --tls-cert and --tls-key together")
    if not _loopback(args.host) and not args.tls_cert:
        raise ConfigError(
            f"refusing to listen on {args.host} without TLS: give --tls-cert and --tls-key, "
            "or listen on 127.0.0.1"
        )
    for path in (args.tls_cert, args.tls_key):
        if path and not Path(path).is_file():
            raise ConfigError(f"no such file: {path}")
    misp = _misp_address(args.misp_modules, bool(args.tls_cert)) if args.misp_modules else None
    for folder in args.secrets_dir or ():
        if not Path(folder).is_dir():
            raise ConfigError(f"--secrets-dir {folder}: no such directory")
    allowed = _host_names(args.allowed_hosts or "")
    misp_allowed = _host_names(args.misp_allowed_hosts or "", "--misp-allowed-hosts")
    if misp_allowed and not misp:
        raise ConfigError("--misp-allowed-hosts needs --misp-modules (the listener it is for)")
    if misp and not misp_allowed and _unspecified(misp[0]):
        raise ConfigError(
            f"MISP's modules on {misp[0]} (every address) need --misp-allowed-hosts: the host "
            "names MISP calls them by (misp-modules); no Host header is taken otherwise"
        )
    if not allowed and _unspecified(args.host):
        raise ConfigError(
            f"listening on {args.host} (every address) needs --allowed-hosts: the host names "
            "clients reach this host by (tqops.example.org); no Host header is taken otherwise"
        )
    forwarded = _networks(args.forwarded_allow_ips or "")
    _server()
    from tqops.server.serve import serve as run_server

    if not 0 <= args.workers <= MAX_WORKERS:
        raise ConfigError(f"--workers is a number from 0 (serve only) to {MAX_WORKERS}")
    if args.retention_days is not None and not 0 <= args.retention_days <= 36_500:
        raise ConfigError("--retention-days is a number of days from 0 (keep for ever) to 36500")
    return run_server(
        _demo_data_dir(args) if args.demo else _data_dir(args),
        workers=args.workers,
        concurrency=_concurrency(args),
        host=args.host,
        port=args.port,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        demo=args.demo,
        out=ctx.out,
        misp_modules=misp,
        secrets_dirs=[Path(folder) for folder in args.secrets_dir or ()],
        allowed_hosts=allowed,
        forwarded_allow_ips=forwarded,
        # the demo's store is its own: TQOPS_DATABASE_URL names the real one
        database=_database(args) if not args.demo or args.database else None,
        misp_allowed_hosts=misp_allowed,
        retention_days=args.retention_days,
    )


#: worker processes ``tqops serve`` starts at most; vendor calls one worker makes at a time
MAX_WORKERS = 64
MAX_CONCURRENCY = 256


def _concurrency(args: argparse.Namespace) -> int:
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        raise ConfigError(f"--concurrency is a number from 1 to {MAX_CONCURRENCY}")
    return int(args.concurrency)


def worker(args: argparse.Namespace, ctx: Context) -> int:
    """Claim and run queued jobs of the store until SIGINT/SIGTERM (or, for a worker a host
    started, until the host's pipe on standard input closes)."""
    concurrency = _concurrency(args)
    _server()
    from tqops.server.serve import run_worker

    return run_worker(
        _data_dir(args),
        database=_database(args),
        concurrency=concurrency,
        until_stdin_closes=args.until_stdin_closes,
        out=ctx.out,
    )


def _demo_data_dir(args: argparse.Namespace) -> Optional[Path]:
    """``--demo``'s data directory: the one ``--data`` names, else None (a temporary one,
    removed when the host stops); never the host's default one (TQOPS_DATA included), where
    the demo would reset the passwords of users named admin, analyst and viewer."""
    if not args.data:
        return None
    given = Path(args.data).expanduser()
    if given.resolve() == _server("datadir").default_data_dir().resolve():
        raise ConfigError(
            f"--demo keeps its data apart from the host's own ({given}): give --data a "
            "directory of its own, or no --data for a temporary one"
        )
    return given


def _unspecified(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.strip("[]")).is_unspecified
    except ValueError:
        return False


#: a DNS name: dot-separated labels of letters, digits, hyphens (and underscores, which
#: internal names use), 253 characters at most
_LABEL = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_NAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*")


def _host_names(text: str, option: str = "--allowed-hosts") -> tuple[str, ...]:
    """``--allowed-hosts`` (or ``option``): DNS names or IP addresses, comma-separated (no
    ports, no wildcards: each name is one the operator vouches for)."""
    names = []
    for item in (part.strip().lower().rstrip(".") for part in text.split(",")):
        if not item:
            continue
        try:
            names.append(str(ipaddress.ip_address(item.strip("[]"))))
            continue
        except ValueError:
            pass
        if not _HOST_NAME.fullmatch(item):
            raise ConfigError(
                f"{option} takes host names or IP addresses, comma-separated "
                f"(tqops.example.org,10.0.0.5), not {item[:60]!r}"
            )
        names.append(item)
    return tuple(names)


def _networks(text: str) -> tuple[str, ...]:
    """``--forwarded-allow-ips``: the proxies' addresses or networks, comma-separated."""
    found = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            network = ipaddress.ip_network(item.strip("[]"), strict=False)
        except ValueError:
            raise ConfigError(
                "--forwarded-allow-ips takes the proxies' IP addresses or networks, "
                f"comma-separated (127.0.0.1,10.0.0.0/24), not {item[:60]!r}"
            ) from None
        single = network.num_addresses == 1
        found.append(str(network.network_address) if single else str(network))
    return tuple(found)


def _misp_address(text: str, tls: bool) -> tuple[str, int]:
    """``ADDRESS:PORT`` of MISP's modules listener (``[::1]:6666`` for IPv6); MISP sends
    modules no credential, so an address other than loopback needs TLS."""
    address, sep, port = text.strip().rpartition(":")
    address = address.strip("[]")
    if not sep or not address or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--misp-modules takes ADDRESS:PORT (127.0.0.1:6666), not {text!r}")
    if address != "localhost":
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ConfigError(
                f"--misp-modules takes an IP address or localhost: {address!r}"
            ) from None
    if not _loopback(address) and not tls:
        raise ConfigError(
            f"refusing to serve MISP's modules (no credentials) on {address} without TLS: give "
            "--tls-cert and --tls-key, or listen on 127.0.0.1"
        )
    return address, int(port)


def users(args: argparse.Namespace, ctx: Context) -> int:
    Users = _server("users").Users
    database = _database(args)
    store = _server("store")
    if database:  # no data directory: the store is the database's
        registry = Users(store.Store(database))
        where = registry.store.where
    else:
        data = _server("datadir").private_data_dir(_data_dir(args))
        registry = Users(store.Store(data / "tqops.db"))
        where = str(data)
    action = args.users_command
    if action in ("add", "key"):
        made = (
            registry.add(args.name, args.role) if action == "add" else registry.new_key(args.name)
        )
        registry.store.audit("cli", f"user-{action}", made.name, made.role.value)
        if args.format == "json":
            ctx.out.write(json.dumps(made.to_dict()) + "\n")
        else:
            if made.password:
                ctx.out.write(f"user {made.name} ({made.role.value}) in {where}\n")
                ctx.out.write(f"password: {made.password}\n")
            ctx.out.write(f"api key:  {made.api_key}\n")
            ctx.out.write("(shown once: they are stored hashed)\n")
        return EXIT_OK
    if action == "password":
        if registry.store.user(args.name) is None:  # said before a password is asked for
            raise ConfigError(f"no user named {args.name[:60]!r}")
        changed = registry.set_password(args.name, _password_given())
        registry.store.audit("cli", "user-password", changed.name)
        if args.format == "json":
            ctx.out.write(json.dumps({"name": changed.name, "password_changed": True}) + "\n")
        else:
            ended = "their sessions and tokens ended"
            ctx.out.write(f"user {changed.name}: password changed; {ended}\n")
        return EXIT_OK
    if action == "list":
        found = registry.list()
        if args.format == "json":
            ctx.out.write(json.dumps(found) + "\n")
        for user in found if args.format != "json" else ():
            state = " (disabled)" if user["disabled"] else ""
            ctx.out.write(f"{user['name']:<32} {user['role']:<8}{state}\n")
        return EXIT_OK
    if action in ("disable", "enable"):
        registry.disable(args.name, action == "disable")
    elif action == "remove":
        registry.remove(args.name)
    registry.store.audit("cli", f"user-{action}", args.name)
    ctx.out.write(f"user {args.name}: {action}d\n")
    return EXIT_OK


def _password_given() -> str:
    """The new password: asked twice on a terminal (never echoed), else the first line of
    standard input (``printf '%s\\n' "$PASSWORD" | tqops users password NAME``)."""
    if sys.stdin is not None and sys.stdin.isatty():
        import getpass

        first = getpass.getpass("new password: ")
        if first != getpass.getpass("new password again: "):
            raise ConfigError("the two passwords differ: nothing was changed")
        return first
    line = sys.stdin.readline() if sys.stdin is not None else ""
    password = line.rstrip("\r\n")
    if not password:
        raise ConfigError(
            "give the new password on standard input (one line), or run this on a terminal"
        )
    return password


def add_parsers(sub: Any, common: Callable[..., None]) -> None:
    """Add ``serve`` and ``users`` to the ``tqops`` parser."""
    data_help = "the data directory (default: $TQOPS_DATA, else ~/.local/share/tqops)"
    database_help = (
        "the store's PostgreSQL database, postgresql://USER@HOST:PORT/NAME (default: "
        f"${DATABASE_VARIABLE}, else SQLite in the data directory); give the password in "
        "PGPASSWORD or a password file, not here"
    )
    server = sub.add_parser(
        "serve",
        help="run the operation host: its web console (/console/) and REST API (/api/v1)",
        description="Run the operation host. Its web console is at /console/ on the address "
        "it listens on (http://127.0.0.1:8600/console/ by default): log in with a user that "
        "`tqops users add` made. `tqops serve --demo`, from a checkout, starts the vendor "
        "simulators too and prints an admin, an analyst and a viewer login.",
    )
    server.add_argument(
        "--data",
        metavar="DIR",
        help=data_help + "; with --demo, a directory of its own (default: a temporary one)",
    )
    server.add_argument("--database", metavar="URL", help=database_help)
    server.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    server.add_argument("--port", type=int, default=8600)
    server.add_argument("--tls-cert", metavar="PEM")
    server.add_argument("--tls-key", metavar="PEM")
    server.add_argument(
        "--demo",
        action="store_true",
        help="from a checkout: start the vendor simulators, configure both operations against "
        "them and print an admin, an analyst and a viewer login (new passwords each start); "
        "the data goes to a temporary directory unless --data names one",
    )
    server.add_argument(
        "--misp-modules",
        metavar="ADDRESS:PORT",
        help="also serve MISP's enrichment modules there (off unless given; e.g. 127.0.0.1:6666)",
    )
    server.add_argument(
        "--misp-allowed-hosts",
        metavar="NAMES",
        help="host names (or addresses) MISP reaches its modules by, comma-separated "
        "(misp-modules, as MISP's Docker set-up calls them); a request naming another Host "
        "gets 400. The listening address is always taken, and on loopback localhost, "
        "127.0.0.1 and ::1",
    )
    server.add_argument(
        "--secrets-dir",
        metavar="DIR",
        action="append",
        help="a directory whose files a secret entered over REST may name as file:PATH "
        "(repeatable; none by default: references are refused over REST)",
    )
    server.add_argument(
        "--allowed-hosts",
        metavar="NAMES",
        help="host names (or addresses) clients reach the host by, comma-separated; a request "
        "naming another Host gets 400 (DNS rebinding). The listening address is always taken, "
        "and on loopback localhost, 127.0.0.1 and ::1; needed when listening on 0.0.0.0",
    )
    server.add_argument(
        "--forwarded-allow-ips",
        metavar="ADDRESSES",
        help="the reverse proxies (addresses or networks, comma-separated) whose "
        "X-Forwarded-For and X-Forwarded-Proto are believed (default: none; the audit log "
        "records the connecting address)",
    )
    server.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="worker processes that run jobs beside the host (default 1; 0: serve only, "
        "workers run elsewhere with `tqops worker`)",
    )
    server.add_argument(
        "--retention-days",
        type=int,
        metavar="DAYS",
        help="days an ended job and its results are kept before the host purges them "
        "(default: $TQOPS_RETENTION_DAYS, else 90; 0 keeps them for ever); the indicators "
        "jobs added to the store stay",
    )
    concurrency_help = "vendor calls each worker makes at a time, at most (default 16)"
    server.add_argument("--concurrency", type=int, default=16, metavar="N", help=concurrency_help)
    common(server, config=False)
    server.set_defaults(handler=serve)

    runner = sub.add_parser(
        "worker", help="run the queued jobs of a host's store (several may share one)"
    )
    runner.add_argument("--data", metavar="DIR", help=data_help)
    runner.add_argument("--database", metavar="URL", help=database_help)
    runner.add_argument("--concurrency", type=int, default=16, metavar="N", help=concurrency_help)
    runner.add_argument("--until-stdin-closes", action="store_true", help=argparse.SUPPRESS)
    common(runner, config=False)
    runner.set_defaults(handler=worker)

    accounts = sub.add_parser("users", help="the host's users and their API keys")
    verbs = accounts.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    for verb, text in (
        ("add", "make a user: prints a generated password and an API key"),
        ("key", "give a user a new API key (the old one stops working)"),
        (
            "password",
            "set a user's password (asked on a terminal, else read from standard input); "
            "their sessions and tokens end",
        ),
        ("list", "the users"),
        ("disable", "stop a user from signing in"),
        ("enable", "let a disabled user sign in again"),
        ("remove", "delete a user"),
    ):
        parser = verbs.add_parser(verb, help=text)
        if verb != "list":
            parser.add_argument("name")
        if verb == "add":
            parser.add_argument("--role", required=True, choices=("admin", "analyst", "viewer"))
        parser.add_argument("--data", metavar="DIR", help=data_help)
        parser.add_argument("--database", metavar="URL", help=database_help)
        common(parser, config=False, fmt=("text", "json"))
        parser.set_defaults(handler=users)

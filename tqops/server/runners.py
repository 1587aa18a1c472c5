"""Runners: the processes that run uploaded integrations' code, apart from the host.

The host and its workers never import an uploaded integration: they read its manifest,
guide and samples as data. Its code runs in a runner (``python -m tqops.runner``, the
protocol is in :mod:`tqops.runner`), started by the worker that needs it and handed the
integration's file, then for each run only that operation's resolved configuration. A runner
gets an empty working directory of its own, an allow-listed environment (no vault key, no
database URL or password), and, where the host runs as root, an unprivileged user
(``TQOPS_RUNNER_USER``, default ``nobody``) that cannot read the data directory nor the
host's processes. It is reused across runs of the same integration, and stops after a minute
without one.

A runner that crashes, exits, sends what is not its protocol, or says nothing for
``TQOPS_RUNNER_TIMEOUT`` seconds while it has inputs is stopped: each input it had not
answered is an ``error`` result with a one-line reason, and the worker goes on.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import pwd
import queue
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Optional

import attrs

from tqops.config.values import Config, Secret, scrub
from tqops.errors import ConfigError, OperationError
from tqops.server.settings import seconds_setting, whole_setting
from tqops.service import CancelToken, ConnectionReport, Result, Selection, Service, Status

__all__ = ["RunnerSettings", "RunnerSpec", "Runners"]

log = logging.getLogger("tqops.server.runners")

#: the environment a runner gets of the host's: where programs are, the locale, the time
#: zone and the proxy (the vendor's way out), nothing else
PASSED_ENVIRONMENT = (
    "PATH",
    "LANG",
    "LC_ALL",
    "TZ",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
    "https_proxy",
    "http_proxy",
    "no_proxy",
)
#: how a runner's working directory is named (it removes it when it ends, the worker too)
WORKDIR_PREFIX = "tqops-runner-"
#: the longest line a runner may send (a result with its found indicators)
MAX_LINE = 16 << 20
#: pacing requests a runner may have waiting at once (its calls in flight ask one each)
MAX_PACING = 256
#: seconds a runner is given to unpack and import its integration
START_TIMEOUT = 60.0
#: how much of a runner's standard error is kept, to say why it did not start
STDERR_KEPT = 2000
_STATUSES = {status.value for status in Status}


@attrs.frozen
class RunnerSettings:
    """How runners are started (each an environment variable of the worker's)."""

    #: the interpreter that runs ``python -m tqops.runner`` (``TQOPS_RUNNER_PYTHON``; default
    #: this one): where runners run as another user, one that user can read and run
    python: str = sys.executable
    #: the user runners run as where the host runs as root (``TQOPS_RUNNER_USER``, default
    #: ``nobody``); elsewhere they run as the host's own user
    user: Optional[str] = None
    #: seconds a runner with inputs may say nothing before it is stopped
    timeout: float = 120.0
    #: runner processes a worker keeps at most
    most: int = 4
    #: seconds an idle runner is kept for the next run
    idle: float = 60.0
    #: the address space a runner may use, in MiB
    memory: int = 2048

    @classmethod
    def from_environ(cls, environ: Optional[Mapping[str, str]] = None) -> RunnerSettings:
        env = os.environ if environ is None else environ
        user = env.get("TQOPS_RUNNER_USER", "").strip() or "nobody"
        if os.geteuid() != 0:
            user = None
        elif user is not None:
            try:
                pwd.getpwnam(user)
            except KeyError:
                raise ConfigError(
                    f"TQOPS_RUNNER_USER names no user of this machine ({user[:32]!r})"
                ) from None
        return cls(
            python=env.get("TQOPS_RUNNER_PYTHON", "").strip() or sys.executable,
            user=user,
            timeout=seconds_setting(
                "TQOPS_RUNNER_TIMEOUT", 120.0, 1, 3600, hint="default 120", environ=env
            ),
            most=whole_setting("TQOPS_RUNNERS", 4, 1, 64, env),
            idle=seconds_setting(
                "TQOPS_RUNNER_IDLE", 60.0, 1, 3600, hint="default 60", environ=env
            ),
            memory=whole_setting("TQOPS_RUNNER_MEMORY", 2048, 256, 65536, env),
        )


@attrs.frozen
class RunnerSpec:
    """An uploaded integration as a runner needs it: its file on this node."""

    name: str
    label: str
    version: str
    package: str
    sha256: str
    wheel: Path


class RunnerFailed(OperationError):
    """A runner did not start, crashed, hung or broke its protocol (one line); ``reason``:
    what the runner said of its integration when it could not load it."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


class _Process:
    """One runner process and the thread that reads it."""

    def __init__(
        self,
        spec: RunnerSpec,
        settings: RunnerSettings,
        pacer: Callable[[str, float], Any],
    ) -> None:
        self.spec = spec
        self.settings = settings
        self._pacer = pacer
        self._pacers: dict[tuple[str, float], Any] = {}
        self._pacing = ThreadPoolExecutor(max_workers=32, thread_name_prefix="tqops-pace")
        self._waiting = 0
        self._lock = threading.Lock()
        self._inbox: queue.Queue[Optional[dict[str, Any]]] = queue.Queue()
        self._stderr = b""
        self.used = time.monotonic()
        self.workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
        ids = self._ids()
        if ids is not None:
            os.chown(self.workdir, ids[0], ids[1])
        environ = {k: os.environ[k] for k in PASSED_ENVIRONMENT if k in os.environ}
        environ.update(
            HOME=str(self.workdir),
            TMPDIR=str(self.workdir),
            PYTHONDONTWRITEBYTECODE="1",
            MALLOC_ARENA_MAX="2",  # glibc's arenas reserve 64 MiB each: bounded address space
        )
        memory = settings.memory << 20

        def limits() -> None:  # in the child, before it runs anything
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            os.umask(0o077)

        try:
            self.popen = subprocess.Popen(
                [settings.python, "-m", "tqops.runner"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=self.workdir,
                env=environ,
                close_fds=True,
                start_new_session=True,
                preexec_fn=limits,
                **self._user_arguments(ids),
            )
        except OSError as exc:
            shutil.rmtree(self.workdir, ignore_errors=True)
            raise RunnerFailed(
                f"the runner of {spec.label} could not start {settings.python}: "
                f"{exc.strerror or exc}; set TQOPS_RUNNER_PYTHON to an interpreter with tqops "
                "installed that the runner's user can run"
            ) from None
        threading.Thread(target=self._read, daemon=True, name="tqops-runner-out").start()
        threading.Thread(target=self._read_stderr, daemon=True, name="tqops-runner-err").start()
        try:
            self._hello()
        except RunnerFailed:
            self.stop()
            raise

    def _ids(self) -> Optional[tuple[int, int]]:
        if self.settings.user is None:
            return None
        entry = pwd.getpwnam(self.settings.user)
        return entry.pw_uid, entry.pw_gid

    @staticmethod
    def _user_arguments(ids: Optional[tuple[int, int]]) -> dict[str, Any]:
        if ids is None:
            return {}
        return {"user": ids[0], "group": ids[1], "extra_groups": []}

    # -- the pipe -----------------------------------------------------------------------------

    def send(self, message: Mapping[str, Any]) -> None:
        stdin = self.popen.stdin
        assert stdin is not None
        data = (json.dumps(message, separators=(",", ":")) + "\n").encode()
        with self._lock:
            try:
                stdin.write(data)
                stdin.flush()
            except (OSError, ValueError):
                pass  # it exited: its reader says so

    def _read(self) -> None:
        stdout = self.popen.stdout
        assert stdout is not None
        try:
            while True:
                line = stdout.readline(MAX_LINE + 1)
                if not line:
                    break
                if len(line) > MAX_LINE:
                    self._inbox.put({"broken": f"sent a line over {MAX_LINE >> 20} MiB"})
                    break
                try:
                    message = json.loads(line)
                except ValueError:
                    self._inbox.put({"broken": "sent what is not its protocol"})
                    break
                if not isinstance(message, dict):
                    self._inbox.put({"broken": "sent what is not its protocol"})
                    break
                if "pace" in message:
                    self._pace(message)
                else:
                    self._inbox.put(message)
        except (OSError, ValueError):
            pass
        self._inbox.put(None)  # the end of its output

    def _read_stderr(self) -> None:
        stderr = self.popen.stderr
        assert stderr is not None
        with contextlib.suppress(OSError, ValueError):
            for chunk in iter(lambda: stderr.read(4096), b""):
                self._stderr = (self._stderr + chunk)[-STDERR_KEPT:]

    def _pace(self, message: Mapping[str, Any]) -> None:
        with self._lock:
            if self._waiting >= MAX_PACING:
                self._inbox.put({"broken": f"asked for over {MAX_PACING} call slots at once"})
                return
            self._waiting += 1
        self._pacing.submit(self._answer_pace, message)

    def _answer_pace(self, message: Mapping[str, Any]) -> None:
        try:
            vendor, rate = str(message.get("vendor"))[:200], float(message.get("rate") or 0)
            if rate > 0:
                key = (vendor, rate)
                if key not in self._pacers:
                    self._pacers[key] = self._pacer(vendor, rate)
                self._pacers[key].wait()
        except (TypeError, ValueError):
            pass
        finally:
            with self._lock:
                self._waiting -= 1
            self.send({"paced": message.get("pace"), "delay": 0})

    def receive(self, timeout: float) -> Optional[dict[str, Any]]:
        """The next message; ``{"timeout": True}`` after ``timeout`` seconds without one,
        None once the runner's output has ended."""
        try:
            return self._inbox.get(timeout=timeout)
        except queue.Empty:
            return {"timeout": True}

    def _hello(self) -> None:
        wheel = self.spec.wheel.read_bytes()
        spec = {
            "name": self.spec.name,
            "version": self.spec.version,
            "package": self.spec.package,
            "sha256": self.spec.sha256,
        }
        self.send({"load": spec, "wheel": base64.b64encode(wheel).decode()})
        answer = self.receive(START_TIMEOUT)
        if answer and "ready" in answer:
            return
        if answer and "failed" in answer:
            said = " ".join(str(answer["failed"]).split())[:600]
            raise RunnerFailed(f"{self.spec.label} {self.spec.version} {said}", said)
        if answer and "timeout" in answer:
            raise RunnerFailed(
                f"the runner of {self.spec.label} did not load it within {START_TIMEOUT:g} s"
            )
        self.popen.wait(5)
        said = self._stderr.decode("utf-8", "replace").strip().splitlines()
        why = said[-1][:300] if said else f"exit code {self.popen.returncode}"
        raise RunnerFailed(
            f"the runner of {self.spec.label} did not start ({why}); check "
            "TQOPS_RUNNER_PYTHON: an interpreter with tqops installed that the runner's user "
            "can run"
        )

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            if self.popen.stdin is not None:
                self.popen.stdin.close()
        try:
            self.popen.wait(2)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(self.popen.pid, 9)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(5)
        self._pacing.shutdown(wait=False, cancel_futures=True)
        for stream in (self.popen.stdout, self.popen.stderr):
            with contextlib.suppress(OSError, ValueError):
                if stream is not None:
                    stream.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            os.killpg(self.popen.pid, 9)
        self.stop()


class Runners:
    """The runner processes of one worker: at most ``settings.most``, each kept for the next
    run of its integration until idle a while."""

    def __init__(
        self,
        settings: Optional[RunnerSettings] = None,
        pacer: Optional[Callable[[str, float], Any]] = None,
    ) -> None:
        self._settings = settings
        self._pacer = pacer or Service.pacer_for
        self._lock = threading.Condition()
        self._idle: list[_Process] = []
        self._busy = 0
        self._number = 0
        self._closed = False

    @property
    def settings(self) -> RunnerSettings:
        if self._settings is None:
            self._settings = RunnerSettings.from_environ()
        return self._settings

    # -- processes ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _process(self, spec: RunnerSpec) -> Iterator[_Process]:
        process = self._take(spec)
        healthy = False
        try:
            yield process
            healthy = process.alive
        finally:
            with self._lock:
                self._busy -= 1
                keep = healthy and not self._closed
                if keep:
                    process.used = time.monotonic()
                    self._idle.append(process)
                self._lock.notify_all()
            if not keep:
                process.kill()

    def _take(self, spec: RunnerSpec) -> _Process:
        settings = self.settings
        stale: list[_Process] = []
        with self._lock:
            deadline = time.monotonic() + settings.timeout
            while True:
                now = time.monotonic()
                for process in list(self._idle):
                    if not process.alive or now - process.used > settings.idle:
                        self._idle.remove(process)
                        stale.append(process)
                found = next((p for p in self._idle if p.spec == spec), None)
                if found is not None:
                    self._idle.remove(found)
                    self._busy += 1
                    break
                if self._busy + len(self._idle) >= settings.most and self._idle:
                    stale.append(self._idle.pop(0))  # the oldest idle one makes room
                if self._busy + len(self._idle) < settings.most:
                    self._busy += 1
                    break
                if now > deadline:
                    raise RunnerFailed(
                        f"no runner for {spec.label} was free within {settings.timeout:g} s "
                        f"(TQOPS_RUNNERS is {settings.most})"
                    )
                self._lock.wait(1.0)
        for process in stale:
            process.stop()
        if found is not None:
            return found
        try:
            return _Process(spec, settings, self._pacer)
        except BaseException:
            with self._lock:
                self._busy -= 1
                self._lock.notify_all()
            raise

    def _next_number(self) -> int:
        with self._lock:
            self._number += 1
            return self._number

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for process in idle:
            process.stop()

    # -- what a worker and the host ask ---------------------------------------------------------

    def check(self, spec: RunnerSpec) -> None:
        """Start a runner of ``spec``: its code imports and defines its operation, or a
        :class:`RunnerFailed` says why not (an upload that cannot run is refused)."""
        with self._process(spec):
            pass

    def test_connection(self, spec: RunnerSpec, config: Config) -> ConnectionReport:
        """Test Connection in a runner, with ``config`` (resolved by the host)."""
        number = self._next_number()
        secrets = config.secrets()
        with self._process(spec) as process:
            process.send({"test": number, "config": self._config(config)})
            while True:
                message = process.receive(self.settings.timeout)
                if message is None or "broken" in message or "timeout" in message:
                    process.kill()
                    raise RunnerFailed(self._failure(spec, process, message))
                if message.get("tested") == number:
                    break
        if "report" not in message:
            error = scrub(str(message.get("error") or "the test failed"), secrets)
            raise OperationError(" ".join(error.split())[:500])
        report = scrub(message["report"], secrets)
        steps = report.get("steps") if isinstance(report, dict) else None
        return Service.connection_report(spec.name, steps if isinstance(steps, list) else [])

    def run(
        self,
        spec: RunnerSpec,
        config: Config,
        action: str,
        options: Mapping[str, Any],
        inputs: Sequence[Selection],
        *,
        concurrency: int,
        cancel: CancelToken,
    ) -> Iterator[tuple[Selection, dict[str, Any]]]:
        """Run ``action`` in a runner: each input with the payload of its result, as each
        comes. Every input ends with one, those a failed runner had not answered as ``error``
        results that say what happened to it; but once ``cancel`` is cancelled, an input not
        sent yet has none (as in a run in this process), so that it can be carried on."""
        pending = {(s.type, s.value): s for s in inputs}
        number = self._next_number()
        try:
            process_context = self._process(spec)
            process = process_context.__enter__()
        except RunnerFailed as exc:
            yield from self._all_failed(pending, str(exc))
            return
        failure: Optional[str] = None
        finished = False
        try:
            process.send(
                {
                    "run": number,
                    "action": action,
                    "options": dict(options),
                    "config": self._config(config),
                    "inputs": [[s.type, s.value] for s in inputs],
                    "concurrency": concurrency,
                }
            )
            told_cancel = False
            quiet_since = time.monotonic()
            while True:
                if cancel.cancelled and not told_cancel:
                    process.send({"cancel": number})
                    told_cancel = True
                message = process.receive(0.25)
                quiet = time.monotonic() - quiet_since < self.settings.timeout
                if message is not None and "timeout" in message and quiet:
                    continue
                quiet_since = time.monotonic()
                if message is None or "broken" in message or "timeout" in message:
                    failure = self._failure(spec, process, message)
                    process.kill()
                    break
                if message.get("result") == number:
                    found = self._checked(message.get("payload"), pending)
                    if found is not None:
                        yield found
                elif message.get("ended") == number:
                    if message.get("error"):
                        error = scrub(str(message["error"]), config.secrets())
                        failure = " ".join(error.split())[:500]
                    break
            finished = True
        finally:
            if not finished:  # its consumer left mid-run: the runner is not reused
                process.kill()
            process_context.__exit__(None, None, None)
        if pending and not cancel.cancelled:  # cancelled: unsent inputs stay unanswered
            reason = failure or f"the runner of {spec.label} gave no result for it"
            yield from self._all_failed(pending, reason)

    # -- helpers ------------------------------------------------------------------------------

    def _config(self, config: Config) -> dict[str, Any]:
        """What a runner gets of a configuration: its values, its secrets, and the contents of
        the files it names (the runner cannot read the host's files)."""
        values: dict[str, Any] = {}
        secrets: dict[str, str] = {}
        files: dict[str, str] = {}
        ca_field = config.manifest.field_for_role("ca_file")
        for name, value in config.items():
            if isinstance(value, Secret):
                secrets[name] = value.reveal()
            elif ca_field is not None and name == ca_field.name and value:
                try:
                    files[name] = Path(str(value)).read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    raise ConfigError(
                        f"{ca_field.label} {str(value)[:120]!r} cannot be read: "
                        f"{getattr(exc, 'strerror', None) or type(exc).__name__}"
                    ) from None
            else:
                values[name] = value
        return {"values": values, "secrets": secrets, "files": files}

    @staticmethod
    def _checked(
        payload: Any, pending: dict[tuple[str, str], Selection]
    ) -> Optional[tuple[Selection, dict[str, Any]]]:
        """A result the runner sent, if it is one of an input it still owes."""
        if not isinstance(payload, dict) or payload.get("status") not in _STATUSES:
            return None
        given = payload.get("input")
        if not isinstance(given, dict):
            return None
        selection = pending.pop((str(given.get("type")), str(given.get("value"))), None)
        if selection is None:
            return None
        return selection, payload

    @staticmethod
    def _all_failed(
        pending: dict[tuple[str, str], Selection], reason: str
    ) -> Iterator[tuple[Selection, dict[str, Any]]]:
        for selection in list(pending.values()):
            yield selection, Result(selection, Status.ERROR, error=reason).to_dict()
        pending.clear()

    def _failure(
        self, spec: RunnerSpec, process: _Process, message: Optional[Mapping[str, Any]]
    ) -> str:
        label = spec.label
        if message is not None and "timeout" in message:
            return (
                f"the runner of {label} said nothing for {self.settings.timeout:g} s and was "
                "stopped (TQOPS_RUNNER_TIMEOUT)"
            )
        if message is not None and "broken" in message:
            return f"the runner of {label} {message['broken']} and was stopped"
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.popen.wait(2)
        code = process.popen.returncode
        how = (
            f"was killed by signal {-code}" if code is not None and code < 0 else f"exited ({code})"
        )
        return f"the runner of {label} {how} before it answered"

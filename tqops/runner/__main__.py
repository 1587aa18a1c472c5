"""``python -m tqops.runner``: the runner process (the protocol is in :mod:`tqops.runner`)."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import os
import shutil
import sys
import threading
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

from tqops.config.values import Config, Secret
from tqops.errors import OperationError
from tqops.service import CancelToken, Operation, Selection, Service

#: the largest file a runner writes for a configuration (a CA bundle)
MAX_FILE = 1 << 20
#: how the working directory a worker makes for a runner is named (in the temporary folder)
WORKDIR_PREFIX = "tqops-runner-"


class Channel:
    """The runner's side of the pipe: one JSON document per line, written by one thread at a
    time; pacing answers are handed to the call that waits for them."""

    def __init__(self, out: io.TextIOBase) -> None:
        self._out = out
        self._lock = threading.Lock()
        self._waiting: dict[int, tuple[threading.Event, list[float]]] = {}
        self._next = 0

    def send(self, message: Mapping[str, Any]) -> None:
        line = json.dumps(message, separators=(",", ":"), default=str)
        with self._lock:
            self._out.write(line + "\n")
            self._out.flush()

    def pace(self, vendor: str, rate: float) -> float:
        """Ask the worker for this call's slot; wait for it."""
        event, box = threading.Event(), []
        with self._lock:
            self._next += 1
            number = self._next
            self._waiting[number] = (event, box)
        self.send({"pace": number, "vendor": vendor, "rate": rate})
        event.wait()
        delay = box[0] if box else 0.0
        if delay > 0:
            threading.Event().wait(delay)
        return delay

    def paced(self, number: int, delay: float) -> None:
        with self._lock:
            found = self._waiting.pop(number, None)
        if found is not None:
            found[1].append(max(0.0, float(delay)))
            found[0].set()

    def release_all(self) -> None:
        with self._lock:
            waiting, self._waiting = self._waiting, {}
        for event, _ in waiting.values():
            event.set()


class ParentPacer:
    """A vendor's pacer that asks the worker (which paces every worker's calls together)."""

    def __init__(self, channel: Channel, vendor: str, rate: float) -> None:
        self.channel, self.vendor, self.rate = channel, vendor, rate

    def wait(self) -> float:
        return self.channel.pace(self.vendor, self.rate)


def one_line(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, OperationError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())[:500]


def load(spec: Mapping[str, Any], wheel: bytes) -> Operation:
    """Unpack the integration's package into the working directory and import it under a
    module name of its own."""
    name, package = str(spec["name"]), str(spec["package"])
    if hashlib.sha256(wheel).hexdigest() != spec["sha256"]:
        raise OperationError("the integration file changed on its way to the runner")
    if not package.isidentifier():
        raise OperationError(f"{package[:40]!r} is not a package name")
    root = Path.cwd() / "integration"
    with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
        for info in archive.infolist():
            parts = info.filename.split("/")
            if parts[0] != package or info.is_dir() or ".." in parts:
                continue
            target = root.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(info))
    package_dir = root / package
    alias = f"tqops_integration_{name}_{str(spec['sha256'])[:12]}"
    init = package_dir / "__init__.py"
    module_spec = importlib.util.spec_from_file_location(
        alias, init, submodule_search_locations=[str(package_dir)]
    )
    if module_spec is None or module_spec.loader is None or not init.is_file():
        raise OperationError(f"the integration file holds no package {package}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[alias] = module  # first: its relative imports and resources need it
    try:
        module_spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        reason = one_line(exc).replace(alias, package).replace(f"{root}/", "")
        raise OperationError(f"failed to load: {reason}") from None
    try:
        return Service.exported_operation(module, name)
    except OperationError as exc:
        raise OperationError(f"failed to load: {exc}; rebuild it with `tqops bundle`") from None


class Runner:
    """One integration's operation, run as the worker asks."""

    def __init__(self, operation: Operation, channel: Channel) -> None:
        self.operation = operation
        self.service = Service.of(operation)
        self.channel = channel
        self.runs: dict[Any, CancelToken] = {}
        self._files = Path.cwd() / "files"

    def config(self, given: Mapping[str, Any]) -> Config:
        values = dict(given.get("values") or {})
        for field, secret in (given.get("secrets") or {}).items():
            values[str(field)] = Secret(str(secret))
        for field, text in (given.get("files") or {}).items():
            data = str(text).encode()[:MAX_FILE]
            self._files.mkdir(exist_ok=True)
            path = self._files / f"{hashlib.sha256(data).hexdigest()[:16]}.pem"
            path.write_bytes(data)
            values[str(field)] = str(path)
        return Config(self.operation.manifest, values)

    def run(self, message: Mapping[str, Any]) -> None:
        number = message["run"]
        token = self.runs[number]
        error: Optional[str] = None
        try:
            config = self.config(message.get("config") or {})
            action = str(message["action"])
            summarise = self.service.reader(self.operation.name, action, config).summary
            inputs = [Selection(str(t), str(v)) for t, v in message.get("inputs") or ()]
            concurrency = max(1, int(message.get("concurrency") or 1))
            with self.operation.configure(config, pool_size=concurrency) as configured:
                job = configured.run(
                    action,
                    message.get("options") or {},
                    inputs,
                    concurrency=concurrency,
                    ordered=False,
                    cancel=token,
                )
                with job:
                    for result in job:
                        self.channel.send({"result": number, "payload": result.to_dict(summarise)})
        except Exception as exc:
            error = one_line(exc)
        finally:
            self.runs.pop(number, None)
        self.channel.send({"ended": number, **({"error": error} if error else {})})

    def test(self, message: Mapping[str, Any]) -> None:
        number = message["test"]
        try:
            config = self.config(message.get("config") or {})
            report = self.service.test_connection(self.operation.name, config)
            self.channel.send({"tested": number, "report": report.to_dict()})
        except Exception as exc:
            self.channel.send({"tested": number, "error": one_line(exc)})

    def handle(self, message: Mapping[str, Any]) -> None:
        if "paced" in message:
            self.channel.paced(int(message["paced"]), float(message.get("delay") or 0))
        elif "cancel" in message:
            token = self.runs.get(message["cancel"])
            if token is not None:
                token.cancel()
        elif "run" in message:
            self.runs[message["run"]] = CancelToken()
            threading.Thread(target=self.run, args=(message,), daemon=True).start()
        elif "test" in message:
            threading.Thread(target=self.test, args=(message,), daemon=True).start()


def undumpable() -> None:
    """Keep other processes of the runner's user (the runners of other integrations) out of
    this one's memory and environment: Linux's PR_SET_DUMPABLE 0 makes its /proc entries
    root's and refuses ptrace."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except (OSError, AttributeError):  # not Linux: the user's own processes remain
        pass


def main() -> int:
    undumpable()
    # its address space is bounded (TQOPS_RUNNER_MEMORY): each of up to --concurrency calls'
    # threads reserves 2 MiB of stack, not the 8 MiB a thread reserves by default
    threading.stack_size(2 << 20)
    # the protocol keeps the real standard output; what the integration prints goes to
    # standard error, which the worker reads only to say why a runner did not start
    channel = Channel(os.fdopen(os.dup(1), "w", encoding="utf-8"))
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    first = sys.stdin.readline()
    try:
        hello = json.loads(first)
        operation = load(hello["load"], base64.b64decode(hello["wheel"]))
    except Exception as exc:
        channel.send({"failed": one_line(exc)})
        return 1
    Service.share_pacing(lambda vendor, rate: ParentPacer(channel, vendor, rate))
    runner = Runner(operation, channel)
    channel.send({"ready": operation.manifest.version, "pid": os.getpid()})
    for line in sys.stdin:
        try:
            runner.handle(json.loads(line))
        except (ValueError, KeyError, TypeError):
            continue  # the worker wrote it: a line that is not one is ignored
    channel.release_all()
    for token in list(runner.runs.values()):
        token.cancel()
    return 0


def leave_no_trace() -> None:
    """Remove the working directory a worker made for this runner (its name says so): the
    worker may have been killed, and the runner's end of input is then its only sign."""
    here = Path.cwd()
    made = os.environ.get("HOME") == os.environ.get("TMPDIR") == str(here)  # as a worker does
    if made and here.name.startswith(WORKDIR_PREFIX):
        shutil.rmtree(here, ignore_errors=True)


if __name__ == "__main__":
    try:
        code = main()
    finally:
        leave_no_trace()
    sys.exit(code)

"""Operations: one per vendor, found through the ``tqops.operations`` entry points.

An :class:`Operation` binds a manifest to code: a client class, one function per manifest
action (checked both ways when the operation is defined), extra transforms and a connection
test. :meth:`Operation.configure` gives a :class:`ConfiguredOperation`, which keeps its HTTP
client and connection pool across runs until it is closed; each run is a :class:`Job` of one
:class:`Result` per input: one bad value or failed call never stops the others.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Iterable, Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Optional, Union

import attrs

from .config import Config, Options, StoredConfig, redact, validate_config, validate_options
from .errors import ConfigError, InputError, ManifestError, OperationError
from .fields import ROLES
from .http import HttpClient
from .indicators import check_indicator
from .manifest import ActionSpec, Manifest, find_packaged_file, load_manifest
from .mapping import Mapper, MappingResult
from .model import Indicator, IndicatorType
from .results import Cancelled, CancelToken, Notice, Result, Selection, Status
from .runner import Job, ProgressCallback
from .transforms import Transform
from .vendor import auth_spec, http_client_for, settings_for

__all__ = ["ActionFunction", "ConfiguredOperation", "Operation"]

log = logging.getLogger("tqops.operation")

#: ``action(client, indicator, options) -> responses`` (each response is parsed JSON)
ActionFunction = Callable[[Any, Indicator, Options], Iterable[Any]]
#: the vendor client class (or any callable) that takes the pooled :class:`HttpClient`
ClientFactory = Callable[[HttpClient], Any]
ConnectionTest = Callable[[Any], str]
Input = Union[Selection, Indicator, tuple[str, str]]


@attrs.frozen
class Operation:
    """A vendor's operation: its manifest and the code behind it."""

    manifest: Manifest
    client_factory: ClientFactory
    actions: Mapping[str, ActionFunction]
    test_connection: ConnectionTest
    transforms: Mapping[str, Transform] = attrs.field(factory=dict)
    mappers: Mapping[str, Mapper] = attrs.field(factory=dict)
    #: the import name of the package that defines the operation
    package: Optional[str] = None

    @classmethod
    def define(
        cls,
        manifest: Manifest,
        client_factory: ClientFactory,
        actions: Mapping[str, ActionFunction],
        test_connection: ConnectionTest,
        transforms: Optional[Mapping[str, Transform]] = None,
        package: Optional[str] = None,
    ) -> Operation:
        """Bind code to a manifest, checking both directions and compiling every mapping."""
        declared = {a.name for a in manifest.actions}
        problems = [
            f"action {name!r} is in the manifest but has no function"
            for name in sorted(declared - set(actions))
        ] + [
            f"function for action {name!r} is not in the manifest"
            for name in sorted(set(actions) - declared)
        ]
        if manifest.field_for_role("host") is None:
            problems.append(
                f"no config field has the role 'host' ({ROLES['host'][2]}); the operation "
                "cannot know where to connect"
            )
        if not manifest.auth:
            problems.append("no 'auth' entry says how the credential is sent")
        mappers = {}
        for action in manifest.actions:
            try:
                mappers[action.name] = Mapper.compile(action.mapping, transforms)
            except ManifestError as exc:
                problems += [f"{p} @ action {action.name!r}" for p in exc.problems]
        if problems:
            raise ManifestError(
                f"operation {manifest.name!r} does not match its manifest", tuple(problems)
            )
        return cls(
            manifest,
            client_factory,
            dict(actions),
            test_connection,
            dict(transforms or {}),
            mappers,
            package,
        )

    @classmethod
    def from_package(
        cls,
        package: str,
        manifest_file: str,
        client_factory: ClientFactory,
        actions: Mapping[str, ActionFunction],
        test_connection: ConnectionTest,
        transforms: Optional[Mapping[str, Transform]] = None,
    ) -> Operation:
        """The operation of ``package``, whose manifest ships inside it as ``manifest_file``."""
        manifest = load_manifest(find_packaged_file(package, manifest_file))
        return cls.define(manifest, client_factory, actions, test_connection, transforms, package)

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def package_dir(self) -> Optional[Path]:
        """Where the operation's package lives (its manifest, samples and change log)."""
        if not self.package:
            return None
        module = sys.modules.get(self.package) or importlib.import_module(self.package)
        return Path(module.__file__).parent if module.__file__ else None

    def package_file(self, name: str) -> Optional[Any]:
        """A resource shipped inside the operation's package (None: none such)."""
        if not self.package:
            return None
        found = resources.files(self.package).joinpath(name)
        return found if found.is_file() or found.is_dir() else None

    def check_config(self, raw: Mapping[str, Any]) -> StoredConfig:
        """What an admin entered, checked (references not resolved): the form to store."""
        return StoredConfig.check(self.manifest, raw)

    def resolve_config(self, raw: Union[StoredConfig, Mapping[str, Any]]) -> Config:
        if isinstance(raw, StoredConfig):
            return raw.resolve()
        return validate_config(self.manifest, raw)

    def configure(
        self,
        config: Union[Config, StoredConfig, Mapping[str, Any]],
        *,
        proxy: Optional[str] = None,
        pool_size: int = 8,
    ) -> ConfiguredOperation:
        """A configured operation with its own connection pool; close it when done."""
        if not isinstance(config, Config):
            config = self.resolve_config(config)
        return ConfiguredOperation(self, config, proxy=proxy, pool_size=pool_size)

    def map(
        self, action: str, documents: Iterable[Any], selected: Optional[Indicator] = None
    ) -> MappingResult:
        """Map saved vendor responses offline with an action's mapping table."""
        self.manifest.action(action)
        return self.mappers[action].map_all(documents, selected)


class ConfiguredOperation:
    """An operation with a resolved configuration and one pooled vendor client, kept across
    runs and closed explicitly (:meth:`close`, or use it as a context manager)."""

    def __init__(
        self,
        operation: Operation,
        config: Config,
        *,
        proxy: Optional[str] = None,
        pool_size: int = 8,
    ) -> None:
        auth_spec(operation.manifest)  # a manifest without auth fails before any connection
        self.operation = operation
        self.config = config
        self.pool_size = max(1, pool_size)
        self.settings = settings_for(config, proxy, self.pool_size)
        self.client = operation.client_factory(http_client_for(config, self.settings))
        self._secrets = config.secrets()

    def __repr__(self) -> str:
        return f"ConfiguredOperation({self.operation.name}, {self.settings.base_url!r})"

    def __enter__(self) -> ConfiguredOperation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        close = getattr(self.client, "close", None)
        if callable(close):
            close()

    def test_connection(self) -> str:
        """Run the operation's connection test; raise the error that explains a failure."""
        return self.operation.test_connection(self.client)

    def run(
        self,
        action: str,
        options: Mapping[str, Any],
        inputs: Iterable[Input],
        *,
        concurrency: Optional[int] = None,
        ordered: bool = True,
        cancel: Optional[CancelToken] = None,
        on_progress: Optional[ProgressCallback] = None,
    ) -> Job:
        """Run ``action`` over ``inputs`` as a :class:`Job` of one :class:`Result` per input.

        Options are checked now (an :class:`InputError` before anything is sent). At most
        ``concurrency`` (default: the pool size) calls are in flight.
        """
        spec = self.operation.manifest.action(action)
        checked = validate_options(spec.options, options, spec.label)
        workers = self.pool_size if concurrency is None else concurrency
        if workers < 1:
            raise ConfigError(f"concurrency must be at least 1, got {workers}")

        def work(selection: Selection, token: CancelToken) -> Result:
            return self._run_one(spec, selection, checked, token)

        return Job(
            work,
            inputs,
            concurrency=workers,
            ordered=ordered,
            cancel=cancel,
            on_progress=on_progress,
        )

    def _run_one(
        self, spec: ActionSpec, selection: Selection, options: Options, token: CancelToken
    ) -> Result:
        try:
            indicator = Indicator(
                value=selection.value, type=IndicatorType.from_name(selection.type)
            )
            if indicator.type not in spec.indicator_types:
                accepted = ", ".join(t.value for t in spec.indicator_types)
                raise InputError(
                    f"{spec.label} does not take {indicator.type.value} indicators; "
                    f"it takes: {accepted}"
                )
            selected = check_indicator(indicator)
            notices: list[str] = []
            action = self.operation.actions[spec.name]
            pages = _documents(action(self.client, selected, options), notices, token)
            mapped = self.operation.mappers[spec.name].map_all(pages, selected)
        except OperationError as exc:
            return Result(selection, Status.ERROR, error=self._line(str(exc)))
        except Cancelled:
            raise
        except Exception as exc:  # a bug: report it on this input, keep the others going
            log.error("internal error on %s %r", selection.type, selection.value, exc_info=True)
            return Result(
                selection,
                Status.ERROR,
                error=self._line(f"internal error (a bug): {type(exc).__name__}: {exc}"),
            )
        status = Status.OK if mapped.indicators else Status.NO_RESULTS
        warnings = tuple(redact(w, self._secrets) for w in (*notices, *mapped.warnings))
        return Result(selection, status, mapped.indicators, None, warnings)

    def _line(self, text: str) -> str:
        return " ".join(redact(text, self._secrets).split())


def _documents(items: Iterable[Any], notices: list[str], token: CancelToken) -> Iterator[Any]:
    """The action's responses; each next page is asked for only while the run goes on."""
    iterator = iter(items)
    while True:
        token.check()
        try:
            item = next(iterator)
        except StopIteration:
            return
        if isinstance(item, Notice):
            notices.append(item.message)
        else:
            yield item

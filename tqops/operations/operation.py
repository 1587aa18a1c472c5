"""Operations: one per vendor, found through the ``tqops.operations`` entry points.

An :class:`Operation` binds a manifest to code: a client class, one function per manifest
action (checked both ways when the operation is defined), extra transforms and a connection
test. :meth:`Operation.configure` gives a :class:`ConfiguredOperation`, which keeps its HTTP
client and connection pool across runs until it is closed; each run is a :class:`Job` of one
:class:`Result` per input: one bad value or failed call never stops the others.
"""

from __future__ import annotations

import importlib
import ipaddress
import logging
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Callable, Optional, Union

import attrs

from tqops.config.values import (
    Config,
    Options,
    StoredConfig,
    redact,
    validate_config,
    validate_options,
)
from tqops.errors import ConfigError, InputError, ManifestError, OperationError, PolicySkip
from tqops.http import HttpClient
from tqops.manifest.checks import manifest_problems
from tqops.manifest.document import ActionSpec, Manifest, find_packaged_file, load_manifest
from tqops.manifest.transforms import BUILTIN_TRANSFORMS, Transform
from tqops.mapping import Mapper, MappingResult
from tqops.mapping.drift import DriftLog, drift_warning
from tqops.model import Indicator, IndicatorType, Verdict
from tqops.operations.variants import (
    client_variant_problems,
    compile_mappers,
    envelope_error,
    variant_of,
)
from tqops.operations.vendor import auth_spec, http_client_for, settings_for
from tqops.operations.verdicts import Judge, VerdictRules, compile_verdicts, mark_matches
from tqops.running.breaker import NOT_SENT, CircuitBreaker
from tqops.running.inputs import CheckedIndicator, checked_indicator
from tqops.running.results import Cancelled, CancelToken, Notice, Result, Selection, Status
from tqops.running.runner import Job, ProgressCallback
from tqops.tlp import Tlp

__all__ = ["ActionFunction", "ConfiguredOperation", "Operation"]

log = logging.getLogger("tqops.operations.operation")

#: ``action(client, indicator, options) -> responses`` (each response is parsed JSON)
ActionFunction = Callable[[Any, Indicator, Options], Iterable[Any]]
#: the vendor client class (or any callable) that takes the pooled :class:`HttpClient` and
#: the configuration's variant (the value of its field with role ``variant``, or None)
ClientFactory = Callable[[HttpClient, Optional[str]], Any]
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
    #: the mappers of the actions' other variants, by (action, variant)
    variant_mappers: Mapping[tuple[str, str], Mapper] = attrs.field(factory=dict)
    #: the compiled verdict rules by (action, variant key), where the manifest has some
    verdicts: Mapping[tuple[str, Optional[str]], VerdictRules] = attrs.field(factory=dict)
    #: where the package's files are, read as data (:meth:`described`: an operation whose code
    #: this process never imports)
    directory: Optional[Path] = None

    @classmethod
    def described(cls, manifest: Manifest, directory: Path, package: str) -> Operation:
        """An operation known by its manifest and its package's files alone, none of its code
        imported (a host's uploaded integration, which runs apart in a runner process): what
        it declares reads as usual; configuring, running or mapping it is an
        :class:`OperationError` that says it runs apart."""
        refuse = _Apart(manifest.label)
        return cls(
            manifest,
            refuse,
            {action.name: refuse for action in manifest.actions},
            refuse,
            package=package,
            directory=Path(directory),
        )

    @property
    def runs_apart(self) -> bool:
        """Whether this process holds only the operation's description (:meth:`described`)."""
        return self.directory is not None

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
        # what needs no code is what `tqops validate FILE` checks too
        checked = manifest_problems(manifest, {*BUILTIN_TRANSFORMS, *(transforms or {})})
        problems += checked + client_variant_problems(manifest, client_factory)
        mappers: dict[str, Mapper] = {}
        variant_mappers: dict[tuple[str, str], Mapper] = {}
        if not checked:  # a table compiles once its transforms and type paths are sound
            mappers, variant_mappers, mapping_problems = compile_mappers(manifest, transforms)
            problems += mapping_problems
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
            variant_mappers,
            compile_verdicts(manifest, mappers, variant_mappers),
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
        if self.directory is not None:
            return self.directory
        if not self.package:
            return None
        module = sys.modules.get(self.package) or importlib.import_module(self.package)
        return Path(module.__file__).parent if module.__file__ else None

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
        if self.runs_apart:
            self.client_factory()  # its code is not here: says where it runs
        if not isinstance(config, Config):
            config = self.resolve_config(config)
        return ConfiguredOperation(self, config, proxy=proxy, pool_size=pool_size)

    def mapper(self, action: str, variant: Optional[str] = None) -> Mapper:
        """The compiled mapping of ``action`` for ``variant`` (None: the default one)."""
        self.manifest.action(action)
        if self.runs_apart:
            self.client_factory()
        return self.variant_mappers.get((action, str(variant))) or self.mappers[action]

    def judge(self, action: str, config: Config) -> Optional[Judge]:
        """The verdict rules of ``action`` for the configuration's variant, bound to its
        thresholds (None: the manifest gives that variant no rules)."""
        spec = self.manifest.action(action)
        rules = self.verdicts.get((spec.name, spec.variant(config.variant).key))
        return rules.bind(config) if rules is not None else None

    def map(
        self,
        action: str,
        documents: Iterable[Any],
        selected: Optional[Indicator] = None,
        config: Optional[Mapping[str, Any]] = None,
    ) -> MappingResult:
        """Map saved vendor responses offline with an action's mapping table: the one of the
        variant ``config`` selects (only that field of it is needed). A response that does
        not fit that table is an :class:`ApiError` saying what was expected and what came;
        record keys the table neither reads nor ignores are one warning. With ``selected``,
        each found indicator is marked an exact or a related match of it."""
        variant = variant_of(self.manifest, config)
        mapper = self.mapper(action, variant)
        result = mapper.map_all(_fitting(self.manifest, variant, mapper, documents), selected)
        if selected is not None:  # what was searched is known: each found one is told apart
            result = attrs.evolve(result, indicators=mark_matches(result.indicators, selected))
        if not result.unmapped:
            return result
        told = drift_warning(self.manifest.label, result.unmapped)
        return attrs.evolve(result, warnings=(*result.warnings, told))


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
        auth_spec(operation.manifest, config)  # no auth for the config: fails before connecting
        self.operation = operation
        self.config = config
        self.pool_size = max(1, pool_size)
        self.settings = settings_for(config, proxy, self.pool_size)
        http = http_client_for(config, self.settings)
        self.client = operation.client_factory(http, config.variant)
        self._secrets = config.secrets()
        #: whether the vendor has answered one of this pool's calls (then later runs need not
        #: send one call first to learn that the credential works)
        self._proven = False

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
        max_tlp: Optional[Tlp] = None,
    ) -> Job:
        """Run ``action`` over ``inputs`` as a :class:`Job` of one :class:`Result` per input.

        Options are checked now (an :class:`InputError` before anything is sent). At most
        ``concurrency`` (default: the pool size) calls are in flight, and only one until the
        vendor has answered a call of this configured operation (this run's or an earlier
        one's). An input policy keeps from the vendor (a
        :class:`~tqops.errors.PolicySkip`) is a ``skipped`` result with its ``reason``. The
        run's :class:`~tqops.running.breaker.CircuitBreaker` stops sending on a rejected
        credential or after
        :data:`~tqops.running.breaker.MAX_CONNECTION_FAILURES` calls in a row without an answer;
        each input left is then an ``error`` result that begins ``not sent:`` and gives the reason.
        With ``max_tlp``, an input whose TLP (:attr:`Selection.tlp`) is above it is skipped.
        """
        spec = self.operation.manifest.action(action)
        variant = spec.variant(self.config.variant)
        checked = validate_options(
            spec.options, options, spec.label, self.config, variant.value_parameter
        )
        mapper = self.operation.mapper(spec.name, variant.key)
        judge = self.operation.judge(spec.name, self.config)
        drift = DriftLog()  # one per run: each unmapped key is told once
        workers = self.pool_size if concurrency is None else concurrency
        if workers < 1:
            raise ConfigError(f"concurrency must be at least 1, got {workers}")

        # one per run: a rejected credential stops this run only; calls wait for a first
        # answer only until this configured operation's vendor has answered one (a host's
        # pool runs many slices: each would otherwise start with one call at a time)
        breaker = CircuitBreaker(answered=self._proven)

        def work(selection: Selection, token: CancelToken) -> Result:
            result = self._run_one(
                spec, selection, checked, token, breaker, (mapper, drift, judge), max_tlp
            )
            if breaker.answered:
                self._proven = True
            return result

        return Job(
            work,
            inputs,
            concurrency=workers,
            ordered=ordered,
            cancel=cancel,
            on_progress=on_progress,
        )

    def _run_one(
        self,
        spec: ActionSpec,
        selection: Selection,
        options: Options,
        token: CancelToken,
        breaker: CircuitBreaker,
        mapping: tuple[Mapper, DriftLog, Optional[Judge]],
        max_tlp: Optional[Tlp] = None,
    ) -> Result:
        if selection.unreadable is not None:
            return Result(selection, Status.ERROR, error=self._line(selection.unreadable))
        notes: tuple[str, ...] = ()
        outcome: Optional[BaseException] = None
        admitted = False
        mapper, drift, judge = mapping
        pages: list[Any] = []  # kept for the verdict, which reads the raw records
        try:
            checked = _checked(spec, selection, max_tlp)
            notes = checked.notes
            reason = breaker.admit(token)
            if reason is not None:
                return Result(
                    selection, Status.ERROR, error=self._line(NOT_SENT + reason), warnings=notes
                )
            admitted = True
            notices: list[str] = []
            action = self.operation.actions[spec.name]
            answers = _documents(action(self.client, checked.indicator, options), notices, token)
            fitting = _fitting(self.operation.manifest, options.variant, mapper, answers, pages)
            mapped = mapper.map_all(fitting, checked.indicator)
            verdict = _verdict(judge, pages, checked.indicator, bool(mapped.indicators))
        except PolicySkip as exc:  # policy, not a failure: nothing was sent for it
            outcome = exc
            return Result(selection, Status.SKIPPED, warnings=notes, reason=self._line(str(exc)))
        except OperationError as exc:
            outcome = exc
            return Result(selection, Status.ERROR, error=self._line(str(exc)), warnings=notes)
        except Cancelled as exc:
            outcome = exc
            raise
        except Exception as exc:  # a bug: report it on this input, keep the others going
            outcome = exc
            log.error("internal error on %s %r", selection.type, selection.value, exc_info=True)
            return Result(
                selection,
                Status.ERROR,
                error=self._line(f"internal error (a bug): {type(exc).__name__}: {exc}"),
                warnings=notes,
            )
        finally:
            if admitted:
                breaker.record(outcome)
        status = Status.OK if mapped.indicators else Status.NO_RESULTS
        told = (*notes, *notices, *mapped.warnings)
        unmapped = drift.new(mapped.unmapped)
        if unmapped:
            told += (drift_warning(self.operation.manifest.label, unmapped),)
        found = mark_matches(mapped.indicators, checked.indicator)
        if self._secrets:
            found = tuple(_masked(indicator, self._secrets) for indicator in found)
        return Result(selection, status, found, warnings=tuple(self._redact(told)), verdict=verdict)

    def _redact(self, texts: Iterable[str]) -> Iterator[str]:
        return (redact(text, self._secrets) for text in texts)

    def _line(self, text: str) -> str:
        return " ".join(redact(text, self._secrets).split())


@attrs.frozen
class _Apart:
    """What stands for the code of an operation that runs apart: says so when called."""

    label: str

    def __call__(self, *_: Any) -> Any:
        raise OperationError(f"{self.label}'s code runs in a runner process, not in this one")


def _masked(indicator: Indicator, secrets: Sequence[str]) -> Indicator:
    """The indicator with every configured secret a vendor echoed in its value or attributes
    masked (a vendor that repeats the credential in a normal answer); the same object when
    none appears, which is every time but that one."""
    texts = [indicator.value, *(a.value for a in indicator.attributes)]
    if not any(s and len(s) >= 4 and s in text for s in secrets for text in texts):
        return indicator
    attributes = [attrs.evolve(a, value=redact(a.value, secrets)) for a in indicator.attributes]
    return attrs.evolve(indicator, value=redact(indicator.value, secrets), attributes=attributes)


def _checked(
    spec: ActionSpec, selection: Selection, max_tlp: Optional[Tlp] = None
) -> CheckedIndicator:
    """The selected indicator as it will be sent (refanged, normalised), if the action
    takes it: a type it does not take, a TLP above ``max_tlp`` or an address inside a
    network is a :class:`PolicySkip` (policy), a malformed value or TLP an
    :class:`InputError`, all before anything is sent."""
    if max_tlp is not None and selection.tlp is not None:
        try:
            level = Tlp.parse(selection.tlp)
        except ConfigError as exc:
            raise InputError(str(exc)) from None
        if level > max_tlp:
            raise PolicySkip(f"its TLP {level} is above the run's maximum, {max_tlp}")
    kind = IndicatorType.from_name(selection.type)
    accepted = ", ".join(t.value for t in spec.indicator_types)
    if kind not in spec.indicator_types:
        raise PolicySkip(
            f"{spec.label} does not take {kind.value} indicators; it takes: {accepted}"
        )
    checked = checked_indicator(Indicator(value=selection.value, type=kind))
    sent = checked.indicator.type
    if sent not in spec.indicator_types:  # an IPv4-mapped IPv6 address is an IP Address
        raise PolicySkip(
            f"{kind.value} {selection.value.strip()[:80]!r} is searched as {sent.value}, which "
            f"{spec.label} does not take; it takes: {accepted}"
        )
    if spec.private_addresses == "skip" and sent in _ADDRESS_TYPES:
        what = _not_public(checked.indicator.value)
        if what:
            raise PolicySkip(
                f"{sent.value} {checked.indicator.value!r} is {what}; {spec.label} sends "
                "public addresses only"
            )
    return checked


#: the types whose values are addresses, judged internal or not before a look-up
_ADDRESS_TYPES = frozenset(
    {IndicatorType.IP_ADDRESS, IndicatorType.IPV6_ADDRESS, IndicatorType.CIDR_BLOCK}
)
#: the networks whose addresses belong inside one network and never leave it: private
#: (RFC 1918, RFC 4193), shared (RFC 6598, carrier-grade NAT) and "this network"; loopback,
#: link-local, multicast and reserved ones are told by ``ipaddress`` itself. Documentation
#: ranges (RFC 5737, RFC 3849) are not among them: they name no one's network, and samples
#: and tests use them as the public addresses they stand for.
_INTERNAL = tuple(
    (ipaddress.ip_network(text), what)
    for text, what in (
        ("10.0.0.0/8", "a private address"),
        ("172.16.0.0/12", "a private address"),
        ("192.168.0.0/16", "a private address"),
        ("fc00::/7", "a private address"),
        ("100.64.0.0/10", "a shared address (carrier-grade NAT), not a public one"),
        ("0.0.0.0/8", "an address of this network, not a public one"),
    )
)
_NOT_PUBLIC = (
    ("is_loopback", "a loopback address"),
    ("is_link_local", "a link-local address"),
    ("is_multicast", "a multicast address"),
    ("is_unspecified", "the unspecified address"),
    ("is_reserved", "a reserved address"),
)


def _not_public(value: str) -> Optional[str]:
    """What an address (or a CIDR block) is when it belongs inside a network, else None."""
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None  # not an address the check wrote: the vendor's own check answers
    if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped:
        network = ipaddress.ip_network(f"{network.network_address.ipv4_mapped}/32")
    single = network.num_addresses == 1
    for attribute, what in _NOT_PUBLIC:
        if getattr(network, attribute, False):
            return what if single else what.replace(" address", " network")
    for inside, what in _INTERNAL:
        if inside.version == network.version and network.subnet_of(inside):  # type: ignore[arg-type]
            return what if single else what.replace(" address", " network")
    return None


def _fitting(
    manifest: Manifest,
    variant: Optional[str],
    mapper: Mapper,
    documents: Iterable[Any],
    kept: Optional[list[Any]] = None,
) -> Iterator[Any]:
    """The documents, each checked to have the shape the variant's table reads (and added
    to ``kept`` when given)."""
    for document in documents:
        problem = mapper.envelope_problem(document)
        if problem:
            raise envelope_error(manifest, variant, problem)
        if kept is not None:
            kept.append(document)
        yield document


def _verdict(judge: Optional[Judge], pages: list[Any], searched: Indicator, found: bool) -> Verdict:
    """The verdict on the searched indicator from the raw pages (the mapping's own records)."""
    if judge is None:
        return Verdict.unknown(
            "found; the operation declares no verdict rules" if found else "nothing found"
        )
    return judge.judge(pages, searched)


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

"""The one service layer: everything a user can do with operations, as values.

The ``tqops`` command and the operation host are thin shells over :class:`Service`: they parse
what they are given and render what it returns. Nothing here prints, exits, or changes
logging or warnings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, Optional, Union

import attrs

from tqops.config.values import Config, StoredConfig, validate_options
from tqops.errors import ManifestError
from tqops.http.pacing import pacer_for, share_pacing
from tqops.manifest.checks import manifest_problems
from tqops.manifest.document import Manifest, load_manifest
from tqops.manifest.transforms import BUILTIN_TRANSFORMS
from tqops.manifest.views import ActionView, FieldView, OperationView, OptionView, passthrough
from tqops.mapping import MappingResult
from tqops.mapping.coverage import Coverage
from tqops.mapping.coverage import coverage as coverage_of
from tqops.mapping.reading import Reader
from tqops.model import Indicator
from tqops.operations.operation import ConfiguredOperation, Input, Operation
from tqops.operations.registry import ENTRY_POINT_GROUP, Registry
from tqops.operations.variants import compile_mappers, variant_of
from tqops.running.csvinput import rows_from_csv
from tqops.running.inputs import checked_indicator
from tqops.running.results import CancelToken, Result, Selection, Status, indicator_dict
from tqops.running.runner import Job, ProgressCallback
from tqops.tlp import Tlp

__all__ = [
    "ENTRY_POINT_GROUP",
    "ActionView",
    "CancelToken",
    "ConfiguredOperation",
    "ConnectionReport",
    "FieldView",
    "Job",
    "Manifest",
    "MapReport",
    "Operation",
    "OperationInfo",
    "OperationView",
    "OptionView",
    "Reader",
    "Result",
    "Selection",
    "Service",
    "Status",
    "UpgradeReport",
    "Validation",
    "passthrough",
]


#: a configuration a view is drawn for: stored, or the values a form shows
Shown = Union[StoredConfig, Mapping[str, Any], None]


@attrs.frozen
class OperationInfo:
    """An installed operation as a listing shows it; ``error`` set when it failed to load."""

    name: str
    label: str = ""
    version: str = ""
    vendor: str = ""
    actions: tuple[tuple[str, str], ...] = ()  # (name, label)
    error: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        if self.error:
            return {"name": self.name, "error": self.error}
        return {
            "name": self.name,
            "label": self.label,
            "version": self.version,
            "vendor": self.vendor,
            "actions": [name for name, _ in self.actions],
        }


@attrs.frozen
class Validation:
    """A manifest checked: ``problems`` empty when it is valid."""

    source: str
    name: str = ""
    version: str = ""
    problems: tuple[str, ...] = ()
    actions: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


@attrs.frozen
class ConnectionReport:
    """Test Connection: every step checked, in order."""

    operation: str
    steps: tuple[Any, ...]  # tqops.operations.diagnose.Step

    @property
    def ok(self) -> bool:
        return not any(step.status == "failed" for step in self.steps)

    @property
    def failed(self) -> Optional[Any]:
        return next((step for step in self.steps if step.status == "failed"), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "ok": self.ok,
            "steps": [attrs.asdict(step) for step in self.steps],
        }


@attrs.frozen
class MapReport:
    """Saved vendor responses mapped offline."""

    operation: str
    action: str
    mapped: MappingResult
    #: the API generation whose table mapped them (None: the operation has one)
    variant: Optional[str] = None
    #: per mapping row, the records it read; the keys no row reads (when asked for)
    coverage: Optional[Coverage] = None
    #: how the variant's attributes read (each indicator's ``summary``, as a run gives it)
    reader: Optional[Reader] = None

    def to_dict(self) -> dict[str, Any]:
        mapped = self.mapped
        summarise = self.reader.summary if self.reader is not None else None
        document = {
            "operation": self.operation,
            "action": self.action,
            "records": mapped.records,
            "indicators": [indicator_dict(i, summarise) for i in mapped.indicators],
            "warnings": list(mapped.warnings),
            "missing": dict(mapped.missing),
        }
        if self.variant is not None:
            document["variant"] = self.variant
        if self.coverage is not None:
            document["coverage"] = self.coverage.to_dict()
        return document


@attrs.frozen
class UpgradeReport:
    """What installing ``new`` over ``old`` changes for an admin."""

    old: Manifest
    new: Manifest
    changes: tuple[Any, ...]  # tqops.publishing.upgrade.Change

    @property
    def needs_action(self) -> tuple[Any, ...]:
        return tuple(c for c in self.changes if c.needs_action)


class Service:
    """What a user can do with the installed operations (found once, through ``registry``)."""

    def __init__(self, registry: Optional[Registry] = None) -> None:
        self.registry = registry or Registry()

    @classmethod
    def of(cls, operation: Operation) -> Service:
        """A service of ``operation`` alone (a runner's: the installed ones are not looked for)."""
        service = cls(Registry(entry_points=()))
        service.registry.add(operation)
        return service

    # -- what is installed -----------------------------------------------------------------

    def operation(self, name: str) -> Operation:
        return self.registry.get(name)

    def operations(self) -> list[OperationInfo]:
        """Every installed operation, those that failed to load included (with the reason)."""
        found = [
            OperationInfo(
                op.name,
                op.manifest.label,
                op.manifest.version,
                op.manifest.vendor,
                tuple((a.name, a.label) for a in op.manifest.actions),
            )
            for op in self.registry.operations.values()
        ]
        found += [OperationInfo(name, error=why) for name, why in self.registry.broken.items()]
        return sorted(found, key=lambda info: info.name)

    def describe(self, name: str) -> Manifest:
        return self.operation(name).manifest

    def validate(self, paths: Sequence[Union[str, Path]] = ()) -> list[Validation]:
        """The manifests at ``paths``; with none, every installed operation (code included)."""
        if not paths:
            checked = [
                Validation(
                    op.manifest.origin or name,
                    name,
                    op.manifest.version,
                    actions=len(op.manifest.actions),
                )
                for name, op in self.registry.operations.items()
            ]
            checked += [
                Validation(name, name, problems=(why,))
                for name, why in self.registry.broken.items()
            ]
            return checked
        out = []
        for path in paths:
            try:
                manifest = load_manifest(path)
            except ManifestError as exc:
                out.append(Validation(str(path), problems=exc.problems))
                continue
            problems = self._code_free_problems(manifest)
            out.append(
                Validation(
                    str(path), manifest.name, manifest.version, problems, len(manifest.actions)
                )
            )
        return out

    def _code_free_problems(self, manifest: Manifest) -> tuple[str, ...]:
        """What loading ``manifest`` as an operation would find, short of its code: the
        transforms known are the built-in ones and those of an installed operation of its name."""
        installed = self.registry.operations.get(manifest.name)
        own = dict(installed.transforms) if installed is not None else {}
        problems = manifest_problems(manifest, {*BUILTIN_TRANSFORMS, *own})
        if not problems:  # as Operation.define: tables compile once their transforms are known
            problems = compile_mappers(manifest, own)[2]
        return tuple(problems)

    # -- configuration ---------------------------------------------------------------------

    def check_config(self, name: str, raw: Mapping[str, Any]) -> StoredConfig:
        """What an admin entered, checked but not resolved: the form that can be stored."""
        return self.operation(name).check_config(raw)

    def resolve_config(self, name: str, config: Union[StoredConfig, Mapping[str, Any]]) -> Config:
        return self.operation(name).resolve_config(config)

    def configure(
        self,
        name: str,
        config: Union[Config, StoredConfig, Mapping[str, Any]],
        *,
        proxy: Optional[str] = None,
        pool_size: int = 8,
    ) -> ConfiguredOperation:
        """A configured operation that keeps its connection pool until it is closed."""
        return self.operation(name).configure(config, proxy=proxy, pool_size=pool_size)

    def test_connection(
        self,
        name: str,
        config: Union[Config, StoredConfig, Mapping[str, Any]],
        proxy: Optional[str] = None,
    ) -> ConnectionReport:
        """Test Connection, step by step (configuration, proxy, DNS, TCP, TLS, credential)."""
        from tqops.operations.diagnose import diagnose

        operation = self.operation(name)
        resolved = config if isinstance(config, Config) else operation.resolve_config(config)
        return ConnectionReport(name, tuple(diagnose(operation, resolved, proxy=proxy)))

    @staticmethod
    def connection_report(name: str, steps: Iterable[Mapping[str, Any]]) -> ConnectionReport:
        """A Test Connection report another process made (a runner's), from its JSON."""
        from tqops.operations.diagnose import Step

        return ConnectionReport(
            name,
            tuple(
                Step(
                    str(step.get("name", ""))[:40],
                    str(step.get("status", "failed"))[:12],
                    str(step.get("detail", ""))[:500],
                    str(step.get("hint", ""))[:300],
                )
                for step in steps
            ),
        )

    # -- running and mapping ---------------------------------------------------------------

    def run(
        self,
        name: str,
        action: str,
        config: Union[Config, StoredConfig, Mapping[str, Any]],
        options: Mapping[str, Any],
        inputs: Iterable[Input],
        *,
        concurrency: int = 8,
        ordered: bool = True,
        proxy: Optional[str] = None,
        cancel: Optional[CancelToken] = None,
        on_progress: Optional[ProgressCallback] = None,
        max_tlp: Optional[Tlp] = None,
    ) -> Job:
        """A one-off run: a configured operation that is closed when the job ends.

        Long-lived callers (the host) keep a :class:`ConfiguredOperation` and call its
        ``run`` instead, so that every run shares one connection pool."""
        configured = self.configure(name, config, proxy=proxy, pool_size=concurrency)
        try:
            job = configured.run(
                action,
                options,
                inputs,
                concurrency=concurrency,
                ordered=ordered,
                cancel=cancel,
                on_progress=on_progress,
                max_tlp=max_tlp,
            )
        except BaseException:
            configured.close()
            raise
        job.on_close(configured.close)
        return job

    def map(
        self,
        name: str,
        action: str,
        documents: Iterable[Any],
        selected: Optional[Indicator] = None,
        config: Optional[Mapping[str, Any]] = None,
        coverage: bool = False,
    ) -> MapReport:
        """Map saved vendor responses offline with an action's mapping table: the one of the
        API generation ``config`` selects (only that field is read; no credential is needed).
        A response of another shape is an :class:`ApiError`; ``coverage`` adds, per row, the
        records it read, and the record keys no row reads."""
        operation = self.operation(name)
        spec = operation.manifest.action(action)
        documents = list(documents)
        variant = variant_of(operation.manifest, config)
        mapped = operation.map(spec.name, documents, selected, config)
        covered = None
        if coverage:
            covered = coverage_of(operation.mapper(spec.name, variant).table, documents)
        reader = Reader.of(spec.variant(variant))
        return MapReport(operation.name, spec.name, mapped, variant, covered, reader)

    # -- reading found indicators ----------------------------------------------------------

    def reader(self, name: str, action: str, config: Union[Config, Shown] = None) -> Reader:
        """How ``action``'s found indicators read with the API generation ``config`` selects
        (a resolved or stored configuration, or entered values; only the field with role
        ``variant`` is read): its groups, summary and headline."""
        operation = self.operation(name)
        spec = operation.manifest.action(action)
        return Reader.of(spec.variant(_variant(operation.manifest, config)))

    def read_indicator(
        self,
        name: str,
        action: str,
        indicator: Union[Indicator, Mapping[str, Any]],
        config: Union[Config, Shown] = None,
    ) -> dict[str, Any]:
        """A found indicator (as stored results hold it, or as a run made it) read:
        ``{"called", "summary": [{"name", "label", "text"}], "groups": [{"published_at",
        "attributes": [{"name", "label", "value", "text", "detail"}]}]}``, groups newest first."""
        return self.reader(name, action, config).read(indicator).to_dict()

    def headline(
        self,
        name: str,
        action: str,
        indicators: Iterable[Union[Indicator, Mapping[str, Any]]],
        config: Union[Config, Shown] = None,
    ) -> Optional[dict[str, Any]]:
        """The most alarming value of the action's headline attribute (its manifest's
        ``headline: true``) among ``indicators``: ``{"name", "label", "value", "text": "5/6"}``,
        or None (no headline declared, or none of them has it)."""
        found = self.reader(name, action, config).headline(indicators)
        return found.to_dict() if found is not None else None

    # -- the integration file and its guide ------------------------------------------------

    def docs(self, name: str) -> str:
        """The operation guide in Markdown, from what the operation's package carries."""
        from tqops.publishing.guide import guide_for

        return guide_for(self.operation(name))

    def bundle(self, name: str, out_dir: Union[str, Path]) -> list[Path]:
        """Write the operation's integration file and the runtime wheel it needs."""
        from tqops.publishing.bundle import bundle

        return bundle(self.operation(name), Path(out_dir))

    def new_operation(self, name: str, where: Optional[Union[str, Path]] = None) -> list[Path]:
        """Write the skeleton of a new operation ``name`` (its own distribution) into the
        folder ``where`` (missing or empty; default ``./name``); the files written. A name that is
        not an identifier or is installed already, or a folder in the way, is a
        :class:`ConfigError` and nothing is written."""
        from tqops.publishing.scaffold import check_name, scaffold, target_dir

        taken = {*self.registry.operations, *self.registry.broken}
        check_name(name, taken)
        return scaffold(name, target_dir(name, Path(where) if where is not None else None))

    def upgrade_check(self, old: Union[str, Path], new: Union[str, Path]) -> UpgradeReport:
        """What installing ``new`` (a wheel or manifest) over ``old`` changes for an admin."""
        from tqops.publishing.upgrade import compare, content_digest, manifest_from

        before, after = manifest_from(old), manifest_from(new)
        digests = content_digest(old), content_digest(new)
        return UpgradeReport(before, after, tuple(compare(before, after, *digests)))

    # -- what the host shows and checks (the host reaches the runtime only through these) --

    def view(self, name: str, config: Shown = None) -> OperationView:
        """An operation's fields, actions and options as they stand for ``config`` (a stored
        configuration, or the values a form shows), every condition evaluated."""
        entered = config.to_json() if isinstance(config, StoredConfig) else config
        return OperationView.of(self.operation(name).manifest, entered)

    def stored_config(self, name: str, entered: Mapping[str, Any]) -> StoredConfig:
        """What was stored for an operation (values of fields it no longer has dropped)."""
        return StoredConfig.load(self.operation(name).manifest, entered)

    def check_options(
        self, name: str, action: str, options: Mapping[str, Any], config: Shown = None
    ) -> None:
        """Check an action's options as a run with ``config`` will, before anything is
        queued: an :class:`InputError` naming each option that is wrong or not taken."""
        spec = self.operation(name).manifest.action(action)
        view = self.view(name, config)
        # options depend on the select fields only: a configuration of those (as the view
        # evaluated them) checks them as the resolved one will, without reading a secret
        selects = Config(view.manifest, dict(view.values))
        validate_options(spec.options, options, spec.label, selects)

    #: an indicator as it will be searched (refanged, trimmed), with notes on what changed
    check_indicator = staticmethod(checked_indicator)
    #: the rows of an indicator CSV, each with its line in the file (the header is line 1)
    indicator_rows = staticmethod(rows_from_csv)
    #: a manifest file, loaded and validated (a ManifestError lists every problem)
    load_manifest = staticmethod(load_manifest)
    #: pace every vendor's calls of this process with a wider pacer from now on (a worker's
    #: store-backed one: the rate holds for all the store's workers together)
    share_pacing = staticmethod(share_pacing)
    #: the pacer this process gives a vendor's calls at a rate (shared, once set)
    pacer_for = staticmethod(pacer_for)

    @staticmethod
    def upgrade_report(old: Manifest, new: Manifest) -> UpgradeReport:
        """What installing ``new`` over ``old`` (manifests already loaded) changes."""
        from tqops.publishing.upgrade import compare

        return UpgradeReport(old, new, tuple(compare(old, new)))

    @staticmethod
    def exported_operation(module: ModuleType, name: str) -> Operation:
        """The operation a module exports as ``OPERATION``; a :class:`ManifestError` saying
        what it exports instead when that is not an operation named ``name``."""
        found = getattr(module, "OPERATION", None)
        if not isinstance(found, Operation):
            kind = type(found).__name__
            raise ManifestError(f"its OPERATION is not an Operation (a {kind} object)")
        if found.name != name:
            raise ManifestError(f"its OPERATION is an operation named {found.name!r}")
        return found

    def demo_config(
        self, name: str, hostname: str, ca_file: str, credential: str
    ) -> dict[str, Any]:
        """The values that configure an operation against a loopback fake vendor: its
        fields with roles ``host`` and ``ca_file``, and its credential (through its auth)."""
        from tqops.operations.vendor import auth_spec

        manifest = self.operation(name).manifest
        values: dict[str, Any] = {}
        for role, value in (("host", hostname), ("ca_file", ca_file)):
            field = manifest.field_for_role(role)
            if field is not None:
                values[field.name] = value
        values[auth_spec(manifest).secret] = credential
        return values


def _variant(manifest: Manifest, config: Union[Config, Shown]) -> Optional[str]:
    """The API generation a configuration selects: only its variant field is read (a stored
    configuration's secrets are never looked at)."""
    if isinstance(config, Config):
        return config.variant
    entered = config.to_json() if isinstance(config, StoredConfig) else (config or {})
    field = manifest.variant_field
    if field is None:
        return None
    return variant_of(manifest, {field.name: entered.get(field.name)})

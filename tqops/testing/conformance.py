"""The shared conformance suite: checks every operation passes, whoever wrote it.

Each check is a plain function of an :class:`~tqops.operations.operation.Operation` (and, for
the per-action checks, an action name) that raises :class:`AssertionError` saying what is
wrong. Nothing here names an action, a field or a package: actions come from the manifest,
fields from their ``role``, operations from the ``tqops.operations`` entry points. In pytest::

    import pytest
    from tqops.testing import conformance
    from my_operation import OPERATION

    @pytest.mark.parametrize("case", conformance.cases(OPERATION), ids=str)
    def test_conformance(case, tmp_path):
        case.run(tmp_path)
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Callable, Optional, Union

import attrs

from tqops.config.values import StoredConfig, validate_config
from tqops.errors import ConfigError, InputError
from tqops.manifest.document import ActionSpec, load_manifest
from tqops.manifest.feedpath import FeedPath
from tqops.model import Indicator, IndicatorType
from tqops.operations.operation import Operation
from tqops.operations.registry import load_operation
from tqops.running.results import Status
from tqops.testing.probes import PLANTED, Listener, config_for

__all__ = [
    "ACTION_CHECKS",
    "OPERATION_CHECKS",
    "Case",
    "cases",
    "config_for",
    "sample_files",
]

#: values no indicator type takes (empty, blank, a control character inside)
BAD_VALUES = ("", "   ", "bad\x00value")

OperationCheck = Callable[[Operation, Path], None]
ActionCheck = Callable[[Operation, str, Path], None]


def _operation(operation: Union[Operation, str]) -> Operation:
    return load_operation(operation) if isinstance(operation, str) else operation


def sample_files(operation: Operation) -> list[Path]:
    """The sample responses the operation's package carries (``samples/**/*.json``)."""
    if operation.package_dir is None:
        return []
    return sorted((operation.package_dir / "samples").glob("**/*.json"))


def _sample_config(operation: Operation, sample: Path) -> dict[str, str]:
    """A sample in ``samples/<variant>/`` is a response of that API generation."""
    field = operation.manifest.variant_field
    folder = sample.parent.name
    return {field.name: folder} if field is not None and folder in field.choices else {}


def _sample_actions(operation: Operation, sample: Path) -> list[str]:
    """The actions a sample belongs to: the one its name starts with (``lookup.json``,
    ``lookup_ip.json``), else every action."""
    names = [a.name for a in operation.manifest.actions]
    own = [n for n in names if sample.stem == n or sample.stem.startswith(f"{n}_")]
    return own or names


# -- the operation as a whole ----------------------------------------------------------------


def check_manifest_is_valid_and_packaged(operation: Operation, tmp: Path) -> None:
    """The manifest loaded is the package's own ``<name>.yaml``, and it validates alone."""
    origin = Path(str(operation.manifest.origin))
    assert origin.name == f"{operation.name}.yaml", f"the manifest is {origin.name}"
    assert operation.package_dir is not None, f"{operation.name} does not name its package"
    assert (operation.package_dir / origin.name).is_file(), f"{origin.name} is not packaged"
    assert load_manifest(operation.package_dir / origin.name) == operation.manifest


def check_actions_resolve_both_ways(operation: Operation, tmp: Path) -> None:
    """Each manifest action has a function and a compiled mapping, and each function an action."""
    declared = {a.name for a in operation.manifest.actions}
    assert declared, f"{operation.name} declares no action"
    assert set(operation.actions) == declared
    assert set(operation.mappers) == declared
    assert all(callable(f) for f in operation.actions.values())
    assert callable(operation.test_connection)


def check_mapping_paths_compile(operation: Operation, tmp: Path) -> None:
    """Every path of every mapping table parses, and prints back as itself."""
    for action in operation.manifest.actions:
        for variant in action.all_variants():
            rule = variant.mapping.indicator
            paths = [rule.path, *rule.published_at, *([rule.type_path] if rule.type_path else [])]
            for row in variant.mapping.attributes:
                paths += [row.path, *row.published_at, *([row.name_path] if row.name_path else [])]
            for path in paths:
                assert FeedPath.parse(str(path)) == path, f"{action.name}: {path}"


def check_role_fields(operation: Operation, tmp: Path) -> None:
    """The connection fields play their roles: a host, TLS verification on by default, the
    proxy off by default; each secret is sent by an ``auth`` entry."""
    manifest = operation.manifest
    host = manifest.field_for_role("host")
    assert host is not None, "no config field has the role 'host'"
    assert host.required or host.default, f"{host.name} (host) is neither required nor defaulted"
    verify = manifest.field_for_role("verify_tls")
    assert verify is None or verify.default is True, "TLS verification must default to on"
    proxy = manifest.field_for_role("proxy")
    assert proxy is None or proxy.default is False, "the proxy must default to off"
    assert manifest.secret_fields, "no password field holds the credential"
    assert set(manifest.secret_fields) == {entry.secret for entry in manifest.auth}


def check_every_config_field_renders(operation: Operation, tmp: Path) -> None:
    """``tqops describe`` (its JSON and its table) shows every field and action, and marks
    each secret as one, with no value."""
    from tqops.cli.render import describe_dict, render_describe

    described = json.loads(json.dumps(describe_dict(operation.manifest)))
    fields = {f["name"]: f for f in described["config"]}
    for field in operation.manifest.config:
        assert field.name in fields, f"describe does not show {field.name}"
        assert fields[field.name]["label"] == field.label
    text = render_describe(operation.manifest)
    for action in operation.manifest.actions:
        assert action.label in text, f"describe does not show {action.name}"
    assert "password (secret)" in text


def check_secrets_never_shown(operation: Operation, tmp: Path) -> None:
    """The secret is in no repr (stored form, resolved configuration, configured operation,
    client) and in no configuration error."""
    raw = config_for(operation)
    shown = [
        repr(StoredConfig.check(operation.manifest, raw)),
        repr(validate_config(operation.manifest, raw)),
    ]
    with operation.configure(raw) as configured:
        shown += [repr(configured), repr(configured.client), repr(configured.config)]
    host = operation.manifest.field_for_role("host")
    assert host is not None
    for broken in ({**raw, host.name: "not a host name!"}, {**raw, "no_such_field": PLANTED}):
        try:
            validate_config(operation.manifest, broken)
        except ConfigError as exc:
            shown.append(str(exc))
            assert "\n" not in str(exc), f"a configuration error is not one line: {exc}"
        else:
            raise AssertionError("a broken configuration was accepted")
    leaked = [text for text in shown if PLANTED in text]
    assert leaked == [], f"the secret is shown in: {leaked}"


def check_guide_renders(operation: Operation, tmp: Path) -> None:
    """The guide renders from the package's own files and names each field and action, and
    the change log has a section for the manifest's version."""
    from tqops.publishing.guide import changelog_entries, guide_for, package_changelog

    guide = guide_for(operation)
    assert operation.manifest.label in guide
    for field in operation.manifest.config:
        assert field.label in guide, f"the guide does not show {field.name}"
    for action in operation.manifest.actions:
        assert action.label in guide, f"the guide does not show {action.name}"
    entries = changelog_entries(package_changelog(operation))
    version = operation.manifest.version
    assert entries.get(version), f"CHANGELOG.md has no '## {version}' section with entries"


def check_bundle_builds(operation: Operation, tmp: Path) -> None:
    """``tqops bundle`` writes an integration file holding the package, its manifest, samples,
    change log and guide, and the entry point that names it."""
    from tqops.publishing.bundle import build_operation_wheel

    out = Path(tempfile.mkdtemp(dir=tmp))
    wheel = build_operation_wheel(operation, out)
    name, version, package = operation.name, operation.manifest.version, operation.package
    assert wheel.name == f"tq_op_{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = archive.read(f"tq_op_{name}-{version}.dist-info/entry_points.txt")
    expected = {f"{package}/{name}.yaml", f"{package}/GUIDE.md", f"{package}/CHANGELOG.md"}
    for sample in sample_files(operation):
        assert operation.package_dir is not None
        expected.add(f"{package}/{sample.relative_to(operation.package_dir).as_posix()}")
    assert expected <= names, f"the wheel lacks {sorted(expected - names)}"
    assert f"{name} = {package}:OPERATION" in entry_points.decode()


def check_samples_map(operation: Operation, tmp: Path) -> None:
    """Each packaged sample response maps, without error, to valid indicators."""
    samples = sample_files(operation)
    assert samples, f"the {operation.package} package holds no samples/*.json"
    for sample in samples:
        document = json.loads(sample.read_text(encoding="utf-8"))
        mapped = []
        for action in _sample_actions(operation, sample):
            result = operation.map(action, [document], config=_sample_config(operation, sample))
            mapped += result.indicators
        assert mapped, f"{sample.name} maps to no indicator"
        for indicator in mapped:
            assert isinstance(indicator, Indicator)
            assert indicator.value == indicator.value.strip() and indicator.value.isprintable()
            assert indicator.published_at is None or indicator.published_at.tzinfo
            assert all(a.name and a.value for a in indicator.attributes), sample.name
            assert indicator.to_threatq()["type"] == {"name": indicator.type.value}


# -- each action -----------------------------------------------------------------------------


def _refused(
    operation: Operation,
    action: str,
    inputs: Iterable[tuple[str, str]],
    status: Status = Status.ERROR,
) -> list[str]:
    """Run ``action`` on ``inputs`` against a port that counts connections: each must end in
    ``status`` (``error``, or ``skipped`` for what policy keeps from the vendor) with one line,
    and nothing may connect. The errors (or reasons)."""
    with Listener() as listener:
        with operation.configure(config_for(operation, listener.address)) as configured:
            results = list(configured.run(action, {}, inputs))
        assert listener.connections == 0, "a refused input was sent to the vendor"
    errors = []
    for result in results:
        assert result.status is status, f"{result.input} was not {status}"
        error = str(result.error if status is Status.ERROR else result.reason)
        assert error and "\n" not in error, f"not a one-line error: {error!r}"
        assert PLANTED not in error
        errors.append(error)
    return errors


def check_unaccepted_type_is_refused_before_sending(
    operation: Operation, action: str, tmp: Path
) -> None:
    """An indicator of a type the action does not take is skipped (policy), naming the type."""
    spec = operation.manifest.action(action)
    others = [t for t in IndicatorType if t not in spec.indicator_types]
    if not others:
        return
    kind = others[0]
    (reason,) = _refused(operation, action, [(kind.value, "refused.example")], Status.SKIPPED)
    assert kind.value in reason, reason


def check_bad_values_are_refused_before_sending(
    operation: Operation, action: str, tmp: Path
) -> None:
    """A value no indicator type takes (empty, blank, a control character) is refused, for
    every type the action takes."""
    spec = operation.manifest.action(action)
    inputs = [(t.value, value) for t in spec.indicator_types for value in BAD_VALUES]
    assert len(_refused(operation, action, inputs)) == len(inputs)


def _bad_option_values(spec: ActionSpec) -> Iterator[tuple[str, str]]:
    for option in spec.options:
        if option.choices:
            yield option.name, "not-one-of-the-choices"
        elif option.type == "number":
            yield option.name, "not-a-number"


def check_bad_options_are_refused_before_sending(
    operation: Operation, action: str, tmp: Path
) -> None:
    """An unknown option, and an option value that cannot be right, are refused with one line
    naming the option, before anything is sent."""
    spec = operation.manifest.action(action)
    accepted = next(iter(spec.indicator_types))
    bad = [("no_such_option", "x"), *_bad_option_values(spec)]
    with Listener() as listener:
        with operation.configure(config_for(operation, listener.address)) as configured:
            for name, value in bad:
                try:
                    configured.run(action, {name: value}, [(accepted.value, "x")])
                except (InputError, ConfigError) as exc:
                    assert "\n" not in str(exc) and PLANTED not in str(exc), str(exc)
                    assert name in str(exc) or _label(spec, name) in str(exc), str(exc)
                else:
                    raise AssertionError(f"option {name}={value!r} was accepted")
        assert listener.connections == 0


def _label(spec: ActionSpec, name: str) -> str:
    option = spec.option(name)
    return option.label if option is not None else name


def check_action_is_described(operation: Operation, action: str, tmp: Path) -> None:
    """The action has a label and a description, and takes at least one indicator type."""
    spec = operation.manifest.action(action)
    assert spec.label and spec.description, f"{action} has no label or description"
    assert spec.indicator_types, f"{action} takes no indicator type"


OPERATION_CHECKS: tuple[OperationCheck, ...] = (
    check_manifest_is_valid_and_packaged,
    check_actions_resolve_both_ways,
    check_mapping_paths_compile,
    check_role_fields,
    check_every_config_field_renders,
    check_secrets_never_shown,
    check_guide_renders,
    check_bundle_builds,
    check_samples_map,
)
ACTION_CHECKS: tuple[ActionCheck, ...] = (
    check_action_is_described,
    check_unaccepted_type_is_refused_before_sending,
    check_bad_values_are_refused_before_sending,
    check_bad_options_are_refused_before_sending,
)


@attrs.frozen
class Case:
    """One check on one operation (and one of its actions): ``run(tmp_dir)`` raises
    :class:`AssertionError` when the operation fails it."""

    operation: Operation = attrs.field(repr=False)
    check: Callable[..., None] = attrs.field(repr=False)
    action: Optional[str] = None

    def run(self, tmp: Union[str, Path, None] = None) -> None:
        where = Path(tmp) if tmp is not None else Path(tempfile.mkdtemp(prefix="tqops-conf-"))
        if self.action is None:
            self.check(self.operation, where)
        else:
            self.check(self.operation, self.action, where)

    def __str__(self) -> str:
        name = self.check.__name__.replace("check_", "", 1)
        on = f"{self.operation.name}.{self.action}" if self.action else self.operation.name
        return f"{on}-{name}"


def cases(*operations: Union[Operation, str, Mapping[str, Operation]]) -> list[Case]:
    """Every check on each operation (an :class:`Operation`, an entry point name, or a mapping
    of them, as :func:`~tqops.operations.registry.discover_operations` returns), and every
    action check on each of its actions."""
    found: list[Operation] = []
    for item in operations:
        if isinstance(item, Mapping):
            found += [_operation(op) for _, op in sorted(item.items())]
        else:
            found.append(_operation(item))
    out = []
    for operation in found:
        out += [Case(operation, check) for check in OPERATION_CHECKS]
        for action in operation.manifest.actions:
            out += [Case(operation, check, action.name) for check in ACTION_CHECKS]
    return out

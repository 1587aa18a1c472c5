"""Verdicts: an action's verdict rules compiled once, then run over a look-up's raw records.

A found record is an *exact* match when its value is the searched one after the normalising
the input went through (:func:`same_value`), else a *related* one (a substring or wildcard hit,
a URL found for a domain). Only exact matches are judged; each element of their evidence (an
observation, or the record itself) gets a level from the manifest's rules, and the most
alarming element decides (:class:`Judge`). The rules' paths are compiled when the operation is
defined (:func:`compile_verdicts`), their thresholds read from the configuration once per run
(:meth:`VerdictRules.bind`).
"""

from __future__ import annotations

import ipaddress
import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional
from urllib.parse import urlsplit

import attrs

from tqops.errors import ManifestError
from tqops.manifest.document import Manifest
from tqops.manifest.feedpath import Step, walk
from tqops.manifest.verdict_rules import VerdictSpec
from tqops.mapping import Mapper
from tqops.mapping.mapper import first_at, records
from tqops.mapping.rows import evaluate
from tqops.mapping.values import apply_transforms, first, scalar_text
from tqops.model import LEVELS, Indicator, IndicatorType, Verdict

__all__ = ["Judge", "VerdictRules", "compile_verdicts", "mark_matches", "same_value"]

_RANK = {level: rank for rank, level in enumerate(LEVELS)}
#: types whose values compare case-insensitively (DNS names, hex digests, AS numbers)
_CASELESS = frozenset(
    {
        IndicatorType.ASN,
        IndicatorType.EMAIL_ADDRESS,
        IndicatorType.FQDN,
        IndicatorType.HOSTNAME,
        IndicatorType.MD5,
        IndicatorType.SHA1,
        IndicatorType.SHA256,
        IndicatorType.SHA512,
    }
)
_ADDRESSES = frozenset(
    {IndicatorType.IP_ADDRESS, IndicatorType.IPV6_ADDRESS, IndicatorType.CIDR_BLOCK}
)
#: how many related values a reason names
_EXAMPLES = 3


def _comparable(kind: IndicatorType, value: str) -> str:
    """``value`` as the input's check would write it, for comparison only."""
    text = value.strip()
    if kind in _CASELESS:
        return text.casefold().rstrip(".")
    if kind in _ADDRESSES:
        try:
            return str(ipaddress.ip_address(text))
        except ValueError:
            return text.casefold()
    if kind is IndicatorType.URL:
        try:
            parts = urlsplit(text)
        except ValueError:
            return text
        # scheme and host name are case-insensitive; the path and query are not
        return parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()).geturl()
    return text


def same_value(searched: Indicator, value: str) -> bool:
    """Whether a found ``value`` is the searched indicator's own (an exact match)."""
    return _Matcher(searched)(value)


class _Matcher:
    """:func:`same_value` for one searched indicator, its comparable form computed once."""

    def __init__(self, searched: Indicator) -> None:
        self.value = searched.value
        self.type = searched.type
        self.comparable = _comparable(searched.type, searched.value)

    def __call__(self, value: str) -> bool:
        return value == self.value or _comparable(self.type, value) == self.comparable


def mark_matches(indicators: Sequence[Indicator], searched: Indicator) -> tuple[Indicator, ...]:
    """Each found indicator marked ``exact`` or ``related`` to the searched one."""
    same = _Matcher(searched)
    return tuple([_marked(i, "exact" if same(i.value) else "related") for i in indicators])


#: an indicator's fields, read once (attrs.evolve reads them again for every indicator);
#: all positional in __init__, in their order, unless a field is added that is not
_INDICATOR_FIELDS = attrs.fields(Indicator)
_POSITIONAL = all(a.init and not a.kw_only and a.alias == a.name for a in _INDICATOR_FIELDS)
_ARGUMENTS = operator.attrgetter(*(a.name for a in _INDICATOR_FIELDS))
_MATCH = [a.name for a in _INDICATOR_FIELDS].index("match")


def _marked(indicator: Indicator, match: str) -> Indicator:
    """``indicator`` with its ``match`` set (what ``attrs.evolve`` gives, faster)."""
    if indicator.match == match:
        return indicator
    if not _POSITIONAL:
        return attrs.evolve(indicator, match=match)
    arguments = list(_ARGUMENTS(indicator))
    arguments[_MATCH] = match
    return Indicator(*arguments)


@attrs.frozen
class _Measure:
    name: str
    label: str
    #: the steps from the element to the value
    steps: tuple[Step, ...]
    scale: Optional[float]


@attrs.frozen
class _Source:
    #: the steps from the record to its elements; () when the record is the element
    steps: tuple[Step, ...]
    called: str
    date: Optional[tuple[Step, ...]]
    date_label: str
    measures: tuple[_Measure, ...]


@attrs.frozen
class _Rule:
    """A level, and the conditions that must all hold on one element for it."""

    level: str
    when: tuple[_Condition, ...]


@attrs.frozen
class _Condition:
    measure: str
    #: a number, or the name of the config field that holds it (until bound)
    at_least: Any = None
    one_of: frozenset[str] = frozenset()
    shown: tuple[str, ...] = ()


@attrs.frozen
class VerdictRules:
    """An action variant's verdict rules with their paths compiled."""

    #: the variant's mapper: it says which records matched exactly
    mapper: Mapper
    #: where the evidence lies, in the manifest's order: the first a record has is read
    sources: tuple[_Source, ...]
    #: the levels above ``otherwise``, in the manifest's order: the first that holds decides
    rules: tuple[_Rule, ...]
    otherwise: str
    #: the measure whose value is the score (None: no score)
    score: Optional[str]

    @classmethod
    def compile(cls, spec: VerdictSpec, mapper: Mapper) -> VerdictRules:
        record = mapper.table.prefix
        sources = []
        for evidence in spec.evidence:
            steps = evidence.elements.steps[len(record) :]
            base = len(evidence.elements.steps)
            sources.append(
                _Source(
                    steps,
                    evidence.called,
                    evidence.date.steps[base:] if evidence.date else None,
                    evidence.date_label,
                    tuple(
                        _Measure(m.name, m.label, m.path.steps[base:], m.scale)
                        for m in evidence.measures
                    ),
                )
            )
        rules = tuple(
            _Rule(
                rule.level,
                tuple(
                    _Condition(
                        c.measure,
                        c.at_least,
                        frozenset(v.casefold() for v in c.one_of),
                        tuple(c.one_of),
                    )
                    for c in rule.when
                ),
            )
            for rule in spec.levels
        )
        return cls(mapper, tuple(sources), rules, spec.otherwise, spec.score)

    def bind(self, config: Optional[Mapping[str, Any]]) -> Judge:
        """The rules with each threshold that names a config field read from ``config`` (a
        resolved configuration, defaults filled in: the manifest gives each such field one)."""
        return Judge(self, tuple(_bound(rule, config) for rule in self.rules))


def _bound(rule: _Rule, config: Optional[Mapping[str, Any]]) -> _Rule:
    when = []
    for condition in rule.when:
        threshold = condition.at_least
        if isinstance(threshold, str):
            value = (config or {}).get(threshold)
            if value is None:
                raise ManifestError(f"no value for the verdict threshold {threshold!r}")
            condition = attrs.evolve(condition, at_least=float(value))
        when.append(condition)
    return _Rule(rule.level, tuple(when))


def _number(value: Any) -> Optional[float]:
    """A finite number from a JSON value (a numeric string too); None for anything else."""
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _shown(value: Any) -> str:
    number = _number(value)
    if number is not None and number == int(number):
        return str(int(number))
    return scalar_text(value)[:40]


@attrs.frozen
class _Element:
    """One judged element: its level, values, and where it is."""

    level: str
    rule: Optional[_Rule]
    values: Mapping[str, Any]
    source: _Source
    position: int
    count: int
    date: Optional[str]

    def key(self, order: tuple[str, ...]) -> tuple[float, ...]:
        numbers = (_number(self.values.get(name)) for name in order)
        return (_RANK[self.level], *(-1.0 if n is None else n for n in numbers))


class Judge:
    """Verdict rules bound to a configuration's thresholds: judge a look-up's responses."""

    def __init__(self, rules: VerdictRules, bound: tuple[_Rule, ...]) -> None:
        self._rules = rules
        self._bound = bound
        self._order = tuple(m.name for m in rules.sources[0].measures) if rules.sources else ()
        self._rank_otherwise = _RANK[rules.otherwise]

    def judge(self, documents: Iterable[Any], searched: Indicator) -> Verdict:
        """The verdict on ``searched`` from the vendor's responses (parsed JSON)."""
        mapper = self._rules.mapper
        prefix = mapper.table.prefix
        same = _Matcher(searched)
        exact: list[Any] = []
        found: dict[str, None] = {}  # the related values in order, each once
        for document in documents:
            for record in records(document, prefix):
                value = record_value(mapper, document, record, searched)
                if value is None:
                    continue
                if same(value):
                    exact.append(record)
                else:
                    found[value] = None
        related = list(found)
        extra = _related_reason(related, "related matches not judged") if related else ()
        if not exact:
            if not related:
                return Verdict.unknown("nothing found")
            shown = _related_reason(related, "only related matches, none of the value itself")
            return Verdict("unknown", None, shown)
        best: Optional[_Element] = None
        for record in exact:
            for element in self._elements(record):
                if best is None or element.key(self._order) > best.key(self._order):
                    best = element
        if best is None:
            return Verdict("unknown", None, ("found, but no verdict rule reads its records",))
        reasons = [self._reason(best)]
        if len(exact) > 1:
            reasons.append(f"exact match in {len(exact)} records; the most alarming decides")
        return Verdict(best.level, self._score(best), (*reasons, *extra))

    def _elements(self, record: Any) -> list[_Element]:
        for source in self._rules.sources:
            elements = [record] if not source.steps else [e for e, _ in walk(record, source.steps)]
            if not elements:
                continue
            judged = []
            for index, element in enumerate(elements):
                values = {m.name: _first(element, m.steps) for m in source.measures}
                date = None
                if source.date is not None:
                    date = scalar_text(_first(element, source.date))[:10]
                level, rule = self._level(values)
                judged.append(
                    _Element(level, rule, values, source, index + 1, len(elements), date or None)
                )
            return judged
        return []

    def _level(self, values: Mapping[str, Any]) -> tuple[str, Optional[_Rule]]:
        for rule in self._bound:
            if all(_holds(c, values.get(c.measure)) for c in rule.when):
                return rule.level, rule
        return self._rules.otherwise, None

    def _score(self, element: _Element) -> Optional[int]:
        name = self._rules.score
        if name is None:
            return None
        number = _number(element.values.get(name))
        if number is None:
            return None
        measure = next((m for m in element.source.measures if m.name == name), None)
        scale = measure.scale if measure is not None and measure.scale else 100.0
        return max(0, min(100, round(number * 100 / scale)))

    def _evidence(self, element: _Element) -> str:
        used = {c.measure for rule in self._bound for c in rule.when}
        parts = []
        for measure in element.source.measures:
            value = element.values.get(measure.name)
            if value is None:
                if measure.name in used:
                    parts.append(f"{measure.label} not given")
                continue
            scale = f"/{_shown(measure.scale)}" if measure.scale else ""
            parts.append(f"{measure.label} {_shown(value)}{scale}")
        text = ", ".join(parts) or "no measure given"
        if element.date:
            label = element.source.date_label
            text += f" on {element.date}" if label == "on" else f", {label} {element.date}"
        if element.source.steps:
            text += f" ({element.source.called} {element.position} of {element.count})"
        return text

    def _conditions(self, rule: _Rule) -> str:
        parts = []
        for condition in rule.when:
            label = condition.measure  # the rules' own name: the same for every evidence
            if condition.shown:
                parts.append(f"{label} {' or '.join(condition.shown)}")
            else:
                parts.append(f"{label} >= {_shown(condition.at_least)}")
        return " and ".join(parts)

    def _reason(self, element: _Element) -> str:
        evidence = self._evidence(element)
        if element.rule is not None:
            return f"{evidence}: {element.level} at {self._conditions(element.rule)}"
        for rule in self._bound:  # a text none of the rules name says so
            for condition in rule.when:
                value = element.values.get(condition.measure)
                if condition.shown and value is not None and not self._named(condition, value):
                    known = ", ".join(self._known_texts(condition.measure))
                    label = condition.measure
                    return (
                        f"{evidence}: {element.level}, {_shown(value)!r} is not a {label} the "
                        f"rules name ({known})"
                    )
        above = [r for r in self._bound if _RANK[r.level] > self._rank_otherwise]
        if not above:
            return f"{evidence}: {element.level}"
        why = "; ".join(f"{r.level} needs {self._conditions(r)}" for r in above)
        return f"{evidence}: {element.level}, not {above[0].level} ({why})"

    def _named(self, condition: _Condition, value: Any) -> bool:
        text = scalar_text(value).casefold()
        return any(
            text in c.one_of for r in self._bound for c in r.when if c.measure == condition.measure
        )

    def _known_texts(self, measure: str) -> list[str]:
        known: list[str] = []
        for rule in self._bound:
            for condition in rule.when:
                if condition.measure == measure:
                    known += [t for t in condition.shown if t not in known]
        return known


def _first(node: Any, steps: tuple[Step, ...]) -> Any:
    """The first value ``steps`` reach from ``node`` (a key of it without a walk)."""
    if len(steps) == 1 and type(steps[0]) is str:
        return node.get(steps[0]) if isinstance(node, dict) else None
    return first(v for v, _ in walk(node, steps))


def _holds(condition: _Condition, value: Any) -> bool:
    if value is None:
        return False
    if condition.one_of:
        return scalar_text(value).casefold() in condition.one_of
    number = _number(value)
    return number is not None and number >= condition.at_least


def _related_reason(values: Sequence[str], what: str) -> tuple[str, ...]:
    shown = ", ".join(v[:80] for v in values[:_EXAMPLES])
    more = f" and {len(values) - _EXAMPLES} more" if len(values) > _EXAMPLES else ""
    return (f"{what}: {len(values)} ({shown}{more})",)


def record_value(
    mapper: Mapper, document: Any, record: Any, searched: Optional[Indicator]
) -> Optional[str]:
    """The value the mapper makes of ``record`` (its type's own value path, the table's
    transforms), or None where it makes none."""
    table = mapper.table
    paths = table.values
    if table.type is not None:
        if table.type.in_record and not table.type.level:
            vendor_type = first_at(record, (table.type.steps,))
        else:
            vendor_type = first(evaluate(table.type, document, record, ()))
        resolved = table.types.get(str(vendor_type)) if vendor_type is not None else None
        if resolved is None:
            return None
        paths = resolved.values
    raw = first_at(record, [path.steps for path in paths])
    if raw is None or isinstance(raw, (dict, list)):
        return None
    try:
        return scalar_text(apply_transforms(table.value_transforms, raw)) or None
    except ValueError:
        return None


def compile_verdicts(
    manifest: Manifest,
    mappers: Mapping[str, Mapper],
    variant_mappers: Mapping[tuple[str, str], Mapper],
) -> dict[tuple[str, Optional[str]], VerdictRules]:
    """Each action variant's compiled rules by (action, variant key), where it has rules."""
    compiled: dict[tuple[str, Optional[str]], VerdictRules] = {}
    for action in manifest.actions:
        for variant in action.all_variants():
            if variant.verdict is None:
                continue
            if variant.key == action.default_variant:
                mapper = mappers.get(action.name)
            else:
                mapper = variant_mappers.get((action.name, str(variant.key)))
            if mapper is not None:
                compiled[(action.name, variant.key)] = VerdictRules.compile(variant.verdict, mapper)
    return compiled

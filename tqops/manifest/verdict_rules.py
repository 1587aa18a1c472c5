"""An action's verdict rules, as its manifest declares them (``verdict:``).

The rules judge each found record whose value is the searched one (an exact match). A
record's evidence is read from its elements (``evidence[].elements``: its observations, or the
record itself): the first evidence entry that finds any element in a record is its evidence.
Each element's measures are read at their feed paths; the first ``levels`` rule whose
conditions all hold on one element gives that element's level, else ``otherwise`` does. The
most alarming element of all exact records decides the verdict, and its ``score`` measure
(scaled to 0-100) is the verdict's score. Thresholds may name a number configuration field, so
an admin can tune them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

import attrs

from tqops.errors import PathSyntaxError
from tqops.manifest.feedpath import FeedPath

__all__ = [
    "Condition",
    "Evidence",
    "LevelRule",
    "Measure",
    "VerdictSpec",
    "verdict_problems",
]


@attrs.frozen
class Measure:
    """A value of an element the rules read: its name, how reasons call it, its feed path
    and the top of its scale (shown as ``5/6``; the score divides by it)."""

    name: str
    path: FeedPath
    label: str
    scale: Optional[float] = None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Measure:
        path = FeedPath.parse(raw["path"])
        return cls(raw["name"], path, raw.get("label", raw["name"]), raw.get("scale"))


@attrs.frozen
class Evidence:
    """Where a record's evidence is: its elements, how reasons call one, and its date."""

    elements: FeedPath
    measures: tuple[Measure, ...]
    called: str = "element"
    date: Optional[FeedPath] = None
    date_label: str = "on"

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Evidence:
        date = raw.get("date")
        return cls(
            FeedPath.parse(raw["elements"]),
            tuple(Measure.from_dict(m) for m in raw["measures"]),
            raw.get("called", "element"),
            FeedPath.parse(date) if date else None,
            raw.get("date_label", "on"),
        )


@attrs.frozen
class Condition:
    """One test of a measure: at least a number (or a number config field's value), or one
    of listed texts (compared case-insensitively)."""

    measure: str
    at_least: Union[float, str, None] = None
    one_of: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Condition:
        return cls(raw["measure"], raw.get("at_least"), tuple(raw.get("one_of", ())))


@attrs.frozen
class LevelRule:
    """The level an element has when all its conditions hold."""

    level: str
    when: tuple[Condition, ...]

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> LevelRule:
        return cls(raw["level"], tuple(Condition.from_dict(c) for c in raw["when"]))


@attrs.frozen
class VerdictSpec:
    """An action's (or a variant's) verdict rules."""

    evidence: tuple[Evidence, ...]
    levels: tuple[LevelRule, ...]
    otherwise: str
    score: Optional[str] = None
    notes: Optional[str] = None

    @classmethod
    def from_dict(cls, raw: Optional[Mapping[str, Any]]) -> Optional[VerdictSpec]:
        if raw is None:
            return None
        return cls(
            tuple(Evidence.from_dict(e) for e in raw["evidence"]),
            tuple(LevelRule.from_dict(r) for r in raw.get("levels", ())),
            raw["otherwise"],
            raw.get("score"),
            raw.get("notes"),
        )

    def measure_names(self) -> set[str]:
        return {m.name for e in self.evidence for m in e.measures}


def _path(text: Any, at: str, problems: list[str]) -> Optional[FeedPath]:
    if not isinstance(text, str):
        return None
    try:
        return FeedPath.parse(text)
    except PathSyntaxError as exc:
        problems.append(f"{exc} @ {at}")
        return None


def _under(path: FeedPath, prefix: Sequence[Any]) -> bool:
    return path.steps[: len(prefix)] == tuple(prefix)


def verdict_problems(
    raw: Mapping[str, Any], record: Sequence[Any], config: Sequence[Mapping[str, Any]], at: str
) -> list[str]:
    """What the schema cannot say of a verdict section at ``at`` (its ``$.path``): paths
    parse and lie in the mapping's record (``record``: its steps), measures under their
    elements, conditions and the score name measures, thresholds name number config fields."""
    problems: list[str] = []
    record_text = str(FeedPath(tuple(record)))
    names: set[str] = set()
    for e_index, evidence in enumerate(raw["evidence"]):
        where = f"{at}.evidence[{e_index}]"
        elements = _path(evidence["elements"], f"{where}.elements", problems)
        if elements is not None and (
            not _under(elements, record) or elements.each_prefix() != elements.steps
        ):
            problems.append(
                f"elements {elements} is not the record {record_text} or a list under it "
                f"(ending in []) @ {where}.elements"
            )
            elements = None
        inner = [("date", evidence.get("date"))] + [
            (f"measures[{i}].path", m["path"]) for i, m in enumerate(evidence["measures"])
        ]
        for key, text in inner:
            path = _path(text, f"{where}.{key}", problems)
            if path is not None and elements is not None and not _under(path, elements.steps):
                problems.append(f"{path} is not under the elements {elements} @ {where}.{key}")
        names.update(measure["name"] for measure in evidence["measures"])
    numbers = {f["name"]: f for f in config if f.get("type") == "number"}
    for r_index, rule in enumerate(raw.get("levels", ())):
        for c_index, condition in enumerate(rule["when"]):
            where = f"{at}.levels[{r_index}].when[{c_index}]"
            if condition["measure"] not in names:
                problems.append(
                    f"measure {condition['measure']!r} is not a measure of the evidence "
                    f"(known: {', '.join(sorted(names))}) @ {where}.measure"
                )
            threshold = condition.get("at_least")
            if isinstance(threshold, str) and threshold not in numbers:
                problems.append(
                    f"at_least {threshold!r} is neither a number nor a config field of type "
                    f"number @ {where}.at_least"
                )
            elif isinstance(threshold, str) and numbers[threshold].get("default") is None:
                # a run must never find its threshold empty
                problems.append(
                    f"config field {threshold!r} is a verdict threshold: it needs a default "
                    f"@ {where}.at_least"
                )
    score = raw.get("score")
    if score is not None and score not in names:
        problems.append(
            f"score {score!r} is not a measure of the evidence (known: "
            f"{', '.join(sorted(names))}) @ {at}.score"
        )
    return problems

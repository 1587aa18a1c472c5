"""An operation's API generations (the field with role ``variant``), its mappers per variant,
and what a run says when a vendor's answer does not fit them.

- Each action's mapping is compiled once per variant (:func:`compile_mappers`).
- A client that speaks several generations lists them (``VARIANTS``); they must be exactly the
  variant field's choices, checked both ways when the operation is defined.
- :func:`variant_of` reads the variant from a raw configuration for offline mapping, where
  no credential is needed.
- A response whose envelope does not fit the variant's table is an :class:`ApiError`
  (:func:`envelope_error`). Record keys no row reads nor ignores are told once per run by
  :mod:`tqops.mapping.drift`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

from tqops.config.values import Config
from tqops.errors import ApiError, ConfigError, ManifestError
from tqops.manifest.conditions import two_way
from tqops.manifest.document import Manifest
from tqops.manifest.transforms import Transform
from tqops.mapping import Mapper

__all__ = [
    "client_variant_problems",
    "compile_mappers",
    "envelope_error",
    "variant_of",
]


def compile_mappers(
    manifest: Manifest, transforms: Optional[Mapping[str, Transform]]
) -> tuple[dict[str, Mapper], dict[tuple[str, str], Mapper], list[str]]:
    """Every action's mapper (its default variant's), the other variants' by (action, key),
    and the problems found, each naming its action and variant."""
    mappers: dict[str, Mapper] = {}
    others: dict[tuple[str, str], Mapper] = {}
    problems: list[str] = []
    for action in manifest.actions:
        for variant in action.all_variants():
            try:
                mapper = Mapper.compile(variant.mapping, transforms)
            except ManifestError as exc:
                where = f"action {action.name!r}" + (
                    f" variant {variant.key!r}" if variant.key != action.default_variant else ""
                )
                problems += [f"{p} @ {where}" for p in exc.problems]
                continue
            if variant.key == action.default_variant:
                mappers[action.name] = mapper
            else:
                others[(action.name, str(variant.key))] = mapper
    return mappers, others, problems


def client_variant_problems(manifest: Manifest, client_factory: Any) -> list[str]:
    """The client's ``VARIANTS`` against the variant field's choices, both ways."""
    spoken = set(getattr(client_factory, "VARIANTS", ()) or ())
    field = manifest.variant_field
    declared = set(field.choices) if field is not None else set()
    if not spoken and not declared:
        return []
    name = field.name if field is not None else "(no variant field)"
    return two_way(
        spoken,
        declared,
        lambda key: f"the client does not speak {name} {key!r}, a choice of the manifest",
        lambda key: f"the client speaks {key!r}, which is not a choice of {name}",
    )


def variant_of(manifest: Manifest, raw: Optional[Mapping[str, Any]]) -> Optional[str]:
    """The variant a configuration selects (its default when not given). Only the variant
    field is checked: offline mapping needs no host or credential, but a misspelled field
    name or an unknown variant is refused rather than silently mapped with the default."""
    if isinstance(raw, Config):
        return raw.variant
    raw = raw or {}
    known = {f.name for f in manifest.config}
    unknown = [str(name) for name in raw if name not in known]
    if unknown:
        raise ConfigError(
            f"unknown field {unknown[0][:40]!r} @ $.config; expected one of: {', '.join(known)}"
        )
    field = manifest.variant_field
    if field is None:
        return None
    given = raw.get(field.name)
    given = given.strip() if isinstance(given, str) else given
    if given in (None, ""):
        return None if field.default is None else str(field.default)
    if given not in field.choices:
        raise ConfigError(
            f"{field.label} expected one of {', '.join(field.choices)}, got {str(given)[:40]!r} "
            f"@ $.config.{field.name}"
        )
    return str(given)


def envelope_error(manifest: Manifest, variant: Optional[str], problem: str) -> ApiError:
    """A response that does not fit the table: what was expected, what came, and for which
    API generation."""
    field = manifest.variant_field
    fits = f"{field.label} {variant}" if field is not None and variant else "its mapping"
    return ApiError(f"{manifest.label} response does not fit {fits}: {problem}")

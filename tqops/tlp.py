"""The Traffic Light Protocol (TLP 2.0): its levels in order, and how a level is read.

The levels, least to most restricted: CLEAR, GREEN, AMBER, AMBER+STRICT, RED. ``WHITE`` (TLP
1.0) is read as CLEAR, and a ``TLP:`` prefix is allowed. Every place that orders or compares
TLP levels (the host's TLP gate, a job's strictest input, the settings forms) uses
:class:`Tlp`; nothing else spells the order.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any, Optional

from tqops.errors import ConfigError

__all__ = ["DEFAULT", "LEVELS", "Tlp", "strictness", "tlp_name"]


class Tlp(str, enum.Enum):
    """A TLP 2.0 level. Levels compare by how restricted they are (``Tlp.RED > Tlp.AMBER``),
    not as strings; each is its TLP 2.0 name (``str(Tlp.AMBER_STRICT) == "AMBER+STRICT"``).
    """

    CLEAR = "CLEAR"
    GREEN = "GREEN"
    AMBER = "AMBER"
    AMBER_STRICT = "AMBER+STRICT"
    RED = "RED"

    @property
    def rank(self) -> int:
        """0 for CLEAR up to 4 for RED."""
        return _ORDER.index(self)

    def __lt__(self, other: Any) -> bool:
        if not isinstance(other, Tlp):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: Any) -> bool:
        if not isinstance(other, Tlp):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: Any) -> bool:
        if not isinstance(other, Tlp):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: Any) -> bool:
        if not isinstance(other, Tlp):
            return NotImplemented
        return self.rank >= other.rank

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, text: Any, default: Optional[Tlp] = None) -> Tlp:
        """A level from its name (any case; ``TLP:`` prefix and ``WHITE`` allowed); blank or
        None gives ``default`` (AMBER unless given). A :class:`ConfigError` names what was
        given and the levels expected."""
        if text is None or not str(text).strip():
            return DEFAULT if default is None else default
        if isinstance(text, Tlp):
            return text
        name = str(text).strip().upper()
        if name.startswith("TLP:"):
            name = name[4:].strip()
        name = _ALIASES.get(name, name)
        try:
            return cls(name)
        except ValueError:
            raise ConfigError(
                f"unknown TLP {str(text)[:20]!r}; expected one of {', '.join(LEVELS)}"
            ) from None

    @classmethod
    def strictest(cls, levels: Iterable[Tlp]) -> Tlp:
        """The most restricted of ``levels`` (CLEAR when there are none)."""
        return max(levels, default=cls.CLEAR)


_ORDER = tuple(Tlp)
_ALIASES = {"WHITE": "CLEAR", "AMBER STRICT": "AMBER+STRICT", "AMBER_STRICT": "AMBER+STRICT"}

#: the level names in order, least restricted first (what a form lists)
LEVELS: tuple[str, ...] = tuple(level.value for level in _ORDER)
#: the level an indicator gets when none is given
DEFAULT = Tlp.AMBER


def tlp_name(text: Any, default: str = DEFAULT.value) -> str:
    """A TLP level's name, checked (``WHITE`` is ``CLEAR``); a :class:`ConfigError` otherwise."""
    return Tlp.parse(text, Tlp.parse(default)).value


def strictness(name: str) -> int:
    """How restricted the level named ``name`` is (0 for CLEAR up to 4 for RED); a name
    that is no level counts as CLEAR, so it never displaces a known one."""
    try:
        return Tlp.parse(name, Tlp.CLEAR).rank
    except ConfigError:
        return 0

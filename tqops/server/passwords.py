"""The policy for passwords users choose, after NIST SP 800-63B (5.1.1.2, memorized secrets).

- Length: at least 12 characters and at most 1024 (800-63B: at least 8, and at least 64
  accepted). 12 rather than 8: the host's accounts guard vendor credentials and the audit log,
  and nothing stops a passphrase of a few words; counted in characters after Unicode NFKC
  normalisation (what 800-63B asks before hashing), spaces and any character allowed.
- No composition rules (no "one digit, one symbol"): 800-63B advises against them.
- Refused: a password on a list of common and breached passwords (``blocklist/``, see its
  README: 19,640 of them), also with digits and symbols added before or after
  (``password1234!``); one that contains the user's name (or the part of an email address
  before the ``@``); one character or a short pattern repeated (``aaaaaaaaaaaa``,
  ``abcabcabcabc``) or too few different characters; and a sequence (``abcdefghijkl``,
  ``123456789012``, ``qwertyuiopas``).

Each refusal is one line saying what to change. The host checks a password a user sets (the
console's password change) and one given when a user is made; the passwords it generates
itself are random and need no check.
"""

from __future__ import annotations

import functools
import gzip
import unicodedata
from pathlib import Path

from tqops.errors import ConfigError

__all__ = ["MAX_LENGTH", "MIN_LENGTH", "check_password"]

MIN_LENGTH = 12
MAX_LENGTH = 1024
#: fewer different characters than this is a repetition, whatever the length
MIN_DISTINCT = 5
BLOCKLIST = Path(__file__).resolve().parent / "blocklist" / "common-passwords.txt.gz"
_KEYBOARD_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm", "qwertzuiop", "azertyuiop")
_PADDING = "0123456789!@#$%^&*()-_=+.,;:?/\\|~`'\" "


@functools.lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The blocklist, lowercased (read once, at the first check)."""
    with gzip.open(BLOCKLIST, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip() for line in lines if line.strip())


def check_password(password: str, user_name: str = "") -> None:
    """Raise :class:`ConfigError` (one line: what to change) if ``password`` breaks the
    policy for ``user_name``."""
    text = unicodedata.normalize("NFKC", password)
    if len(text) < MIN_LENGTH:
        raise ConfigError(
            f"a password needs at least {MIN_LENGTH} characters: a few unrelated words make a "
            "good one"
        )
    if len(text) > MAX_LENGTH:
        raise ConfigError(f"a password has at most {MAX_LENGTH} characters")
    folded = text.casefold()
    if _contains_name(folded, user_name):
        raise ConfigError("a password must not contain the user name: choose one without it")
    if _repetitive(folded):
        raise ConfigError(
            "a password must not be one character or a short pattern repeated (aaaa, abab): "
            "use more different characters"
        )
    if _sequential(folded):
        raise ConfigError(
            "a password must not be a sequence (abcd, 1234, qwerty): choose one that is not"
        )
    blocked = common_passwords()
    stripped = folded.strip(_PADDING)
    if folded in blocked or folded.replace(" ", "") in blocked or stripped in blocked:
        raise ConfigError(
            "this password is on a list of common or breached passwords: choose another"
        )


def _contains_name(folded: str, user_name: str) -> bool:
    name = unicodedata.normalize("NFKC", user_name).casefold().strip()
    parts = {name, name.partition("@")[0]}
    return any(len(part) >= 3 and part in folded for part in parts)


def _repetitive(folded: str) -> bool:
    if len(set(folded)) < MIN_DISTINCT:
        return True
    size = len(folded)
    # a unit of at most half the length, repeated to the end (abcabcabcabc)
    return any(
        size % unit == 0 and folded == folded[:unit] * (size // unit)
        for unit in range(1, size // 2 + 1)
    )


def _step(a: str, b: str) -> bool:
    if abs(ord(a) - ord(b)) == 1:
        return True
    for row in _KEYBOARD_ROWS:
        i, j = row.find(a), row.find(b)
        if i >= 0 and j >= 0 and abs(i - j) == 1:
            return True
    return False


def _sequential(folded: str) -> bool:
    """Mostly steps of one along the alphabet, the digits or a keyboard row (either way)."""
    pairs = list(zip(folded, folded[1:]))
    steps = sum(_step(a, b) for a, b in pairs)
    return steps >= 0.75 * len(pairs)

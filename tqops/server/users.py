"""Users, roles, passwords and API keys.

Roles are ordered: a viewer reads; an analyst also manages indicators and runs operations; an
admin also installs, upgrades and configures integrations and manages users. Passwords are
hashed with Argon2id; API keys are 256 random bits, shown once, and stored as their SHA-256
(a key is not a password: nothing to stretch, and a lookup by hash stays one index probe).

Each user has two credential generations, bumped by a password change (password), a new API
key (key) and disabling (both). A session or token keeps those of the credential check that
minted it (read with the credential, before Argon2 takes its time), so one minted from a
credential that has since changed, even in a race with the change, is dead. Every check a
caller makes from the outside goes through :meth:`Users.checked`: throttled per account and
address (:mod:`tqops.server.throttle`), and each failure audited.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import hmac
import re
import secrets
import threading
from typing import TYPE_CHECKING, Any, Callable, Optional

import attrs
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from tqops.errors import ConfigError
from tqops.server.passwords import check_password
from tqops.server.store import Store

if TYPE_CHECKING:  # the web framework is imported by the host, not by `tqops users`
    from tqops.server.throttle import Throttle

__all__ = ["KEY_PREFIX", "NewUser", "Role", "User", "Users"]

KEY_PREFIX = "tqk_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
_HASHER = PasswordHasher()
_MAKING = threading.Lock()


class Role(str, enum.Enum):
    """What a user may do; each role may do what the ones below it may."""

    VIEWER = "viewer"
    ANALYST = "analyst"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank

    @classmethod
    def named(cls, text: str) -> Role:
        try:
            return cls(str(text).strip().lower())
        except ValueError:
            raise ConfigError(
                f"unknown role {str(text)[:20]!r}; expected admin, analyst or viewer"
            ) from None


@attrs.frozen
class User:
    """Who is asking."""

    id: int
    name: str
    role: Role
    #: the user's credential generations when the credential was checked (0: none checked)
    password_generation: int = attrs.field(default=0, eq=False)
    key_generation: int = attrs.field(default=0, eq=False)

    @classmethod
    def of_row(cls, row: dict[str, Any]) -> User:
        """The user of a store row (``users`` or a session's, with its generations)."""
        return cls(
            row.get("user_id", row.get("id")),
            row["name"],
            Role(row["role"]),
            row.get("password_generation", 0),
            row.get("key_generation", 0),
        )

    @property
    def generations(self) -> tuple[int, int]:
        """(password, key) generations, what a session or token minted for this user keeps."""
        return self.password_generation, self.key_generation

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role.value}


@attrs.frozen(repr=False)
class NewUser:
    """A user just made, given a new key or a new password: the only time the password or
    key is shown (None: the one that was not changed)."""

    name: str
    role: Role
    password: Optional[str]
    api_key: Optional[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role.value,
            "password": self.password,
            "api_key": self.api_key,
        }

    def __repr__(self) -> str:
        return f"NewUser({self.name!r}, {self.role.value})"


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


def _new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


class Users:
    """The host's users, in its store."""

    def __init__(self, store: Store, throttle: Optional[Throttle] = None) -> None:
        self.store = store
        self._throttle = throttle

    @property
    def throttle(self) -> Throttle:
        """The throttle of credential checks, its limits from the environment."""
        with _MAKING:  # one throttle, however many first requests race for it
            if self._throttle is None:
                from tqops.server.throttle import Limits, Throttle

                self._throttle = Throttle(Limits.from_environ())
            return self._throttle

    def _row(self, name: str) -> dict[str, Any]:
        row = self.store.user(name)
        if row is None:
            raise ConfigError(f"no user named {name[:60]!r}")
        return row

    def add(self, name: str, role: str, password: Optional[str] = None) -> NewUser:
        """Make a user with a generated password (unless given) and an API key."""
        if not _NAME.match(name or ""):
            raise ConfigError(
                "a user name is 1-128 letters, digits and . _ @ + - (an email address works), "
                "starting with a letter or digit"
            )
        if self.store.user(name) is not None:
            raise ConfigError(f"a user named {name!r} exists already")
        chosen = Role.named(role)
        if password is not None:  # one chosen by a person: the policy (a generated one is random)
            check_password(password, name)
        password = password or secrets.token_urlsafe(18)
        key = _new_key()
        self.store.add_user(name, chosen.value, _HASHER.hash(password), key_hash(key))
        return NewUser(name, chosen, password, key)

    def new_key(self, name: str) -> NewUser:
        """Replace a user's API key (the old one stops working at once)."""
        row = self._row(name)
        key = _new_key()
        # the key generation too: every token minted from the old key ends
        self.store.change_credentials(row["id"], key_hash=key_hash(key))
        return NewUser(row["name"], Role(row["role"]), None, key)

    def set_password(self, name: str, password: str) -> User:
        """A new password: every session and token of the user ends; the user as now (with
        the new generation, for the session of the one who changed it)."""
        row = self._row(name)
        check_password(password, row["name"])
        self.store.change_credentials(row["id"], password_hash=_HASHER.hash(password))
        return User.of_row(self._row(name))

    def new_password(self, name: str) -> NewUser:
        """Reset a user's password to a generated one (random, so no policy to check): every
        session and token of the user ends, as with :meth:`set_password`. The new password
        is in the answer, the only time it is shown; the API key is left as it was."""
        row = self._row(name)
        password = secrets.token_urlsafe(18)
        self.store.change_credentials(row["id"], password_hash=_HASHER.hash(password))
        return NewUser(row["name"], Role(row["role"]), password, None)

    def set_role(self, name: str, role: str) -> None:
        self.store.update_user(self._row(name)["id"], role=Role.named(role).value)

    def disable(self, name: str, disabled: bool = True) -> None:
        row = self._row(name)
        if disabled:  # both generations too: no token minted before lives if re-enabled
            self.store.change_credentials(row["id"], disabled=True)
        else:
            self.store.update_user(row["id"], disabled=0)

    def remove(self, name: str) -> None:
        self.store.remove_user(self._row(name)["id"])

    def list(self) -> list[dict[str, Any]]:
        return [
            {
                "name": r["name"],
                "role": r["role"],
                "disabled": bool(r["disabled"]),
                "created_at": r["created_at"],
            }
            for r in self.store.users()
        ]

    def by_key(self, key: Optional[str]) -> Optional[User]:
        """The enabled user an API key belongs to (None for no key or a wrong one)."""
        if not key or not key.startswith(KEY_PREFIX) or len(key) > 200:
            return None
        row = self.store.user_by_key(key_hash(key))
        if row is None:
            return None
        return User.of_row(row)

    def prepare(self) -> None:
        """Make the unknown-name hash now (a listener calls it before it answers, so even its
        first failed login costs what every later one does), and read the throttle's limits
        (a wrong setting is an error before the host starts)."""
        _dummy_hash()
        _ = self.throttle

    def checked(
        self,
        check: Callable[[], Optional[User]],
        *,
        account: Optional[str],
        address: str,
        where: str,
        failure: str = "login-failed",
    ) -> Optional[User]:
        """``check()``'s user, throttled and audited: :class:`~tqops.server.throttle.Throttled`
        (429) unchecked while ``account`` (None: a credential naming none) or ``address`` is
        locked (the first refusal of each lock audited as ``throttled``); a failure (None)
        counted and audited as ``failure``, at ``where``, with the address."""
        from tqops.server.throttle import Throttled

        name = (account or "-")[:128]
        try:
            self.throttle.before(account, address)
        except Throttled as refused:
            if refused.first:
                detail = f"from {address}, {refused}"
                self.store.audit(name, "throttled", where, detail[:300])
            raise
        user = check()
        if user is None:
            self.throttle.failed(account, address)
            self.store.audit(name, failure, where, f"from {address}"[:300])
        else:
            self.throttle.passed(account, address)
        return user

    def by_password(self, name: str, password: str) -> Optional[User]:
        """The enabled user whose password this is (None otherwise, in constant work)."""
        row = self.store.user(name) if name else None
        stored = row["password_hash"] if row else _dummy_hash()
        try:
            _HASHER.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if row is None or row["disabled"] or not hmac.compare_digest(stored, row["password_hash"]):
            return None
        # the generations of the row read before the check, not after it
        return User.of_row(row)


@functools.lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash verified against unknown names, so they cost what a wrong password costs; made
    at the first such check, not at import (every `tqops users` command would pay for it)."""
    return _HASHER.hash(secrets.token_urlsafe(16))

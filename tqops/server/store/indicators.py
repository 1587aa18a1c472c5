"""The store's indicators and the attributes results added to them; each indicator's status
(one a client gave it, or the latest verdict's), that verdict's level and score, and when it
last changed."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Optional, Union

from tqops.server.store.database import Database, Row, now
from tqops.tlp import Tlp

__all__ = [
    "DEFAULT_STATUS",
    "ORDERS",
    "SEARCH_LIMIT",
    "SORTS",
    "STATUS_OF_LEVEL",
    "Group",
    "IndicatorRecords",
    "Match",
    "verdict_status",
]

#: the status a verdict's level gives the indicator it judged: ``Active`` (what detection
#: tools are fed) for a confident hit only; anything else is for an analyst to review
STATUS_OF_LEVEL: Mapping[str, str] = {
    "malicious": "Active",
    "suspicious": "Review",
    "benign": "Review",
    "unknown": "Review",
}
#: the status of an indicator no client and no verdict gave one
DEFAULT_STATUS = "Review"
#: a status no verdict overrides: an allow-list entry is an admin's policy, not a finding
_KEPT_STATUS = "Whitelisted"
#: the orders a listing may ask for, as SQL (id breaks ties, so pages never overlap; no order
#: by text, which each engine's collation sorts its own way)
ORDERS: Mapping[str, str] = {
    "id": "id",
    "-id": "id DESC",
    "created_at": "created_at, id",
    "-created_at": "created_at DESC, id DESC",
    "updated_at": "updated_at, id",
    "-updated_at": "updated_at DESC, id DESC",
}
#: what a condition may test, as SQL: the value case-insensitively (as ThreatQ matches it),
#: the status as it is shown
_FIELDS: Mapping[str, str] = {
    "id": "id",
    "value": "lower(value)",
    "type": "type",
    "status": f"COALESCE(status, '{DEFAULT_STATUS}')",
    "verdict": "verdict",
}


class Match(NamedTuple):
    """One condition on an indicator: ``field`` (a key of ``_FIELDS``) ``op`` (``eq``,
    ``ne``, ``contains``, ``in``) ``value`` (a list for ``in``)."""

    field: str
    op: str
    value: Any


class Group(NamedTuple):
    """Conditions joined by ``AND`` or ``OR``."""

    join: str
    parts: tuple[Union[Match, Group], ...]


def verdict_status(verdict: Any) -> Optional[tuple[str, str, Optional[int]]]:
    """(status, level, 0-100 score or None) a verdict gives the indicator it judged; None
    for what is no verdict."""
    if not isinstance(verdict, Mapping) or verdict.get("level") not in STATUS_OF_LEVEL:
        return None
    level = str(verdict["level"])
    score = verdict.get("score")
    if isinstance(score, bool) or not isinstance(score, (int, float)):
        score = None
    else:
        score = min(100, max(0, int(score + 0.5)))
    return STATUS_OF_LEVEL[level], level, score


def _where(condition: Union[Match, Group, None], params: list[Any]) -> str:
    """``condition`` as SQL over ``_FIELDS`` (its values appended to ``params``)."""
    if condition is None:
        return "1 = 1"
    if isinstance(condition, Group):
        if not condition.parts:
            return "1 = 1" if condition.join == "AND" else "1 = 0"
        joined = f" {'OR' if condition.join == 'OR' else 'AND'} "
        return "(" + joined.join(_where(part, params) for part in condition.parts) + ")"
    column = _FIELDS[condition.field]
    caseless = condition.field == "value"

    def bound(value: Any) -> str:
        params.append(str(value).lower() if caseless else value)
        return "?"

    if condition.op == "in":
        values = list(condition.value)
        if not values:
            return "1 = 0"
        return f"{column} IN ({', '.join(bound(v) for v in values)})"
    if condition.op == "contains":
        params.append("%" + re.sub(r"([\\%_])", r"\\\1", str(condition.value).lower()) + "%")
        column = column if caseless else f"lower({column})"
        return f"{column} LIKE ? ESCAPE '\\'"
    operator = "<>" if condition.op == "ne" else "="
    return f"{column} {operator} {bound(condition.value)}"


#: how the indicator list can be sorted: its columns, and TLP by strictness (as :class:`Tlp`
#: orders it, not as text); ``added`` is the order of insertion
SORTS = {
    "added": "id",
    "value": "value",
    "type": "type",
    "tlp": "CASE tlp " + " ".join(f"WHEN '{t.value}' THEN {t.rank}" for t in Tlp) + " ELSE 9 END",
}
#: a search of stored results reads at most this many results, newest jobs first (the
#: answer says when it stopped there)
SEARCH_LIMIT = 5000


def _like(text: str) -> str:
    """``text`` as a LIKE pattern that finds it anywhere, its wildcards escaped."""
    return "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"


class IndicatorRecords(Database):
    """The ``indicators`` and ``indicator_attributes`` tables."""

    def add_indicators(
        self, rows: Iterable[tuple[str, str, str, str, str]], user: str
    ) -> list[tuple[int, bool]]:
        """Add (type, value, tlp, note, source) rows; (id, created) each, in order. A value
        already stored keeps its id (and its TLP)."""
        out = []
        with self.transaction() as conn:
            for kind, value, tlp, note, source in rows:
                found = conn.execute(
                    "SELECT id FROM indicators WHERE type = ? AND value = ?", (kind, value)
                ).fetchone()
                if found is not None:
                    out.append((int(found[0]), False))
                    continue
                stamp = now()
                created = conn.insert(
                    "INSERT INTO indicators (type, value, tlp, note, source, created_at, "
                    "created_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (kind, value, tlp, note or None, source, stamp, user, stamp),
                )
                out.append((created, True))
        return out

    def add_attributes(
        self,
        indicator_id: int,
        attributes: Iterable[tuple[str, str, Optional[str]]],
        source: str,
        tlp: Optional[str] = None,
        job_id: Optional[int] = None,
    ) -> int:
        """Add (name, value, published_at) attributes from ``source`` (an attribute it gave
        before is kept as it was), with the TLP they were added under and the job that found
        them; how many were new. An indicator that got a new one has changed (a feed sends it
        again)."""
        count = "SELECT COUNT(*) FROM indicator_attributes WHERE indicator_id = ?"
        with self.transaction() as conn:
            before = int(conn.execute(count, (indicator_id,)).fetchone()[0])
            conn.executemany(
                "INSERT INTO indicator_attributes (indicator_id, name, value, published_at, "
                "source, tlp, job_id) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [(indicator_id, n, v, p, source, tlp, job_id) for n, v, p in attributes],
            )
            added = int(conn.execute(count, (indicator_id,)).fetchone()[0]) - before
            if added:
                conn.execute(
                    "UPDATE indicators SET updated_at = ? WHERE id = ?", (now(), indicator_id)
                )
            return added

    def set_indicator_status(self, indicator_id: int, status: str) -> None:
        """The status a client gave an indicator (a later verdict replaces it, but never
        ``Whitelisted``)."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE indicators SET status = ?, updated_at = ? WHERE id = ? "
                "AND (status IS NULL OR status <> ?)",
                (status, now(), indicator_id, status),
            )

    def judge_inputs(self, job_id: int, seqs: Sequence[int], result: Mapping[str, Any]) -> int:
        """A job's result for its inputs ``seqs`` gives the stored indicators they are (the
        one an input was queued from, else the one of its type and value) the result's
        verdict, its status and score (:func:`verdict_status`). An error, a skip and an
        ``unknown`` verdict (no evidence either way) judge nothing. The number judged."""
        judged = verdict_status(result.get("verdict"))
        if result.get("status") not in ("ok", "no_results") or judged is None or not seqs:
            return 0
        status, level, score = judged
        if level == "unknown":
            return 0
        marks = ", ".join("?" for _ in seqs)
        # read first: most results are of inputs no stored indicator is, and need no write
        found = self.all(
            f"SELECT indicator_id AS id FROM job_inputs WHERE job_id = ? AND seq IN ({marks}) "  # noqa: S608 - placeholders only
            "AND indicator_id IS NOT NULL UNION SELECT i.id FROM job_inputs j JOIN indicators i "
            f"ON i.type = j.type AND i.value = j.value WHERE j.job_id = ? AND j.seq IN ({marks}) "
            "AND j.indicator_id IS NULL",
            (job_id, *seqs, job_id, *seqs),
        )
        ids = sorted({int(row["id"]) for row in found})
        if not ids:
            return 0
        judged_ids = ", ".join("?" for _ in ids)
        with self.transaction() as conn:
            conn.execute(
                "UPDATE indicators SET verdict = ?, score = ?, updated_at = ?, status = "  # noqa: S608 - placeholders only
                f"CASE WHEN status = ? THEN status ELSE ? END WHERE id IN ({judged_ids})",
                (level, score, now(), _KEPT_STATUS, status, *ids),
            )
        return len(ids)

    def indicator(self, indicator_id: int) -> Optional[Row]:
        return self.one("SELECT * FROM indicators WHERE id = ?", (indicator_id,))

    def indicator_tlp(self, kind: str, value: str) -> Optional[str]:
        """The TLP a stored indicator of this type and value has (None: not stored)."""
        row = self.one("SELECT tlp FROM indicators WHERE type = ? AND value = ?", (kind, value))
        return None if row is None else str(row["tlp"])

    def set_indicator_tlp(self, indicator_id: int, tlp: str) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE indicators SET tlp = ? WHERE id = ?", (tlp, indicator_id))

    def indicator_attributes(self, indicator_id: int) -> list[Row]:
        return self.all(
            "SELECT name, value, published_at, source FROM indicator_attributes "
            "WHERE indicator_id = ? ORDER BY name, value",
            (indicator_id,),
        )

    def attributes_of(self, indicator_ids: Sequence[int]) -> dict[int, list[Row]]:
        """Each of these indicators' attributes (as :meth:`indicator_attributes`)."""
        found: dict[int, list[Row]] = {int(i): [] for i in indicator_ids}
        if not found:
            return found
        marks = ", ".join("?" for _ in found)
        for row in self.all(
            "SELECT indicator_id, name, value, published_at, source FROM indicator_attributes "  # noqa: S608 - placeholders only
            f"WHERE indicator_id IN ({marks}) ORDER BY indicator_id, name, value",
            tuple(found),
        ):
            found[int(row.pop("indicator_id"))].append(row)
        return found

    def indicators(
        self,
        kind: Optional[str],
        text: Optional[str],
        offset: int,
        limit: int,
        sort: str = "added",
        descending: bool = False,
    ) -> tuple[int, list[Row]]:
        """Indicators of a type whose value contains ``text``, sorted by one of :data:`SORTS`
        (then by when they were added), and how many there are."""
        where, params = ["1 = 1"], []
        if kind:
            where.append("type = ?")
            params.append(kind)
        if text:
            # LIKE, its wildcards escaped: both engines have it (PostgreSQL has no instr)
            where.append("lower(value) LIKE lower(?) ESCAPE '\\'")
            params.append(_like(text))
        clause = " AND ".join(where)
        way = "DESC" if descending else "ASC"
        order = f"{SORTS.get(sort, 'id')} {way}, id {way}"
        total = int(self.scalar(f"SELECT COUNT(*) FROM indicators WHERE {clause}", params))  # noqa: S608
        rows = self.all(
            f"SELECT * FROM indicators WHERE {clause} ORDER BY {order} LIMIT ? OFFSET ?",  # noqa: S608 - order from SORTS
            (*params, limit, offset),
        )
        return total, rows

    def find_indicators(
        self, condition: Union[Match, Group, None], order: str, offset: int, limit: int
    ) -> tuple[int, list[Row]]:
        """The indicators ``condition`` holds for (all: None), in one of :data:`ORDERS`:
        (how many, one page)."""
        params: list[Any] = []
        clause = _where(condition, params)
        total = int(self.scalar(f"SELECT COUNT(*) FROM indicators WHERE {clause}", params))  # noqa: S608 - built from _FIELDS
        rows = self.all(
            f"SELECT * FROM indicators WHERE {clause} ORDER BY {ORDERS[order]} "  # noqa: S608 - built from _FIELDS and ORDERS
            "LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return total, rows

    def changed_indicators(
        self,
        condition: Union[Match, Group, None],
        after: Optional[tuple[str, int]],
        until: str,
        limit: int,
    ) -> tuple[int, list[Row]]:
        """A feed's next page: the indicators ``condition`` holds for that changed after the
        position ``after`` ((updated_at, id) of the last one sent; None: from the start) and
        no later than ``until``, oldest change first: (how many ``condition`` holds for in
        all, the page)."""
        params: list[Any] = []
        clause = _where(condition, params)
        total = int(self.scalar(f"SELECT COUNT(*) FROM indicators WHERE {clause}", params))  # noqa: S608 - built from _FIELDS
        page = [*params, until]
        where = f"{clause} AND updated_at <= ?"
        if after is not None:
            where += " AND (updated_at > ? OR (updated_at = ? AND id > ?))"
            page += [after[0], after[0], after[1]]
        rows = self.all(
            f"SELECT * FROM indicators WHERE {where} ORDER BY updated_at, id LIMIT ?",  # noqa: S608 - built from _FIELDS
            (*page, limit),
        )
        return total, rows

    def indicator_attributes_stored(self, indicator_id: int) -> list[Row]:
        """An indicator's attributes with where they came from: the source, the TLP they were
        added under and the job that found them; newest first, then by name."""
        return self.all(
            "SELECT name, value, published_at, source, tlp, job_id FROM indicator_attributes "
            "WHERE indicator_id = ? ORDER BY job_id DESC, name, value",
            (indicator_id,),
        )

    def indicator_history(
        self, indicator_id: int, kind: str, value: str, limit: int = 100
    ) -> list[Row]:
        """The jobs that searched an indicator (by its id, or its type and value given as an
        input), newest first: each job's operation, action, who ran it, when, its status,
        and this input's result (NULL while it has none)."""
        return self.all(
            "SELECT j.id AS job_id, j.operation, j.action, j.created_by, j.created_at, "
            "j.status AS job_status, i.seq, r.status, r.result FROM job_inputs i "
            "JOIN jobs j ON j.id = i.job_id "
            "LEFT JOIN results r ON r.job_id = i.job_id AND r.seq = i.seq "
            "WHERE i.indicator_id = ? OR (i.type = ? AND i.value = ?) "
            "ORDER BY j.id DESC, i.seq LIMIT ?",
            (indicator_id, kind, value, limit),
        )

    def search_results(self, text: str, offset: int, limit: int) -> tuple[int, bool, list[Row]]:
        """Stored results that contain ``text`` (in any case for ASCII letters; as the
        results are stored, in JSON), newest job first: how many (counted within the newest
        :data:`SEARCH_LIMIT` results), whether the search stopped there, and one page."""
        newest = "SELECT job_id, seq, status, result FROM results ORDER BY job_id DESC, seq LIMIT ?"
        # the text as it is and as JSON writes it (non-ASCII as \u escapes, quotes escaped);
        # lower() folds ASCII only, so a non-ASCII letter matches as given, in lower or upper
        # case, or capitalised
        forms = [text, text.lower(), text.upper(), text[:1].upper() + text[1:].lower()]
        patterns = list(dict.fromkeys(_like(f) for t in forms for f in (t, json.dumps(t)[1:-1])))
        like = " OR ".join(["lower(n.result) LIKE lower(?) ESCAPE '\\'"] * len(patterns))
        matching = f"SELECT * FROM ({newest}) n WHERE {like}"  # noqa: S608
        params = (SEARCH_LIMIT, *patterns)
        total = int(self.scalar(f"SELECT COUNT(*) FROM ({matching}) m", params))  # noqa: S608
        stopped = int(self.scalar("SELECT COUNT(*) FROM results")) > SEARCH_LIMIT
        columns = "m.job_id, m.seq, m.status, m.result, j.operation, j.action, j.created_by, "
        rows = self.all(
            f"SELECT {columns} j.created_at FROM ({matching}) m JOIN jobs j ON j.id = m.job_id "  # noqa: S608
            "ORDER BY m.job_id DESC, m.seq LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return total, stopped, rows

    def stored_result(self, job_id: int, seq: int) -> Optional[Row]:
        """One input's stored result (None while it has none)."""
        return self.one(
            "SELECT seq, status, result FROM results WHERE job_id = ? AND seq = ?", (job_id, seq)
        )

    def delete_indicator(self, indicator_id: int) -> bool:
        with self.transaction() as conn:
            return conn.execute("DELETE FROM indicators WHERE id = ?", (indicator_id,)).rowcount > 0

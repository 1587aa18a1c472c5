"""The store's indicators and the attributes results added to them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Optional

from tqops.server.store.database import Database, Row, now
from tqops.tlp import Tlp

__all__ = ["SORTS", "IndicatorRecords"]

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
                created = conn.insert(
                    "INSERT INTO indicators (type, value, tlp, note, source, created_at, "
                    "created_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (kind, value, tlp, note or None, source, now(), user),
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
        them; how many were new."""
        count = "SELECT COUNT(*) FROM indicator_attributes WHERE indicator_id = ?"
        with self.transaction() as conn:
            before = int(conn.execute(count, (indicator_id,)).fetchone()[0])
            conn.executemany(
                "INSERT INTO indicator_attributes (indicator_id, name, value, published_at, "
                "source, tlp, job_id) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [(indicator_id, n, v, p, source, tlp, job_id) for n, v, p in attributes],
            )
            return int(conn.execute(count, (indicator_id,)).fetchone()[0]) - before

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

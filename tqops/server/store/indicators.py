"""The store's indicators and the attributes results added to them."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Optional

from tqops.server.store.database import Database, Row, now

__all__ = ["IndicatorRecords"]


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
        self, indicator_id: int, attributes: Iterable[tuple[str, str, Optional[str]]], source: str
    ) -> None:
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO indicator_attributes (indicator_id, name, value, published_at, "
                "source) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [(indicator_id, n, v, p, source) for n, v, p in attributes],
            )

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
        self, kind: Optional[str], text: Optional[str], offset: int, limit: int
    ) -> tuple[int, list[Row]]:
        where, params = ["1 = 1"], []
        if kind:
            where.append("type = ?")
            params.append(kind)
        if text:
            # LIKE, its wildcards escaped: both engines have it (PostgreSQL has no instr)
            where.append("lower(value) LIKE lower(?) ESCAPE '\\'")
            params.append("%" + re.sub(r"([\\%_])", r"\\\1", text) + "%")
        clause = " AND ".join(where)
        total = int(self.scalar(f"SELECT COUNT(*) FROM indicators WHERE {clause}", params))  # noqa: S608
        rows = self.all(
            f"SELECT * FROM indicators WHERE {clause} ORDER BY id LIMIT ? OFFSET ?",  # noqa: S608
            (*params, limit, offset),
        )
        return total, rows

    def delete_indicator(self, indicator_id: int) -> bool:
        with self.transaction() as conn:
            return conn.execute("DELETE FROM indicators WHERE id = ?", (indicator_id,)).rowcount > 0

"""Mapping: a vendor response -> indicators, by the manifest's mapping table.

The indicator path's ``[]`` prefix names the *record* (``.iocs[]``): every other path under it
is evaluated per record, and a path that shares a deeper ``[]`` with its row (the published date
of ``.iocs[].observations[].severity`` is ``.iocs[].observations[].first_seen``) is read from
the same element, never by zipping flattened lists. A missing key or null yields nothing (and is
counted in the coverage report); a list yields one attribute per item; identical name/value
attributes of one indicator are merged, keeping the earliest published date; when a published
path reaches several dates, the earliest wins; a list of published paths is tried in order.

Speed: the rows' paths are merged into one trie (:mod:`.rows`), so a record is visited once
whatever the number of rows; that trie is compiled once per manifest into a Python function
(:mod:`.codegen`). The modules: :mod:`.table` resolves a manifest's table, :mod:`.state`
collects what a run makes, :mod:`.mapper` runs the compiled table over responses. After
mapping, :mod:`.reading` reads a found indicator as an analyst does (groups and a summary).
"""

from tqops.mapping.mapper import Mapper
from tqops.mapping.state import MappingResult

__all__ = ["Mapper", "MappingResult"]

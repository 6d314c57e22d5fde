"""Reading the history: an entry, a page of entries (filtered, searched, counted), a visitor's backends and
presets.

A page is found in one of two ways. The whole history of a visitor (or of one backend) is walked
newest first through the (visitor, created_at, id) indexes, and counted from ``entry_counts``
(migration m003). A search in a large history walks the prompt index (FTS5 trigrams, migration m002)
newest match first instead, and counts its matches only up to :data:`COUNT_UP_TO`. The outcome filter
reads the ``outcome`` column (migration m007).

:class:`HistoryQueries` is a part of :class:`~backends.history.store.HistoryStore` (it uses the store's
connection and lock); use the store.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..base import GenerationRequest, ImageFailure, Price
from .derived import PAGE_THUMBNAIL_WAIT_S
from .entries import OUTCOMES, HistoryEntry, HistoryPage, StoredImage, _check_visitor

__all__ = ["COUNT_UP_TO", "MAX_SEARCH_TERMS", "MAX_TERM_CHARS", "SEARCH_READS_UP_TO", "HistoryQueries", "search_terms"]

# A search or a starred filter counts its matches exactly up to this many, then says "at least" (the
# page shows "200+"). Counting reads every match it counts: for a word in one prompt in 20 of 100,000,
# counting up to 200 adds 0.4 ms to the page's 2 ms, up to 1000 adds 15 ms (fastest of 21, busy 2-CPU
# machine), and all 5,000 took 14-40 ms.
COUNT_UP_TO = 200
# A search in a history (of one visitor, one backend) of at most this many entries reads them all,
# newest first; in a larger one it walks the prompt index, newest match first. The walk costs what it
# reads of every visitor's matches, so a small history among many large ones is cheaper read whole.
SEARCH_READS_UP_TO = 2000
# A search uses its first MAX_SEARCH_TERMS different words, each cut to MAX_TERM_CHARS: every word is a
# clause of the query (1,000 of them passed SQLite's expression depth and raised OperationalError).
MAX_SEARCH_TERMS = 16
MAX_TERM_CHARS = 100


class HistoryQueries:
    """The store's reads. Each takes ``visitor``: an entry of another visitor behaves as if it did not exist."""

    def image_path(self, image: StoredImage) -> Path:
        return image.path

    def thumb_path(self, image: StoredImage) -> Path:
        return image.thumb_path

    def preview_path(self, image: StoredImage) -> Path:
        return image.preview_path

    def get(self, entry_id: str, *, visitor: str = "") -> HistoryEntry | None:
        """The entry, or None when it does not exist for this visitor."""
        _check_visitor(visitor)
        self._await_derived([entry_id])
        with self._lock:
            return self._load([entry_id], visitor).get(entry_id)

    def count(self, *, visitor: str = "") -> int:
        _check_visitor(visitor)
        with self._lock:
            return self._count_entries(visitor)

    def _count_entries(self, visitor: str, backend_id: str | None = None) -> int:
        """Entries of a visitor (of one backend), from the counts the triggers keep (migration m003)."""
        sql = "SELECT coalesce(sum(entries), 0) FROM entry_counts WHERE visitor = ?"
        params: list[Any] = [visitor]
        if backend_id:
            sql += " AND backend_id = ?"
            params.append(backend_id)
        return self._conn.execute(sql, params).fetchone()[0]

    def backends(self, *, visitor: str = "") -> list[tuple[str, str]]:
        """(backend_id, latest label) of every backend this visitor's history uses, by label."""
        _check_visitor(visitor)
        with self._lock:
            rows = self._conn.execute(
                "SELECT backend_id, backend_label, max(created_at) FROM generations WHERE visitor = ? "
                "GROUP BY backend_id",
                (visitor,),
            ).fetchall()
        return sorted(((r[0], r[1]) for r in rows), key=lambda pair: (pair[1].casefold(), pair[0]))

    def list_entries(
        self,
        *,
        visitor: str = "",
        query: str = "",
        backend_id: str | None = None,
        starred_only: bool = False,
        outcome: str | None = None,
        limit: int = 24,
        before: str | None = None,
        offset: int = 0,
        count_up_to: int = COUNT_UP_TO,
    ) -> HistoryPage:
        """A page of entries, newest first.

        ``query`` matches prompts and negative prompts: every whitespace-separated word must occur
        as a substring, case-insensitively (ASCII). ``before`` is a previous page's ``next_cursor``
        (stable while entries are added or deleted); ``offset`` skips entries instead. A search, the
        starred filter or an outcome filter counts its matches up to ``count_up_to`` (see
        :class:`HistoryPage`).
        """
        _check_visitor(visitor)
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if count_up_to < 1:
            raise ValueError("count_up_to must be at least 1")
        where = ["g.visitor = ?"]
        params: list[Any] = [visitor]
        if backend_id:
            where.append("g.backend_id = ?")
            params.append(backend_id)
        if starred_only:
            where.append("g.starred = 1")
        if outcome:
            if outcome not in OUTCOMES:
                raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
            where.append("g.outcome = ?")
            params.append(outcome)
        terms, _ = search_terms(query)
        cursor = _parse_cursor(before) if before else None
        offset = max(0, offset)
        with self._lock:
            history = self._count_entries(visitor, backend_id)
            if self._fts and history > SEARCH_READS_UP_TO and any(len(term) >= 3 for term in terms):
                rows, total, more = self._search_newest_match_first(where, params, terms, cursor, limit, offset, count_up_to)
            else:
                for term in terms:
                    where.append(_LIKE_TERM)
                    params += [_like_pattern(term)] * 2
                counted = bool(terms) or starred_only or bool(outcome)
                rows, total, more = self._page_and_count(
                    f"FROM generations g WHERE {' AND '.join(where)}", params, "g.created_at DESC, g.id DESC",
                    cursor_sql="(g.created_at, g.id) < (?, ?)" if cursor else "", cursor_values=list(cursor or ()),
                    limit=limit, offset=offset, count_up_to=count_up_to if counted else 0,
                )
                if not counted:
                    total, more = history, False
            has_more = len(rows) > limit
        ids = [row[0] for row in rows[:limit]]
        self._await_derived(ids, within=PAGE_THUMBNAIL_WAIT_S)
        with self._lock:
            loaded = self._load(ids, visitor)
        entries = tuple(loaded[i] for i in ids if i in loaded)
        next_cursor = f"{entries[-1].created_at!r}|{entries[-1].id}" if has_more and entries else None
        return HistoryPage(
            entries=entries, total=total, has_more=has_more, next_cursor=next_cursor, total_is_lower_bound=more
        )

    def _search_newest_match_first(
        self,
        where: list[str],
        params: list[Any],
        terms: list[str],
        cursor: tuple[float, str] | None,
        limit: int,
        offset: int,
        count_up_to: int,
    ) -> tuple[list[Any], int, bool]:
        """(Under the lock.) A search through the prompt index (FTS5, trigrams): its matches newest
        first, read only as far as the page and the capped count need.

        The index yields matches by rowid (``seq``), newest first and a page at a time, and
        ``created_at`` grows with ``seq`` (migration m005 and :meth:`_next_created_at`), so that is also
        the history's order. Words shorter than a trigram are matched with LIKE on the rows found.
        """
        matching = [_unindexed(clause) for clause in where]
        values = list(params)
        indexed = []
        for term in terms:
            if len(term) >= 3:
                indexed.append('"' + term.replace('"', '""') + '"')
            else:
                matching.append(_LIKE_TERM)
                values += [_like_pattern(term)] * 2
        base = "FROM generations_fts f CROSS JOIN generations g ON g.seq = f.rowid WHERE generations_fts MATCH ?"
        base += "".join(f" AND {clause}" for clause in matching)
        values = [" AND ".join(indexed), *values]
        cursor_sql, cursor_values = "", []
        if cursor:
            # Matches older than the cursor have a seq no larger than the visitor's newest entry at or
            # before its time: where the walk starts, instead of at the newest match.
            bound = self._conn.execute(
                "SELECT seq FROM generations WHERE visitor = ? AND created_at <= ? ORDER BY created_at DESC LIMIT 1",
                (params[0], cursor[0]),
            ).fetchone()
            cursor_sql = "f.rowid <= ? AND (g.created_at, g.id) < (?, ?)"
            cursor_values = [bound[0] if bound else 0, *cursor]
        return self._page_and_count(
            base, values, "f.rowid DESC", cursor_sql=cursor_sql, cursor_values=cursor_values,
            limit=limit, offset=offset, count_up_to=count_up_to,
        )

    def _page_and_count(
        self,
        from_where: str,
        values: list[Any],
        order: str,
        *,
        cursor_sql: str,
        cursor_values: list[Any],
        limit: int,
        offset: int,
        count_up_to: int,
    ) -> tuple[list[Any], int, bool]:
        """(Under the lock.) The ids of a page (``limit`` + 1, to tell whether there are more) of the rows
        ``from_where`` selects in ``order``, after the cursor; and how many rows it selects (cursor aside),
        exactly up to ``count_up_to`` (0: not counted), and whether there are more than that.

        A first page and its count are one walk: the rows read for the count are the page's too."""
        if not cursor_sql and not offset:
            wanted = max(limit, count_up_to) + 1
            rows = self._conn.execute(
                f"SELECT g.id {from_where} ORDER BY {order} LIMIT ?", [*values, wanted]
            ).fetchall()
            return rows[: limit + 1], min(len(rows), count_up_to), len(rows) > count_up_to
        total, more = 0, False
        if count_up_to:
            found = self._conn.execute(
                f"SELECT count(*) FROM (SELECT 1 {from_where} LIMIT ?)", [*values, count_up_to + 1]
            ).fetchone()[0]
            total, more = min(found, count_up_to), found > count_up_to
        if cursor_sql:
            from_where += f" AND {cursor_sql}"
        rows = self._conn.execute(
            f"SELECT g.id {from_where} ORDER BY {order} LIMIT ? OFFSET ?", [*values, *cursor_values, limit + 1, offset]
        ).fetchall()
        return rows, total, more

    def _load(self, ids: Sequence[str], visitor: str) -> dict[str, HistoryEntry]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        # ``+visitor``: find the rows by their unique id. Without it SQLite walks the visitor's whole
        # history through a (visitor, ...) index, and a page of 24 costs 4 ms at 10,000 entries.
        rows = self._conn.execute(
            f"SELECT * FROM generations WHERE id IN ({marks}) AND +visitor = ?", [*ids, visitor]
        ).fetchall()
        images: dict[str, list[StoredImage]] = {}
        for row in self._conn.execute(
            f"SELECT * FROM images WHERE generation_id IN ({marks}) ORDER BY generation_id, idx", list(ids)
        ):
            images.setdefault(row["generation_id"], []).append(
                StoredImage(
                    id=row["id"],
                    index=row["idx"],
                    seed=row["seed"],
                    width=row["width"],
                    height=row["height"],
                    file_name=row["file_name"],
                    thumb_name=row["thumb_name"],
                    mime_type=row["mime_type"],
                    source_mime_type=row["source_mime_type"],
                    size_bytes=row["bytes"],
                    preview_name=row["preview_name"],
                    data_dir=self.data_dir,
                )
            )
        entries = {}
        for row in rows:
            cost = (
                Price(row["cost_amount"], row["cost_currency"])
                if row["cost_amount"] is not None and row["cost_currency"]
                else None
            )
            entries[row["id"]] = HistoryEntry(
                id=row["id"],
                created_at=row["created_at"],
                visitor=row["visitor"],
                backend_id=row["backend_id"],
                backend_label=row["backend_label"],
                model=row["model"],
                request=GenerationRequest.from_dict(json.loads(row["request"])),
                status=row["status"],
                error=row["error"],
                elapsed_s=row["elapsed_s"],
                cost=cost,
                info=json.loads(row["info"]),
                starred=bool(row["starred"]),
                images=tuple(images.get(row["id"], ())),
                failures=tuple(ImageFailure(**f) for f in json.loads(row["failures"])),
                preset=row["preset"],
            )
        return entries


    def list_presets(self, *, visitor: str = "") -> list[tuple[str, dict[str, Any]]]:
        """(id, fields) of this visitor's own presets, newest first."""
        _check_visitor(visitor)
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, fields FROM presets WHERE visitor = ? ORDER BY created_at DESC, id", (visitor,)
            ).fetchall()
        return [(row[0], json.loads(row[1])) for row in rows]


_LIKE_TERM = "(g.prompt LIKE ? ESCAPE '\\' OR g.negative_prompt LIKE ? ESCAPE '\\')"


def search_terms(query: str) -> tuple[list[str], bool]:
    """The words a search matches: its first :data:`MAX_SEARCH_TERMS` different words,
    each cut to :data:`MAX_TERM_CHARS` characters; and whether anything of the query was left out."""
    terms: list[str] = []
    seen: set[str] = set()
    capped = False
    for word in query.split():
        term = word[:MAX_TERM_CHARS]
        capped = capped or term != word
        if term in seen:
            continue
        if len(terms) == MAX_SEARCH_TERMS:
            return terms, True
        seen.add(term)
        terms.append(term)
    return terms, capped


def _like_pattern(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _unindexed(sql: str) -> str:
    """``sql`` with the visitor, backend and outcome comparisons kept off the (visitor, ...) indexes."""
    for column in ("visitor", "backend_id", "outcome"):
        sql = sql.replace(f"g.{column} = ?", f"+g.{column} = ?")
    return sql


def _parse_cursor(cursor: str) -> tuple[float, str]:
    try:
        created_at, entry_id = cursor.split("|", 1)
        return float(created_at), entry_id
    except (AttributeError, ValueError):
        raise ValueError(f"not a history cursor: {cursor!r}") from None

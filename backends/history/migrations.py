"""The history database's schema, as numbered migrations.

Migrations are append-only: once released, a migration function is never edited or reordered; a
schema change is a new function at the end. :func:`migrate` applies the missing ones in order, each in
its own transaction together with its row in ``_migrations``, so a crash mid-way leaves the database
at the previous migration. Several processes may open the same file: the check for "already applied"
is repeated inside the write transaction.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

__all__ = ["MIGRATIONS", "applied_migrations", "has_prompt_index", "migrate"]

Migration = Callable[[sqlite3.Connection], None]

MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    """Register ``fn`` as the next migration; its name (``m003_...``) is what ``_migrations`` records."""
    if any(m.__name__ == fn.__name__ for m in MIGRATIONS):
        raise ValueError(f"migration {fn.__name__} is registered twice")
    MIGRATIONS.append(fn)
    return fn


def _ensure_table(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")


def applied_migrations(conn: sqlite3.Connection) -> list[str]:
    """Names of the migrations applied to this database, in the order they were applied."""
    _ensure_table(conn)
    return [row[0] for row in conn.execute("SELECT name FROM _migrations ORDER BY applied_at, rowid")]


def migrate(conn: sqlite3.Connection, *, upto: str | None = None) -> list[str]:
    """Apply every migration not yet applied (or those up to and including ``upto``); return their names.

    The connection must not be inside a transaction.
    """
    if conn.in_transaction:
        raise RuntimeError("migrate() needs a connection outside any transaction")
    if upto is not None and upto not in {m.__name__ for m in MIGRATIONS}:
        raise ValueError(f"no migration named {upto!r}")
    _ensure_table(conn)
    if conn.in_transaction:  # legacy isolation levels open one implicitly
        conn.commit()
    applied: list[str] = []
    for fn in MIGRATIONS:
        conn.execute("BEGIN IMMEDIATE")
        try:
            done = conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (fn.__name__,)).fetchone()
            if not done:
                fn(conn)
                conn.execute(
                    "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (fn.__name__, time.time())
                )
                applied.append(fn.__name__)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        if fn.__name__ == upto:
            break
    return applied


def has_prompt_index(conn: sqlite3.Connection) -> bool:
    """Whether the FTS5 trigram index on prompts exists (it needs SQLite 3.34+ with FTS5)."""
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'generations_fts'")
    return row.fetchone() is not None


# ---------------------------------------------------------------------------------------------
# The migrations. Never edit one that has been committed; add a new one below.


@migration
def m001_generations_and_images(conn: sqlite3.Connection) -> None:
    # ``seq`` is the rowid (stable across VACUUM, which the FTS index relies on); ``id`` is the
    # unguessable public id. ``request`` is the full GenerationRequest as JSON; the columns after it
    # copy its fields for filtering. ``failures`` is a JSON list of {index, seed, error, error_type}.
    conn.execute(
        """
        CREATE TABLE generations (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            created_at REAL NOT NULL,
            visitor TEXT NOT NULL DEFAULT '',
            backend_id TEXT NOT NULL,
            backend_label TEXT NOT NULL DEFAULT '',
            model TEXT NOT NULL DEFAULT '',
            request TEXT NOT NULL,
            prompt TEXT NOT NULL DEFAULT '',
            negative_prompt TEXT NOT NULL DEFAULT '',
            width INTEGER,
            height INTEGER,
            n INTEGER,
            seed INTEGER,
            steps INTEGER,
            guidance REAL,
            scheduler TEXT,
            output_format TEXT,
            status TEXT NOT NULL CHECK (status IN ('ok', 'partial', 'failed')),
            error TEXT,
            failures TEXT NOT NULL DEFAULT '[]',
            elapsed_s REAL NOT NULL DEFAULT 0,
            cost_amount REAL,
            cost_currency TEXT,
            info TEXT NOT NULL DEFAULT '{}',
            starred INTEGER NOT NULL DEFAULT 0
        )
        """
    )
    conn.execute("CREATE INDEX generations_newest ON generations (visitor, created_at, id)")
    conn.execute("CREATE INDEX generations_backend ON generations (visitor, backend_id, created_at, id)")
    conn.execute(
        "CREATE INDEX generations_starred ON generations (visitor, created_at, id) WHERE starred = 1"
    )
    conn.execute(
        """
        CREATE TABLE images (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            generation_id TEXT NOT NULL REFERENCES generations (id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            seed INTEGER NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            mime_type TEXT NOT NULL,
            source_mime_type TEXT NOT NULL,
            file_name TEXT NOT NULL UNIQUE,
            thumb_name TEXT UNIQUE,
            bytes INTEGER NOT NULL,
            UNIQUE (generation_id, idx)
        )
        """
    )


@migration
def m002_prompt_search(conn: sqlite3.Connection) -> None:
    # Substring search on prompts: an external-content FTS5 table with the trigram tokenizer (works
    # for text without spaces, e.g. Chinese), kept in sync by triggers. SQLite builds without FTS5 or
    # older than 3.34 skip it; the store then searches with LIKE alone.
    try:
        conn.execute(
            "CREATE VIRTUAL TABLE generations_fts USING fts5("
            "prompt, negative_prompt, content='generations', content_rowid='seq', tokenize='trigram')"
        )
    except sqlite3.OperationalError:
        return
    conn.execute(
        """
        CREATE TRIGGER generations_fts_insert AFTER INSERT ON generations BEGIN
            INSERT INTO generations_fts (rowid, prompt, negative_prompt)
            VALUES (new.seq, new.prompt, new.negative_prompt);
        END
        """
    )
    conn.execute(
        """
        CREATE TRIGGER generations_fts_delete AFTER DELETE ON generations BEGIN
            INSERT INTO generations_fts (generations_fts, rowid, prompt, negative_prompt)
            VALUES ('delete', old.seq, old.prompt, old.negative_prompt);
        END
        """
    )
    conn.execute(
        """
        CREATE TRIGGER generations_fts_update AFTER UPDATE OF prompt, negative_prompt ON generations BEGIN
            INSERT INTO generations_fts (generations_fts, rowid, prompt, negative_prompt)
            VALUES ('delete', old.seq, old.prompt, old.negative_prompt);
            INSERT INTO generations_fts (rowid, prompt, negative_prompt)
            VALUES (new.seq, new.prompt, new.negative_prompt);
        END
        """
    )
    conn.execute("INSERT INTO generations_fts (generations_fts) VALUES ('rebuild')")


@migration
def m003_entry_counts(conn: sqlite3.Connection) -> None:
    # How many entries each visitor has per backend, kept by triggers: the history's "N entries" and a
    # backend filter's count become a lookup instead of a walk over the visitor's whole history
    # (0.9 ms at 10,000 entries, growing with it).
    conn.execute(
        """
        CREATE TABLE entry_counts (
            visitor TEXT NOT NULL,
            backend_id TEXT NOT NULL,
            entries INTEGER NOT NULL,
            PRIMARY KEY (visitor, backend_id)
        ) WITHOUT ROWID
        """
    )
    conn.execute(
        """
        CREATE TRIGGER entry_counts_insert AFTER INSERT ON generations BEGIN
            INSERT INTO entry_counts (visitor, backend_id, entries) VALUES (new.visitor, new.backend_id, 1)
            ON CONFLICT (visitor, backend_id) DO UPDATE SET entries = entries + 1;
        END
        """
    )
    conn.execute(
        """
        CREATE TRIGGER entry_counts_delete AFTER DELETE ON generations BEGIN
            UPDATE entry_counts SET entries = entries - 1
            WHERE visitor = old.visitor AND backend_id = old.backend_id;
        END
        """
    )
    conn.execute(
        """
        CREATE TRIGGER entry_counts_update AFTER UPDATE OF visitor, backend_id ON generations BEGIN
            UPDATE entry_counts SET entries = entries - 1
            WHERE visitor = old.visitor AND backend_id = old.backend_id;
            INSERT INTO entry_counts (visitor, backend_id, entries) VALUES (new.visitor, new.backend_id, 1)
            ON CONFLICT (visitor, backend_id) DO UPDATE SET entries = entries + 1;
        END
        """
    )
    conn.execute(
        "INSERT INTO entry_counts (visitor, backend_id, entries) "
        "SELECT visitor, backend_id, count(*) FROM generations GROUP BY visitor, backend_id"
    )


@migration
def m004_image_previews(conn: sqlite3.Connection) -> None:
    # The page's light WebP of an image (previews/<name>); NULL when the page shows the image itself.
    conn.execute("ALTER TABLE images ADD COLUMN preview_name TEXT")
    conn.execute("CREATE UNIQUE INDEX images_preview_name ON images (preview_name)")


@migration
def m005_file_journal_and_insertion_order(conn: sqlite3.Connection) -> None:
    # 1. Chores the store owes once, at its next open. Files written before the store kept notes of its
    #    writes in flight (journal.py) are named by no note: one sweep of every folder finds any debris.
    conn.execute("CREATE TABLE chores (name TEXT PRIMARY KEY) WITHOUT ROWID")
    conn.execute("INSERT INTO chores (name) VALUES ('sweep_files')")
    # 2. A search walks the prompt index newest rowid (seq) first, which is newest created_at first only
    #    while created_at grows with seq. The store keeps it so from now on; two processes sharing one
    #    history, or a clock set back, could interleave older rows (by microseconds to seconds): a row
    #    written after another but dated before it is dated 1 µs after it instead.
    latest = None
    later: list[tuple[float, int]] = []
    for seq, created_at in conn.execute("SELECT seq, created_at FROM generations ORDER BY seq"):
        if latest is not None and created_at <= latest:
            created_at = latest + 1e-6
            later.append((created_at, seq))
        latest = created_at
    conn.executemany("UPDATE generations SET created_at = ? WHERE seq = ?", later)


@migration
def m006_style_presets(conn: sqlite3.Connection) -> None:
    # A person's own style presets, kept with their history (per visitor on a hosted demo), and the
    # preset each generation was made with.
    conn.execute("ALTER TABLE generations ADD COLUMN preset TEXT")
    conn.execute(
        """
        CREATE TABLE presets (
            id TEXT PRIMARY KEY,
            visitor TEXT NOT NULL,
            name TEXT NOT NULL COLLATE NOCASE,
            fields TEXT NOT NULL,
            created_at REAL NOT NULL,
            UNIQUE (visitor, name)
        )
        """
    )


@migration
def m007_outcome_column(conn: sqlite3.Connection) -> None:
    # What a generation came to, as a column the history's outcome filter reads: its status, or
    # 'stopped' when Stop ended it (one of its failures is a GenerationCancelled). Until now the filter
    # found 'stopped' with a LIKE over every row's failures JSON; existing rows are filled from that same
    # LIKE. A row inserted without it (a writer that does not name the column) gets it from the trigger.
    conn.execute(
        "ALTER TABLE generations ADD COLUMN outcome TEXT "
        "CHECK (outcome IN ('ok', 'partial', 'failed', 'stopped'))"
    )
    outcome = (
        "CASE WHEN failures LIKE '%\"error_type\": \"GenerationCancelled\"%' THEN 'stopped' ELSE status END"
    )
    conn.execute(f"UPDATE generations SET outcome = {outcome}")
    conn.execute(
        f"""
        CREATE TRIGGER generations_outcome_insert AFTER INSERT ON generations WHEN new.outcome IS NULL BEGIN
            UPDATE generations SET outcome = {outcome} WHERE seq = new.seq;
        END
        """
    )
    conn.execute("CREATE INDEX generations_outcome ON generations (visitor, outcome, created_at, id)")

"""The persistent history: SQLite + image files, and the parameters embedded in every saved image.

    store = HistoryStore(data_dir)             # migrates and cleans up after a crash
    entry = store.save(result, visitor=vid)    # every generation, failed ones too
    page = store.list_entries(visitor=vid, query="cat", limit=24)
    restored = read_image_parameters(data)     # PNG, JPEG or WebP: our JSON, else A1111 "parameters" text

    store.py        HistoryStore, the one class: opening the data directory and its database, closing it
    writes.py       its writes: save, star, delete, presets; the write transaction and crash recovery
    queries.py      its reads: get, list, search, counts, a visitor's backends and presets
    derived.py      each saved image's check, thumbnail and preview, before the commit or after it
    entries.py      what the reads return (HistoryEntry, StoredImage, HistoryPage) and the outcome rule
    rows.py         the rows a save inserts, by column name (the bulk-seeding benchmark uses them too)
    journal.py      notes of the files each write has in flight, which crash recovery reads
    migrations.py   numbered, append-only schema changes
    image_files.py  which format a file is; splicing our metadata in; reading it back
    a1111.py        AUTOMATIC1111's "parameters" text, written and parsed
    parameters.py   our own JSON record of an image's request, and RestoredParameters
    png_chunks.py   PNG text chunks and PNG conversion
    exif_xmp.py     EXIF UserComment and XMP in JPEG and WebP
    thumbnails.py   the history panel's thumbnails
    previews.py     the light WebP the page shows of each image (downloads are the originals)
    downloads.py    originals to download, under names a person can read
"""

from .a1111 import a1111_parameters, parse_a1111_parameters
from .image_files import embed_metadata, read_image_parameters
from .migrations import MIGRATIONS, applied_migrations, migrate
from .parameters import JSON_KEY, PARAMETERS_KEY, RestoredParameters
from .png_chunks import embed_png_metadata, png_texts, to_png
from .store import HistoryEntry, HistoryPage, HistoryStore, StoredImage

__all__ = [
    "JSON_KEY",
    "MIGRATIONS",
    "PARAMETERS_KEY",
    "HistoryEntry",
    "HistoryPage",
    "HistoryStore",
    "RestoredParameters",
    "StoredImage",
    "a1111_parameters",
    "applied_migrations",
    "embed_metadata",
    "embed_png_metadata",
    "migrate",
    "parse_a1111_parameters",
    "png_texts",
    "read_image_parameters",
    "to_png",
]

"""The persistent history: SQLite + image files, and the parameters embedded in every saved image.

store = HistoryStore(data_dir)             # migrates and cleans up after a crash
entry = store.save(result, visitor=vid)    # every generation, failed ones too
page = store.list_entries(visitor=vid, query="cat", limit=24)
restored = read_image_parameters(data)     # PNG, JPEG or WebP: our JSON, else A1111 "parameters" text
"""

from .image_metadata import embed_metadata, read_image_parameters
from .migrations import MIGRATIONS, applied_migrations, migrate
from .png_metadata import (
    JSON_KEY,
    PARAMETERS_KEY,
    RestoredParameters,
    a1111_parameters,
    a1111_sampler,
    embed_png_metadata,
    match_scheduler,
    read_png_parameters,
    to_png,
)
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
    "a1111_sampler",
    "applied_migrations",
    "embed_metadata",
    "embed_png_metadata",
    "match_scheduler",
    "migrate",
    "read_image_parameters",
    "read_png_parameters",
    "to_png",
]

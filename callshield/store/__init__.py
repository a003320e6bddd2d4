"""The SQLite store (sqlite-utils, WAL): calls, lists, audit log, schema migrations."""

from callshield.store.db import open_store, SCHEMA_VERSION

__all__ = ["open_store", "SCHEMA_VERSION"]

"""A small bounded, thread-safe cache for compiled access and the facts it is built from.

Keys carry the tenant's ``config_version`` and ``security_version``, which every
operation reads from the tenant row first: a publish, a role change, a share or
a unit move committed by any process bumps one of them, so the next operation
anywhere misses the cache and compiles afresh. Nothing is ever invalidated by
message; stale entries simply stop being asked for and age out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class BoundedCache(Generic[V]):
    """A dict with a size bound: when full, the older half is dropped (insertion order)."""

    def __init__(self, max_entries: int = 4096):
        self.max_entries = max_entries
        self._entries: dict[Hashable, V] = {}
        self._lock = threading.Lock()

    def get_or_build(self, key: Hashable, build: Callable[[], V]) -> V:
        """The cached value of `key`, built (outside the lock) and stored when missing."""
        value = self._entries.get(key)
        if value is not None:
            return value
        value = build()
        with self._lock:
            if len(self._entries) >= self.max_entries:
                for old in list(self._entries)[: self.max_entries // 2]:
                    del self._entries[old]
            self._entries[key] = value
        return value

    def clear(self) -> None:
        """Forget everything (tests; a process that wants a cold start)."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

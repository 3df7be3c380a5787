"""The in-process bus on which the record service announces committed changes.

Later features (ownership rules, workflows) subscribe here instead of editing the
record service. Events are published only after the transaction that made the
change has committed; a failing handler is logged and never undoes or breaks the
write that caused it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

logger = logging.getLogger(__name__)

EventKind = Literal["created", "updated", "deleted", "restored"]
EVENT_KINDS: tuple[EventKind, ...] = ("created", "updated", "deleted", "restored")


@dataclass(frozen=True)
class RecordEvent:
    """One committed change of one record.

    `changed` names the fields (and system columns such as ``owning_unit_id``)
    whose value changed; for ``created`` every field that was set. `actor_id` is
    None for the system principal.
    """

    kind: EventKind
    tenant_id: int
    entity: str
    record_id: int
    changed: tuple[str, ...]
    actor_id: int | None


Handler = Callable[[RecordEvent], None]


class EventBus:
    """Synchronous publish/subscribe of `RecordEvent`s within one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handlers: tuple[tuple[EventKind | None, Handler], ...] = ()

    def subscribe(self, kind: EventKind | None, handler: Handler) -> Callable[[], None]:
        """Call `handler` for every event of `kind` (None: every kind); returns an unsubscriber."""
        if kind is not None and kind not in EVENT_KINDS:
            raise ValueError(
                f"unknown record event kind {kind!r}; use one of {', '.join(EVENT_KINDS)} or None"
            )
        entry = (kind, handler)
        with self._lock:
            self._handlers = (*self._handlers, entry)

        def unsubscribe() -> None:
            with self._lock:
                self._handlers = tuple(h for h in self._handlers if h is not entry)

        return unsubscribe

    def wants(self, kind: EventKind) -> bool:
        """True when some handler listens to `kind` (lets bulk writers skip building events)."""
        return any(k is None or k == kind for k, _ in self._handlers)

    def publish(self, event: RecordEvent) -> None:
        """Deliver `event` to its handlers in subscription order; log and skip failing ones."""
        for kind, handler in self._handlers:
            if kind is not None and kind != event.kind:
                continue
            try:
                handler(event)
            except Exception:
                logger.exception(
                    "record event handler %r failed on %s %s %s; the change itself is committed",
                    handler,
                    event.kind,
                    event.entity,
                    event.record_id,
                )

    def publish_all(self, events: Iterable[RecordEvent]) -> None:
        """Publish several events in order."""
        for event in events:
            self.publish(event)

"""What a block of code sends to the database, for tests that pin statement counts and plans."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, event

TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK")
"""Statements that only open or end a transaction (SQLite's BEGIN is explicit here)."""


@dataclass(frozen=True)
class Sent:
    """One statement as the driver got it: its SQL text and parameters."""

    sql: str
    parameters: Any

    @property
    def controls_a_transaction(self) -> bool:
        return self.sql.lstrip().upper().startswith(TRANSACTION_CONTROL)


@contextmanager
def statements_sent(target: Engine | Connection) -> Iterator[list[Sent]]:
    """Every statement `target` sends to the driver inside the block, in order."""
    sent: list[Sent] = []

    def record(_conn: Any, _cursor: Any, sql: str, parameters: Any, *_rest: Any) -> None:
        sent.append(Sent(sql, parameters))

    event.listen(target, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(target, "before_cursor_execute", record)


def queries(sent: list[Sent]) -> list[str]:
    """The SQL of the statements that are not transaction control."""
    return [s.sql for s in sent if not s.controls_a_transaction]

"""Errors of the runtime: records not found, invalid values, stale versions, denied access."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crm_platform.errors import CrmPlatformError, ErrorCode, Problem


class RuntimeFailure(CrmPlatformError):
    """Root of the runtime package's errors."""


class RecordNotFound(RuntimeFailure):
    """The record does not exist for this principal.

    Raised alike for a missing record, one in another tenant and one outside the
    principal's read scope, so that existence never leaks.
    """

    code = ErrorCode.NOT_FOUND

    def __init__(self, entity: str, record_id: object):
        self.entity = entity
        self.record_id = record_id
        super().__init__(f"{entity} {record_id} was not found")


class RecordInvalid(RuntimeFailure):
    """Values failed validation; `errors` maps each field key to its messages."""

    code = ErrorCode.INVALID_RECORD

    def __init__(self, entity: str, errors: Mapping[str, Sequence[str]]):
        self.entity = entity
        self.errors: dict[str, list[str]] = {key: list(msgs) for key, msgs in errors.items()}
        detail = "; ".join(f"{key}: {' '.join(msgs)}" for key, msgs in self.errors.items())
        super().__init__(f"{entity} is invalid: {detail}")


class StaleVersion(RuntimeFailure):
    """The record changed since the caller read it; nothing was written."""

    code = ErrorCode.STALE_VERSION

    def __init__(self, entity: str, record_id: object, expected: int, current: Mapping[str, Any]):
        self.entity = entity
        self.record_id = record_id
        self.expected_version = expected
        self.current = dict(current)
        super().__init__(
            f"{entity} {record_id} was changed by someone else (you edited version {expected}, "
            f"it is now version {self.current.get('version')}); review their values and save again"
        )


class AccessDenied(RuntimeFailure):
    """The principal may see the record (or kind) but not do this to it."""

    code = ErrorCode.ACCESS_DENIED

    def __init__(self, entity: str, privilege: str, detail: str = ""):
        self.entity = entity
        self.privilege = privilege
        self.detail = detail
        super().__init__(f"you may not {privilege} {entity}" + (f": {detail}" if detail else ""))


class UnsafeMigration(RuntimeFailure):
    """Publishing would lose or break data; the rows that block it are listed."""

    code = ErrorCode.UNSAFE_MIGRATION

    def __init__(self, problems: Sequence[Problem]):
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            "publishing would lose data; map or fix these rows first "
            f"({len(self.problems)} problem(s)):\n{lines}"
        )


class InvalidOperation(RuntimeFailure):
    """A structural operation that would break an invariant (such as a cycle in the org tree)."""

    code = ErrorCode.INVALID_OPERATION

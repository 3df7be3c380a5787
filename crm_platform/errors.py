"""The root of the platform's exception hierarchy.

Every error the core raises on purpose derives from `CrmPlatformError`, carries
structured fields, and builds its message from them so a caller can both show it
to a person and act on it by code. HTTP status codes are the web layer's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    """Machine-readable reasons, stable across releases."""

    INVALID_CONFIGURATION = "invalid_configuration"
    INVALID_BUNDLE = "invalid_bundle"
    PUBLISH_CONFLICT = "publish_conflict"
    NOT_FOUND = "not_found"
    STALE_VERSION = "stale_version"
    INVALID_RECORD = "invalid_record"
    ACCESS_DENIED = "access_denied"
    UNSAFE_MIGRATION = "unsafe_migration"
    INVALID_OPERATION = "invalid_operation"


class CrmPlatformError(Exception):
    """Base class of every error the platform raises deliberately."""

    code: ErrorCode = ErrorCode.INVALID_OPERATION


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a configuration document.

    `pointer` is a JSON pointer into the document named by `document` (a bundle
    path such as ``layers/hq/entity/customer.json`` or ``entity/customer``);
    `code` is a stable dotted identifier such as ``schema.required`` or
    ``ref.unknown_field``; `message` tells an analyst what to change.
    """

    pointer: str
    code: str
    message: str
    document: str = ""

    def __str__(self) -> str:
        where = f"{self.document}#{self.pointer}" if self.document else self.pointer or "/"
        return f"{where}: {self.message} [{self.code}]"

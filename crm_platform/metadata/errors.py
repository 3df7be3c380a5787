"""Errors of the metadata layer: invalid configuration, invalid bundles, publish conflicts."""

from __future__ import annotations

from collections.abc import Iterable

from crm_platform.errors import CrmPlatformError, ErrorCode, Problem


class MetadataError(CrmPlatformError):
    """Root of the metadata package's errors."""


class ConfigurationInvalid(MetadataError):
    """A configuration (document, layer, effective result) has problems; all are listed."""

    code = ErrorCode.INVALID_CONFIGURATION

    def __init__(self, problems: Iterable[Problem], summary: str = "the configuration is invalid"):
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.summary = summary
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"{summary} ({len(self.problems)} problem(s)):\n{lines}")


class BundleInvalid(ConfigurationInvalid):
    """A configuration bundle on disk cannot be imported; nothing was changed."""

    code = ErrorCode.INVALID_BUNDLE


class PublishConflict(MetadataError):
    """Someone else published the layer since this draft was based on it."""

    code = ErrorCode.PUBLISH_CONFLICT

    def __init__(self, layer: str, expected_version: int, current_version: int):
        self.layer = layer
        self.expected_version = expected_version
        self.current_version = current_version
        super().__init__(
            f"layer {layer!r} was published as version {current_version} while your draft "
            f"was based on version {expected_version}; reload the draft, review the other "
            "change, and publish again"
        )


class UnknownTenant(MetadataError):
    """No tenant has this key."""

    code = ErrorCode.NOT_FOUND

    def __init__(self, tenant_key: str):
        self.tenant_key = tenant_key
        super().__init__(
            f"there is no tenant {tenant_key!r}; create it with `crm-platform tenant create`"
        )


class UnknownUnit(MetadataError):
    """No org unit has this key in the tenant."""

    code = ErrorCode.NOT_FOUND

    def __init__(self, tenant_key: str, unit_key: str):
        self.tenant_key = tenant_key
        self.unit_key = unit_key
        super().__init__(f"tenant {tenant_key!r} has no org unit {unit_key!r}")

"""Who is acting: a signed-in user at a unit, or the audited system principal.

The principal is always passed explicitly into the core; nothing reads it from a
global or a request.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RoleGrant:
    """One role assignment: `role` held at `unit_id` (unit-relative levels count from there)."""

    role: str
    unit_id: int


@dataclass(frozen=True)
class Principal:
    """The acting party of one call into the record service.

    `unit_id` is the unit the user works in (their unit context): it decides which
    configuration layer's forms and fields apply and the default owning unit of
    new records. `team_ids` are every unit the user is a member of (primary unit
    and additional memberships); records owned by those teams count as "own".
    """

    tenant_id: int
    user_id: int | None
    unit_id: int | None
    locale: str = "en"
    assignments: tuple[RoleGrant, ...] = ()
    team_ids: tuple[int, ...] = ()
    system_reason: str | None = field(default=None)

    @property
    def is_system(self) -> bool:
        """True only for the principal that jobs use to bypass security (always audited)."""
        return self.system_reason is not None

    @classmethod
    def system(cls, tenant_id: int, reason: str, unit_id: int | None = None) -> Principal:
        """The principal of a background job; `reason` is written to the audit trail."""
        if not reason:
            raise ValueError("the system principal needs a reason; it is written to the audit log")
        return cls(tenant_id=tenant_id, user_id=None, unit_id=unit_id, system_reason=reason)

"""What every signed-in request reads first: its user and its tenant stamp, in one statement.

A page needs both before anything else: who is asking (the session's user, and
whether they are still active), and the tenant's versions with the unit they
work at, which key every cache the page consults. Read apart they were two
round trips on every request; the user row already joins the tenant, so the
versions and the unit come with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Integer, Table, and_, bindparam, func, select

from crm_platform.metadata.tables import OrgUnit, Tenant
from crm_platform.runtime.record_capabilities import TenantStamp
from crm_platform.runtime.record_reads import TENANT_STATE_COLUMNS, tenant_state_of
from crm_platform.runtime.users import USERS, SessionUser

_TENANTS: Table = Tenant.__table__  # type: ignore[assignment]
_UNITS: Table = OrgUnit.__table__  # type: ignore[assignment]

_SESSION_START = (
    select(
        USERS.c.id,
        USERS.c.email,
        USERS.c.display_name,
        USERS.c.locale,
        USERS.c.primary_unit_id,
        USERS.c.active,
        *TENANT_STATE_COLUMNS,
        _UNITS.c.id.label("unit_id"),
        _UNITS.c.key.label("unit_key"),
        _UNITS.c.path.label("unit_path"),
    )
    .select_from(
        USERS.join(_TENANTS, _TENANTS.c.id == USERS.c.tenant_id).outerjoin(
            _UNITS,
            and_(
                _UNITS.c.id
                == func.coalesce(bindparam("unit_id", type_=Integer), USERS.c.primary_unit_id),
                _UNITS.c.tenant_id == USERS.c.tenant_id,
            ),
        )
    )
    .where(USERS.c.id == bindparam("user_id"), USERS.c.tenant_id == bindparam("tenant_id"))
)
"""Built once: the statement runs on every request, and building a select costs more than
running it on these small indexed tables."""


@dataclass(frozen=True)
class SessionStart:
    """The session's user and, when the unit asked for is one of the tenant's, the stamp there.

    `stamp` is None when that unit is gone (merged away, dropped) or another
    tenant's: the caller decides where the user works instead.
    """

    user: SessionUser
    stamp: TenantStamp | None


def read_session(
    connection: Connection, tenant_id: int, user_id: int, unit_id: int | None
) -> SessionStart | None:
    """User `user_id` of `tenant_id` with the tenant's stamp at `unit_id` (else the primary unit).

    None when the user or the tenant is gone. Inactive users are returned too
    (``user.active`` false): the caller decides what an inactive account may do.
    """
    row = connection.execute(
        _SESSION_START, {"user_id": user_id, "tenant_id": tenant_id, "unit_id": unit_id}
    ).first()
    if row is None:
        return None
    user = SessionUser(
        id=row.id,
        tenant_id=row.tenant_id,
        tenant_key=row.tenant_key,
        email=row.email,
        display_name=row.display_name,
        locale=row.locale,
        primary_unit_id=row.primary_unit_id,
        active=row.active,
    )
    stamp = None
    if row.unit_id is not None:
        stamp = TenantStamp(tenant_state_of(row), row.unit_id, row.unit_key, row.unit_path)
    return SessionStart(user, stamp)

"""Users, their unit memberships and unit-bound role assignments; building a `Principal`.

Role assignments are bound to a unit (a matrix: "BU head" in one business unit,
"sales rep" in a subsidiary of another). This module stores them; the security
layer enforces them and caches compiled access on `Tenant.security_version`,
which every role or membership change here bumps.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Connection, Table, bindparam, case, delete, insert, or_, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from crm_platform.metadata.tables import OrgUnit, Tenant
from crm_platform.runtime.errors import InvalidOperation, RecordInvalid, RecordNotFound
from crm_platform.runtime.principal import Principal, RoleGrant
from crm_platform.runtime.search_text import (
    LIKE_ESCAPE,
    SEARCH_LIMIT,
    checked_search_text,
    contains_pattern,
    prefix_pattern,
)
from crm_platform.runtime.tables import RoleAssignment, UnitMembership, User
from crm_platform.runtime.tenants import bump_security_version

if TYPE_CHECKING:
    from crm_platform.metadata.model import Configuration

USERS: Table = User.__table__  # type: ignore[assignment]
MEMBERSHIPS: Table = UnitMembership.__table__  # type: ignore[assignment]
ASSIGNMENTS: Table = RoleAssignment.__table__  # type: ignore[assignment]
_UNITS: Table = OrgUnit.__table__  # type: ignore[assignment]
_TENANTS: Table = Tenant.__table__  # type: ignore[assignment]

PASSWORD_HASH_METHOD = "scrypt"  # noqa: S105 - the name of a hash method, not a password
"""werkzeug's hash method spec; tests may set a cheaper one (``pbkdf2:sha256:1000``)."""
MIN_PASSWORD_LENGTH = 8
SUPPORTED_LOCALES: tuple[str, ...] = ("en", "zh-Hans", "zh-Hant")
"""The languages a user may choose (the UI's catalogs and the metadata's label keys)."""
# Checked when the email is unknown so that a failed sign-in costs the same either way
# and its timing does not reveal which accounts exist; one per method, made on first use.
_DUMMY_HASHES: dict[str, str] = {}
_NAMES_PER_QUERY = 500  # well under every database's limit of bound parameters
# Statements run on every request, built once: constructing a select costs more than
# running it on a small indexed table, and a reused statement keeps its cache key.
_DISPLAY_NAMES = select(USERS.c.id, USERS.c.display_name).where(
    USERS.c.tenant_id == bindparam("tenant_id"), USERS.c.id.in_(bindparam("ids", expanding=True))
)


class UserIdentity(Protocol):
    """What building a principal needs of a user: a `User` row or a `SessionUser`."""

    @property
    def id(self) -> int: ...

    @property
    def tenant_id(self) -> int: ...

    @property
    def locale(self) -> str: ...

    @property
    def primary_unit_id(self) -> int: ...


@dataclass(frozen=True)
class SessionUser:
    """A user as a signed-in session needs them, with their tenant's key, read in one row.

    The web layer loads it on every request, so it is a plain value from one
    Core statement rather than ORM objects of the user and the tenant.
    """

    id: int
    tenant_id: int
    tenant_key: str
    email: str
    display_name: str
    locale: str
    primary_unit_id: int
    active: bool


def normalise_email(email: str) -> str:
    """Emails are unique per tenant regardless of case, so they are stored lower-cased."""
    return email.strip().lower()


def user_from_row(row: Any) -> User:
    """A detached `User` value built from a Core row of the users table."""
    return User(**dict(row._mapping))


def create_user(
    connection: Connection,
    tenant_id: int,
    email: str,
    display_name: str,
    password: str,
    primary_unit_id: int,
    locale: str = "zh-Hans",
    manager_id: int | None = None,
) -> User:
    """Create a user of the tenant; every invalid value is reported at once, keyed by field."""
    email = normalise_email(email)
    errors: dict[str, list[str]] = {}
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        errors.setdefault("email", []).append(f"{email!r} is not an email address.")
    elif _user_id_by_email(connection, tenant_id, email) is not None:
        errors.setdefault("email", []).append(
            f"{email} is already used by another user of this tenant; choose another email."
        )
    if not display_name.strip():
        errors.setdefault("display_name", []).append("Enter a display name.")
    errors.update(_password_errors(password))
    if not _unit_in_tenant(connection, tenant_id, primary_unit_id):
        errors.setdefault("primary_unit_id", []).append(
            f"org unit {primary_unit_id} does not exist in this tenant."
        )
    if manager_id is not None and _tenant_of_user(connection, manager_id) != tenant_id:
        errors.setdefault("manager_id", []).append(
            f"user {manager_id} does not exist in this tenant."
        )
    if errors:
        raise RecordInvalid("user", errors)
    row = connection.execute(
        insert(USERS)
        .values(
            tenant_id=tenant_id,
            email=email,
            display_name=display_name.strip(),
            password_hash=_hash(password),
            primary_unit_id=primary_unit_id,
            manager_id=manager_id,
            active=True,
            locale=locale,
            created_at=datetime.now(UTC),
        )
        .returning(*USERS.c)
    ).one()
    return user_from_row(row)


def get_user(connection: Connection, tenant_id: int, user_id: int) -> User:
    """The user with this id in this tenant; a user of another tenant is "not found"."""
    row = connection.execute(
        select(USERS).where(USERS.c.id == user_id, USERS.c.tenant_id == tenant_id)
    ).first()
    if row is None:
        raise RecordNotFound("user", user_id)
    return user_from_row(row)


def find_user_by_email(connection: Connection, tenant_id: int, email: str) -> User | None:
    """The user with this email (any case) in this tenant, or None."""
    row = connection.execute(
        select(USERS).where(USERS.c.tenant_id == tenant_id, USERS.c.email == normalise_email(email))
    ).first()
    return None if row is None else user_from_row(row)


def authenticate(connection: Connection, tenant_id: int, email: str, password: str) -> User | None:
    """The active user whose email and password match, or None.

    A dummy hash is checked when no such user exists so that the answer takes
    about as long for an unknown email as for a wrong password.
    """
    user = find_user_by_email(connection, tenant_id, email)
    if user is None:
        check_password_hash(_dummy_hash(), password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    return user


def set_password(connection: Connection, user_id: int, password: str) -> None:
    """Replace a user's password (hashed with werkzeug's default method)."""
    errors = _password_errors(password)
    if errors:
        raise RecordInvalid("user", errors)
    result = connection.execute(
        update(USERS).where(USERS.c.id == user_id).values(password_hash=_hash(password))
    )
    if result.rowcount == 0:
        raise RecordNotFound("user", user_id)


def set_active(connection: Connection, user_id: int, active: bool) -> None:
    """Activate or deactivate a user; an inactive user cannot sign in."""
    tenant_id = _require_tenant_of_user(connection, user_id)
    connection.execute(update(USERS).where(USERS.c.id == user_id).values(active=active))
    bump_security_version(connection, tenant_id)


def set_locale(connection: Connection, user_id: int, locale: str) -> None:
    """Store the language a user chose, so every later sign-in starts in it."""
    if locale not in SUPPORTED_LOCALES:
        raise RecordInvalid(
            "user",
            {
                "locale": [
                    f"{locale!r} is not a supported language; "
                    f"choose one of {', '.join(SUPPORTED_LOCALES)}."
                ]
            },
        )
    result = connection.execute(update(USERS).where(USERS.c.id == user_id).values(locale=locale))
    if result.rowcount == 0:
        raise RecordNotFound("user", user_id)


def add_membership(connection: Connection, user_id: int, unit_id: int) -> None:
    """Make the user a member of another unit (a team, a second department); idempotent."""
    tenant_id = _require_tenant_of_user(connection, user_id)
    _require_unit_in_tenant(connection, tenant_id, unit_id)
    exists = connection.execute(
        select(MEMBERSHIPS.c.user_id).where(
            MEMBERSHIPS.c.user_id == user_id, MEMBERSHIPS.c.unit_id == unit_id
        )
    ).first()
    if exists is None:
        connection.execute(
            insert(MEMBERSHIPS).values(user_id=user_id, unit_id=unit_id, tenant_id=tenant_id)
        )
        bump_security_version(connection, tenant_id)


def remove_membership(connection: Connection, user_id: int, unit_id: int) -> None:
    """End the user's membership of a unit (not their primary unit); idempotent."""
    tenant_id = _require_tenant_of_user(connection, user_id)
    result = connection.execute(
        delete(MEMBERSHIPS).where(
            MEMBERSHIPS.c.user_id == user_id, MEMBERSHIPS.c.unit_id == unit_id
        )
    )
    if result.rowcount:
        bump_security_version(connection, tenant_id)


def memberships(connection: Connection, user_id: int) -> list[int]:
    """The ids of the units the user belongs to besides the primary one, ascending."""
    rows = connection.execute(
        select(MEMBERSHIPS.c.unit_id)
        .where(MEMBERSHIPS.c.user_id == user_id)
        .order_by(MEMBERSHIPS.c.unit_id)
    )
    return list(rows.scalars())


def assign_role(connection: Connection, user_id: int, role_key: str, unit_id: int) -> None:
    """Give the user a role at a unit; idempotent. The role key is checked by the security layer."""
    tenant_id = _require_tenant_of_user(connection, user_id)
    _require_unit_in_tenant(connection, tenant_id, unit_id)
    if not role_key:
        raise InvalidOperation("a role assignment needs a role key")
    exists = connection.execute(
        select(ASSIGNMENTS.c.id).where(
            ASSIGNMENTS.c.user_id == user_id,
            ASSIGNMENTS.c.role_key == role_key,
            ASSIGNMENTS.c.unit_id == unit_id,
        )
    ).first()
    if exists is None:
        connection.execute(
            insert(ASSIGNMENTS).values(
                tenant_id=tenant_id, user_id=user_id, role_key=role_key, unit_id=unit_id
            )
        )
        bump_security_version(connection, tenant_id)


def revoke_role(connection: Connection, user_id: int, role_key: str, unit_id: int) -> None:
    """Take a role at a unit away from the user; idempotent."""
    tenant_id = _require_tenant_of_user(connection, user_id)
    result = connection.execute(
        delete(ASSIGNMENTS).where(
            ASSIGNMENTS.c.user_id == user_id,
            ASSIGNMENTS.c.role_key == role_key,
            ASSIGNMENTS.c.unit_id == unit_id,
        )
    )
    if result.rowcount:
        bump_security_version(connection, tenant_id)


def role_assignments(connection: Connection, user_id: int) -> list[RoleGrant]:
    """The user's role assignments, ordered by role then unit."""
    rows = connection.execute(
        select(ASSIGNMENTS.c.role_key, ASSIGNMENTS.c.unit_id)
        .where(ASSIGNMENTS.c.user_id == user_id)
        .order_by(ASSIGNMENTS.c.role_key, ASSIGNMENTS.c.unit_id)
    )
    return [RoleGrant(role=role, unit_id=unit) for role, unit in rows]


def may_administer(connection: Connection, user_id: int, configuration: Configuration) -> bool:
    """Does the active user hold, at the tenant's root unit, a role marked ``administer``?

    Administration (the designer, the organisation) reaches the whole tenant, so
    the role must be held at the root: the same role held at a branch does not
    make its holder an administrator. The roles come from `configuration`, the
    tenant's configuration at the root.
    """
    administering = [key for key, role in configuration.roles.items() if role.administer]
    if not administering:
        return False
    found = connection.execute(
        select(ASSIGNMENTS.c.role_key)
        .join(USERS, USERS.c.id == ASSIGNMENTS.c.user_id)
        .join(_UNITS, _UNITS.c.id == ASSIGNMENTS.c.unit_id)
        .where(
            ASSIGNMENTS.c.user_id == user_id,
            ASSIGNMENTS.c.role_key.in_(administering),
            USERS.c.active.is_(True),
            _UNITS.c.tenant_id == USERS.c.tenant_id,
            _UNITS.c.parent_id.is_(None),
        )
        .limit(1)
    ).first()
    return found is not None


def display_names(
    connection: Connection, tenant_id: int, user_ids: Iterable[int]
) -> dict[int, str]:
    """The display names of the users of this tenant among `user_ids`, in one query per 500 ids.

    For pages that name many users at once (a list's owners); ids of unknown
    users, or of another tenant's, are simply absent from the result.
    """
    wanted = sorted(set(user_ids))
    names: dict[int, str] = {}
    for start in range(0, len(wanted), _NAMES_PER_QUERY):
        chunk = wanted[start : start + _NAMES_PER_QUERY]
        rows = connection.execute(_DISPLAY_NAMES, {"tenant_id": tenant_id, "ids": chunk})
        names.update((user_id, name) for user_id, name in rows)
    return names


@dataclass(frozen=True)
class UserMatch:
    """A user a picker offers: the id it stores, the name it shows, the email for namesakes."""

    id: int
    display_name: str
    email: str


def search_users(
    connection: Connection, tenant_id: int, query: str, limit: int = SEARCH_LIMIT
) -> list[UserMatch]:
    """Active users of the tenant whose name or email contains `query` (any case), for a picker.

    Names and emails starting with the text come first, then by name; an empty
    `query` lists the first users by name. The tenant condition lets the database
    reach the tenant's rows through the (tenant, email) unique index instead of
    every tenant's users; text that may occur anywhere in a name cannot use a
    b-tree index, and `limit` bounds what is sorted and returned. Deactivated
    users are not offered: they can no longer sign in or take on work.
    """
    text = checked_search_text(query, limit)
    conditions = [USERS.c.tenant_id == tenant_id, USERS.c.active.is_(True)]
    order: list[Any] = []
    if text:
        # Emails are stored lower-cased, so a lower-cased pattern matches them in any case.
        anywhere, start = contains_pattern(text), prefix_pattern(text)
        conditions.append(
            or_(
                USERS.c.display_name.ilike(anywhere, escape=LIKE_ESCAPE),
                USERS.c.email.like(anywhere.lower(), escape=LIKE_ESCAPE),
            )
        )
        starts = or_(
            USERS.c.display_name.ilike(start, escape=LIKE_ESCAPE),
            USERS.c.email.like(start.lower(), escape=LIKE_ESCAPE),
        )
        order.append(case((starts, 0), else_=1))
    rows = connection.execute(
        select(USERS.c.id, USERS.c.display_name, USERS.c.email)
        .where(*conditions)
        .order_by(*order, USERS.c.display_name, USERS.c.id)
        .limit(limit)
    )
    return [UserMatch(row.id, row.display_name, row.email) for row in rows]


def principal_for(
    connection: Connection, user_id: int, unit_id: int | None = None, locale: str | None = None
) -> Principal:
    """The principal of a signed-in user working at `unit_id` (default: their primary unit)."""
    row = connection.execute(select(USERS).where(USERS.c.id == user_id)).first()
    if row is None:
        raise RecordNotFound("user", user_id)
    return principal_of(connection, user_from_row(row), unit_id, locale)


def principal_of(
    connection: Connection,
    user: UserIdentity,
    unit_id: int | None = None,
    locale: str | None = None,
) -> Principal:
    """The principal of a user already read (as `principal_for`, without reading the user again)."""
    if unit_id is not None:
        _require_unit_in_tenant(connection, user.tenant_id, unit_id)
    teams = [user.primary_unit_id, *memberships(connection, user.id)]
    return Principal(
        tenant_id=user.tenant_id,
        user_id=user.id,
        unit_id=user.primary_unit_id if unit_id is None else unit_id,
        locale=locale or user.locale,
        assignments=tuple(role_assignments(connection, user.id)),
        team_ids=tuple(dict.fromkeys(teams)),
    )


def _hash(password: str) -> str:
    return generate_password_hash(password, method=PASSWORD_HASH_METHOD)


def _dummy_hash() -> str:
    method = PASSWORD_HASH_METHOD
    if method not in _DUMMY_HASHES:
        _DUMMY_HASHES[method] = generate_password_hash("timing equaliser", method=method)
    return _DUMMY_HASHES[method]


def _password_errors(password: str) -> dict[str, list[str]]:
    if len(password) < MIN_PASSWORD_LENGTH:
        return {"password": [f"Use at least {MIN_PASSWORD_LENGTH} characters."]}
    return {}


def _user_id_by_email(connection: Connection, tenant_id: int, email: str) -> int | None:
    return connection.execute(
        select(USERS.c.id).where(USERS.c.tenant_id == tenant_id, USERS.c.email == email)
    ).scalar()


def _unit_in_tenant(connection: Connection, tenant_id: int, unit_id: int) -> bool:
    found = connection.execute(
        select(_UNITS.c.id).where(_UNITS.c.id == unit_id, _UNITS.c.tenant_id == tenant_id)
    ).first()
    return found is not None


def _require_unit_in_tenant(connection: Connection, tenant_id: int, unit_id: int) -> None:
    if not _unit_in_tenant(connection, tenant_id, unit_id):
        raise RecordNotFound("org_unit", unit_id)


def _tenant_of_user(connection: Connection, user_id: int) -> int | None:
    return connection.execute(select(USERS.c.tenant_id).where(USERS.c.id == user_id)).scalar()


def _require_tenant_of_user(connection: Connection, user_id: int) -> int:
    tenant_id = _tenant_of_user(connection, user_id)
    if tenant_id is None:
        raise RecordNotFound("user", user_id)
    return tenant_id

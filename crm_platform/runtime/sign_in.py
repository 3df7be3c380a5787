"""Sign-in throttling: too many failed attempts for one account from one address lock it out.

The state lives in the `sign_in_failures` table so every web worker enforces the
same lockout. An account is what was typed (tenant key and email), whether or
not it exists, so the lockout never tells an attacker which accounts are real.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Table, delete, insert, select

from crm_platform.metadata.errors import UnknownTenant
from crm_platform.runtime.errors import RuntimeFailure
from crm_platform.runtime.sign_in_tables import SignInFailure
from crm_platform.runtime.tables import User
from crm_platform.runtime.tenants import get_tenant
from crm_platform.runtime.users import authenticate

_failures: Table = SignInFailure.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class ThrottlePolicy:
    """`max_failures` failures within `window` lock the account out for `lockout`."""

    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(minutes=15)


DEFAULT_POLICY = ThrottlePolicy()


@dataclass(frozen=True)
class Attempt:
    """Who is trying to sign in: the organisation and email as typed, and the client address."""

    tenant_key: str
    email: str
    address: str

    @classmethod
    def of(cls, tenant_key: str, email: str, address: str | None) -> Attempt:
        """Normalise what was typed: ` Li@Acme.cn` and `li@acme.cn` are one account."""
        return cls(
            tenant_key=tenant_key.strip().lower()[:63],
            email=email.strip().casefold()[:255],
            address=(address or "unknown")[:64],
        )


class SignInLocked(RuntimeFailure):
    """Too many failed attempts: this account may not sign in from this address until `until`."""

    def __init__(self, until: datetime):
        self.until = until
        super().__init__(
            "too many failed sign-in attempts for this account from your address; "
            f"try again after {until:%H:%M} UTC"
        )


def sign_in(
    connection: Connection,
    attempt: Attempt,
    password: str,
    now: datetime | None = None,
    policy: ThrottlePolicy = DEFAULT_POLICY,
) -> User | None:
    """The user these credentials belong to, or None; raises `SignInLocked` while locked out.

    An unknown organisation, an unknown email, a wrong password and an inactive
    account all answer None and count as one failure, so the caller's message
    (and the lockout) cannot tell them apart. The caller commits, failure or not.
    """
    check_not_locked(connection, attempt, now, policy)
    try:
        tenant_id = get_tenant(connection, attempt.tenant_key).id
    except UnknownTenant:
        # No tenant has id 0; authenticating against it still checks a dummy hash,
        # so an unknown organisation costs as much time as a wrong password.
        tenant_id = 0
    user = authenticate(connection, tenant_id, attempt.email, password)
    if user is None:
        record_failure(connection, attempt, now, policy)
        return None
    clear_failures(connection, attempt)
    return user


def locked_until(
    connection: Connection,
    attempt: Attempt,
    now: datetime | None = None,
    policy: ThrottlePolicy = DEFAULT_POLICY,
) -> datetime | None:
    """When the lockout of this account from this address ends, or None if it is not locked.

    A lockout starts at the failure that completes `max_failures` within `window`
    and lasts `lockout` from there, however the older failures age afterwards.
    """
    now = _utc(now)
    horizon = now - policy.window - policy.lockout
    times = [
        _utc(at)
        for at in connection.execute(
            select(_failures.c.at)
            .where(
                _failures.c.tenant_key == attempt.tenant_key,
                _failures.c.email == attempt.email,
                _failures.c.address == attempt.address,
                _failures.c.at > horizon,
            )
            .order_by(_failures.c.at)
        ).scalars()
    ]
    until: datetime | None = None
    for index in range(policy.max_failures - 1, len(times)):
        first, last = times[index - policy.max_failures + 1], times[index]
        if last - first <= policy.window:
            until = max(until or last, last + policy.lockout)
    return until if until is not None and until > now else None


def check_not_locked(
    connection: Connection,
    attempt: Attempt,
    now: datetime | None = None,
    policy: ThrottlePolicy = DEFAULT_POLICY,
) -> None:
    """Raise `SignInLocked` if this account may not try to sign in from this address now."""
    until = locked_until(connection, attempt, now, policy)
    if until is not None:
        raise SignInLocked(until)


def record_failure(
    connection: Connection,
    attempt: Attempt,
    now: datetime | None = None,
    policy: ThrottlePolicy = DEFAULT_POLICY,
) -> None:
    """Count one failed attempt, and forget this account's attempts too old to matter."""
    now = _utc(now)
    connection.execute(
        delete(_failures).where(
            _failures.c.tenant_key == attempt.tenant_key,
            _failures.c.email == attempt.email,
            _failures.c.at <= now - policy.window - policy.lockout,
        )
    )
    connection.execute(
        insert(_failures).values(
            tenant_key=attempt.tenant_key, email=attempt.email, address=attempt.address, at=now
        )
    )


def clear_failures(connection: Connection, attempt: Attempt) -> None:
    """Forget the failed attempts from this address after a successful sign-in."""
    connection.execute(
        delete(_failures).where(
            _failures.c.tenant_key == attempt.tenant_key,
            _failures.c.email == attempt.email,
            _failures.c.address == attempt.address,
        )
    )


def _utc(moment: datetime | None) -> datetime:
    # SQLite hands back naive datetimes; everything here is stored in UTC.
    if moment is None:
        return datetime.now(UTC)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

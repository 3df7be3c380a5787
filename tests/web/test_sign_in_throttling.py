"""Sign-in throttling: five failures in fifteen minutes lock an account out for fifteen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from crm_platform.runtime.sign_in import (
    Attempt,
    SignInLocked,
    check_not_locked,
    locked_until,
    record_failure,
    sign_in,
)
from crm_platform.runtime.sign_in_tables import SignInFailure
from tests.web.conftest import PASSWORD, Org

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
ATTEMPT = Attempt.of("acme", "Rep.A@acme.cn ", "192.0.2.1")


def _fail(engine: Engine, attempt: Attempt, *minutes: float) -> None:
    with engine.begin() as connection:
        for minute in minutes:
            record_failure(connection, attempt, T0 + timedelta(minutes=minute))


def test_attempt_normalises_what_was_typed() -> None:
    assert ATTEMPT == Attempt("acme", "rep.a@acme.cn", "192.0.2.1")


def test_four_failures_do_not_lock(web_engine: Engine) -> None:
    _fail(web_engine, ATTEMPT, 0, 1, 2, 3)
    with web_engine.connect() as connection:
        assert locked_until(connection, ATTEMPT, T0 + timedelta(minutes=4)) is None


def test_fifth_failure_within_window_locks_for_fifteen_minutes(web_engine: Engine) -> None:
    _fail(web_engine, ATTEMPT, 0, 1, 2, 3, 10)
    with web_engine.connect() as connection:
        until = locked_until(connection, ATTEMPT, T0 + timedelta(minutes=11))
        assert until == T0 + timedelta(minutes=25)
        # Older failures leave the window, but the lockout runs its full fifteen minutes.
        assert locked_until(connection, ATTEMPT, T0 + timedelta(minutes=20)) == until
        assert locked_until(connection, ATTEMPT, T0 + timedelta(minutes=25, seconds=1)) is None
        with pytest.raises(SignInLocked) as caught:
            check_not_locked(connection, ATTEMPT, T0 + timedelta(minutes=12))
    assert caught.value.until == until


def test_failures_spread_over_more_than_the_window_do_not_lock(web_engine: Engine) -> None:
    _fail(web_engine, ATTEMPT, 0, 4, 8, 12, 16)
    with web_engine.connect() as connection:
        assert locked_until(connection, ATTEMPT, T0 + timedelta(minutes=16)) is None


def test_lockout_is_per_address_and_per_account(web_engine: Engine) -> None:
    _fail(web_engine, ATTEMPT, 0, 1, 2, 3, 4)
    other_address = Attempt.of("acme", "rep.a@acme.cn", "192.0.2.99")
    other_account = Attempt.of("acme", "rep.b@acme.cn", "192.0.2.1")
    with web_engine.connect() as connection:
        now = T0 + timedelta(minutes=5)
        assert locked_until(connection, ATTEMPT, now) is not None
        assert locked_until(connection, other_address, now) is None
        assert locked_until(connection, other_account, now) is None


def test_sign_in_counts_unknown_accounts_like_wrong_passwords(
    web_engine: Engine, acme: Org
) -> None:
    ghost = Attempt.of("acme", "nobody@acme.cn", "192.0.2.1")
    unknown_org = Attempt.of("nope", "rep.a@acme.cn", "192.0.2.1")
    with web_engine.begin() as connection:
        assert sign_in(connection, unknown_org, PASSWORD, T0) is None
        for minute in range(5):
            assert sign_in(connection, ghost, PASSWORD, T0 + timedelta(minutes=minute)) is None
        with pytest.raises(SignInLocked):
            sign_in(connection, ghost, PASSWORD, T0 + timedelta(minutes=6))
        assert locked_until(connection, unknown_org, T0) is None
        assert len(list(connection.execute(select(SignInFailure.__table__)))) == 6


def test_correct_password_is_refused_while_locked_and_accepted_after(
    web_engine: Engine, acme: Org
) -> None:
    with web_engine.begin() as connection:
        for minute in range(5):
            assert sign_in(connection, ATTEMPT, "wrong", T0 + timedelta(minutes=minute)) is None
        with pytest.raises(SignInLocked):
            sign_in(connection, ATTEMPT, PASSWORD, T0 + timedelta(minutes=10))
        user = sign_in(connection, ATTEMPT, PASSWORD, T0 + timedelta(minutes=20))
        assert user is not None and user.email == "rep.a@acme.cn"
        # A success forgets the failures: one more mistake does not lock again.
        assert sign_in(connection, ATTEMPT, "wrong", T0 + timedelta(minutes=21)) is None
        assert locked_until(connection, ATTEMPT, T0 + timedelta(minutes=21)) is None

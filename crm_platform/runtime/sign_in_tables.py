"""The platform table of failed sign-in attempts, which sign-in throttling counts.

Kept in the database rather than in process memory so that every web worker
sees the same attempts and a lockout holds whichever worker serves the next try.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from crm_platform.db import Base


class SignInFailure(Base):
    """One failed sign-in for an account (tenant key and email as typed) from one address.

    The account is named by what was typed, not by a user id, so that an attempt
    on an email that does not exist is counted exactly like one on an email that
    does, and the lockout reveals nothing about which accounts exist.
    """

    __tablename__ = "sign_in_failures"
    __table_args__ = (Index("ix_sign_in_failures_account", "tenant_key", "email", "address", "at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    tenant_key: Mapped[str] = mapped_column(String(63))
    email: Mapped[str] = mapped_column(String(255))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

"""Fixtures of the security tests: one published world per database and test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.runtime.security.world import (
    DATABASES,
    SecurityWorld,
    build_security_world,
    open_engine,
)


@pytest.fixture(scope="module", params=DATABASES)
def world(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[SecurityWorld]:
    """The security world with `BASE_DOCUMENTS` (or the module's ``DOCUMENTS``)."""
    documents = getattr(request.module, "DOCUMENTS", None)
    for engine in open_engine(request, tmp_path_factory, "security"):
        yield build_security_world(engine, documents)

"""The isolation oracle: random worlds through the record service agree with `oracle.Oracle`.

Each example is a random org tree (up to six levels), roles with random levels,
field profiles, sharing and restriction rules, users with random unit-bound
assignments and memberships, records and shares; list, count, get, update,
delete and export must agree with the plain-Python oracle record by record and
field by field. ``make soak`` (bench/soak_isolation.py) runs 10,000 of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_platform.db import create_platform_tables, make_engine
from tests.runtime.security.isolation import Harness, check, generate, harness
from tests.runtime.security.world import DATABASES

T = TypeVar("T")

# PostgreSQL's round trips make an example about four times dearer than SQLite's.
EXAMPLES = {"sqlite": 100, "postgres": 25}


class DrawChooser:
    """Choices drawn from hypothesis, so a disagreement shrinks to a small world."""

    def __init__(self, data: st.DataObject):
        self.data = data

    def integer(self, low: int, high: int) -> int:
        return self.data.draw(st.integers(low, high))

    def choice(self, options: Sequence[T]) -> T:
        return self.data.draw(st.sampled_from(list(options)))

    def boolean(self) -> bool:
        return self.data.draw(st.booleans())


@pytest.fixture(scope="module", params=DATABASES)
def oracle_harness(request, tmp_path_factory) -> Iterator[tuple[str, Harness]]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('oracle') / 'oracle.sqlite3'}"
    else:
        from tests.conftest import _reset_postgres

        url = request.getfixturevalue("postgres_server_url")
        _reset_postgres(url)
    engine = make_engine(url)
    create_platform_tables(engine)
    yield request.param, harness(engine)
    engine.dispose()


def test_record_service_agrees_with_the_oracle_on_random_worlds(oracle_harness):
    name, h = oracle_harness

    @settings(
        max_examples=EXAMPLES[name],
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.data())
    def agree(data: st.DataObject) -> None:
        scenario = generate(DrawChooser(data))
        problems = check(h, scenario, writes_per_user=1)
        assert problems == [], "\n".join(problems[:20])

    agree()

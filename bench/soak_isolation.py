"""The isolation soak: 10,000 random security worlds checked against the oracle.

``make soak`` runs ``python -m bench.soak_isolation``. Each scenario (seeded, so
any disagreement can be replayed with ``--seed N --examples 1``) is a random
org tree of up to six levels with roles, field profiles, sharing and
restriction rules, users, records and shares; list, count, get, update, delete
and export through the record service under `RolePolicy` are compared with the
plain-Python oracle (tests/runtime/security/oracle.py). Unlike the hypothesis
test in ``make test`` it does not stop at the first disagreement: it counts them
all and exits non-zero if there was any.

SQLite by default (a fresh file every ``--batch`` scenarios, so the schema of
thousands of tenants never slows it down); ``--database-url`` for PostgreSQL.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

from crm_platform.db import create_platform_tables, make_engine


@contextmanager
def _database(url: str | None, workdir: Path, batch: int) -> Iterator[Engine]:
    """A fresh database: a SQLite file, or a new PostgreSQL database dropped afterwards."""
    if url is None:
        engine = make_engine(f"sqlite:///{workdir / f'soak_{batch}.sqlite3'}")
        create_platform_tables(engine)
        try:
            yield engine
        finally:
            engine.dispose()
        return
    name = f"soak_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(url.rsplit("/", 1)[0] + "/" + name)
    create_platform_tables(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def soak(
    examples: int, seed: int, url: str | None, batch: int, writes_per_user: int, quiet: bool
) -> int:
    """Run the scenarios; print a report; return how many disagreed."""
    from tests.runtime.security.isolation import RandomChooser, check, generate, harness

    failures: list[tuple[int, list[str]]] = []
    errors: list[tuple[int, str]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        done = 0
        while done < examples:
            with _database(url, Path(tmp), done // batch) as engine:
                h = harness(engine)
                for _ in range(min(batch, examples - done)):
                    scenario_seed = seed + done
                    done += 1
                    try:
                        problems = check(
                            h,
                            generate(RandomChooser(scenario_seed)),
                            writes_per_user=writes_per_user,
                        )
                    except Exception as exc:  # noqa: BLE001 - a crash is a finding, not the end
                        errors.append((scenario_seed, f"{type(exc).__name__}: {exc}"))
                        continue
                    if problems:
                        failures.append((scenario_seed, problems))
            if not quiet:
                elapsed = time.perf_counter() - started
                print(
                    f"{done:>6} scenarios, {len(failures)} disagreeing, {len(errors)} crashed, "
                    f"{elapsed:.0f} s",
                    flush=True,
                )
    elapsed = time.perf_counter() - started
    print()
    print(f"isolation soak: {done} scenarios in {elapsed:.0f} s ({done / elapsed:.1f}/s)")
    print(f"  disagreements with the oracle: {len(failures)}")
    print(f"  scenarios that crashed:        {len(errors)}")
    for scenario_seed, problems in failures[:10]:
        print(f"  seed {scenario_seed}: " + "; ".join(problems[:3]))
    for scenario_seed, error in errors[:10]:
        print(f"  seed {scenario_seed} crashed: {error[:300]}")
    if failures or errors:
        print("replay one with: python -m bench.soak_isolation --examples 1 --seed <seed>")
    return len(failures) + len(errors)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point (``make soak``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0, help="seed of the first scenario")
    parser.add_argument(
        "--database-url", default=None, help="PostgreSQL admin URL (default: SQLite)"
    )
    parser.add_argument("--batch", type=int, default=500, help="scenarios per fresh database")
    parser.add_argument("--writes-per-user", type=int, default=2)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    bad = soak(
        args.examples, args.seed, args.database_url, args.batch, args.writes_per_user, args.quiet
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

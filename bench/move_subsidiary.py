"""Moving a subsidiary (~57,000 customers) to another business unit, and every scope right after.

``python -m bench.move_subsidiary --db URL`` moves the subsidiary scope of the
bench tenant under another business unit with `runtime.org.move_unit` in one
transaction (closure rows across the move, paths and depths of the moved units,
an audit entry), then, right after the COMMIT, checks through the record
service that every scoped query already answers for the new tree: the
subsidiary keeps its customers, the old business unit lost exactly them, the new
one gained exactly them, the group still sees all, and the first pages of both
business units equal the hand-written statement's. Then it moves the subsidiary
back (also timed), leaving the tenant as it was. Target (issue 3): under 2 s.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text

from bench.common import (
    ENTITY,
    UNITS,
    Bench,
    find_scopes,
    header,
    open_bench,
    parse_args,
    stopwatch,
    table,
    verdict,
)
from crm_platform.runtime.org import move_unit

TARGET_S = 2.0


def _counts(bench: Bench, users: dict[str, int]) -> dict[str, int]:
    """Exact customer counts as each named user sees them, through the record service."""
    return {
        name: bench.service.count(bench.principal(user), ENTITY, cap=None).value
        for name, user in users.items()
    }


def _first_page_matches(bench: Bench, user_id: int, unit_id: int) -> bool:
    """The service's first page for the user equals the closure statement's for the unit."""
    tbl = bench.table()
    name = f'"{tbl.schema}"."{tbl.name}"' if tbl.schema else f'"{tbl.name}"'
    sql = text(
        f"SELECT id FROM {name} WHERE deleted_at IS NULL AND owning_unit_id IN "
        "(SELECT descendant_id FROM org_unit_closure WHERE ancestor_id = :unit) "
        "ORDER BY updated_at DESC, id DESC LIMIT 50"
    )
    with bench.engine.connect() as connection:
        expected = list(connection.execute(sql, {"unit": unit_id}).scalars())
    page = bench.service.list(bench.principal(user_id), ENTITY, page_size=50)
    return [row["id"] for row in page.rows] == expected


def run(url: str) -> list[list[Any]]:
    """Move the subsidiary away and back; print and return the table rows."""
    bench = open_bench(url)
    header("Move a subsidiary to another business unit", bench)
    scopes = find_scopes(bench)
    subsidiary = scopes["subsidiary"]
    with bench.engine.connect() as connection:
        old_bu = connection.execute(
            select(UNITS.c.parent_id).where(UNITS.c.id == subsidiary.unit_id)
        ).scalar_one()
        bus = connection.execute(
            select(UNITS.c.id, UNITS.c.head_user_id)
            .where(
                UNITS.c.tenant_id == bench.tenant.id,
                UNITS.c.kind == "business_unit",
                UNITS.c.key.startswith("g_"),
            )
            .order_by(UNITS.c.id)
        ).all()
    heads = {row.id: row.head_user_id for row in bus}
    new_bu = next(row.id for row in bus if row.id != old_bu)
    users = {
        "subsidiary": subsidiary.user_id,
        "old business unit": heads[old_bu],
        "new business unit": heads[new_bu],
        "group": scopes["tenant"].user_id,
    }
    before = _counts(bench, users)
    moved = before["subsidiary"]
    rows: list[list[Any]] = []
    for label, target in (("away", new_bu), ("back", old_bu)):
        with stopwatch() as elapsed, bench.engine.begin() as connection:
            move_unit(connection, bench.tenant.id, subsidiary.unit_id, target)
        after = _counts(bench, users)
        sign = 1 if label == "away" else 0
        expected = {
            "subsidiary": moved,
            "old business unit": before["old business unit"] - moved * sign,
            "new business unit": before["new business unit"] + moved * sign,
            "group": before["group"],
        }
        pages_ok = _first_page_matches(
            bench, users["old business unit"], old_bu
        ) and _first_page_matches(bench, users["new business unit"], new_bu)
        correct = after == expected and pages_ok
        rows.append(
            [
                f"{subsidiary.unit_key} {label} ({moved:,} customers)",
                elapsed[0],
                "yes" if correct else f"NO: {after} != {expected}, pages {pages_ok}",
                verdict(elapsed[0] < TARGET_S and correct) + f" (< {TARGET_S:.0f} s)",
            ]
        )
    table(["move", "seconds", "every scope correct right after COMMIT", "target"], rows)
    return rows


def main() -> None:
    """Command line entry point (see the module docstring)."""
    args = parse_args(__doc__.splitlines()[0])
    run(args.db)


if __name__ == "__main__":
    main()

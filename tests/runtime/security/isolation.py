"""Random security scenarios, built in a database and checked against the oracle.

Used by the hypothesis test (a few hundred examples in ``make test``) and by
``bench/soak_isolation.py`` (10,000, counting disagreements). A `Chooser` hides
where the randomness comes from: hypothesis draws (which shrink) or a seeded
`random.Random` (which the soak can run without stopping at the first failure).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy import Engine, insert

import tests.runtime.records_world  # noqa: F401 - installs the values stand-in until values.py lands
from crm_platform.metadata.store import MetadataStore
from crm_platform.runtime import users as users_module
from crm_platform.runtime.access import RolePolicy
from crm_platform.runtime.entity_tables import EntityTables
from crm_platform.runtime.errors import AccessDenied, RecordInvalid, RecordNotFound
from crm_platform.runtime.events import EventBus
from crm_platform.runtime.org import create_unit
from crm_platform.runtime.principal import Principal
from crm_platform.runtime.records import RecordService
from crm_platform.runtime.sharing import insert_share
from crm_platform.runtime.tables import User as UserRow
from crm_platform.runtime.tenants import create_tenant
from tests.runtime.security.oracle import (
    Condition,
    Oracle,
    Record,
    Restriction,
    Scenario,
    Share,
    SharingRule,
    Unit,
    User,
)
from tests.runtime.security.world import ACCOUNT, _create_tables, label

T = TypeVar("T")

LEVELS = ("none", "own", "unit", "unit_and_below", "tenant")
PRIVILEGES = ("create", "read", "update", "delete", "assign", "share", "export")
KINDS = ("group", "business_unit", "subsidiary", "branch", "department", "team")
FIELD_TYPES = {
    "name": "text",
    "tier": "choice",
    "secret": "text",
    "mobile": "phone",
    "email": "email",
}
NAMES = ("张三丰", "李四", "王小明", "Ann", "欧阳娜娜")
MAX_DEPTH = 5  # depths 0..5: six levels


class Chooser(Protocol):
    """Where a scenario's choices come from."""

    def integer(self, low: int, high: int) -> int: ...

    def choice(self, options: Sequence[T]) -> T: ...

    def boolean(self) -> bool: ...


class RandomChooser:
    """Choices from a seeded `random.Random` (the soak)."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def integer(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def choice(self, options: Sequence[T]) -> T:
        return self.rng.choice(list(options))

    def boolean(self) -> bool:
        return self.rng.random() < 0.5


def generate(choose: Chooser) -> Scenario:
    """A random scenario: a tree of up to 6 levels, roles, profiles, rules, users, records."""
    units = [Unit("u0", None, "group")]
    depth = {"u0": 0}
    for i in range(1, choose.integer(2, 8)):
        parent = choose.choice([u.key for u in units if depth[u.key] < MAX_DEPTH])
        key = f"u{i}"
        units.append(Unit(key, parent, choose.choice(KINDS[1:])))
        depth[key] = depth[parent] + 1
    unit_keys = [u.key for u in units]
    roles = {
        f"r{i}": {p: choose.choice(LEVELS) for p in PRIVILEGES} for i in range(choose.integer(1, 3))
    }
    role_keys = sorted(roles)
    profiles: dict[str, dict[str, str]] = {}
    for role in role_keys:
        if choose.boolean():
            fields = {}
            for key in FIELD_TYPES:
                if choose.boolean():
                    levels = ("hidden", "read", "edit") if key == "tier" else (
                        "hidden", "masked", "read", "edit"
                    )  # fmt: skip
                    fields[key] = choose.choice(levels)
            if fields:
                profiles[role] = fields

    def condition() -> Condition:
        if choose.boolean():
            return Condition("tier", choose.choice(("a", "b")))
        return Condition("secret", "classified")

    sharing_rules = [
        SharingRule(
            f"s{i}",
            condition(),
            choose.choice(unit_keys),
            choose.boolean(),
            choose.choice(("read", "edit")),
        )
        for i in range(choose.integer(0, 2))
    ]
    restrictions = []
    for i in range(choose.integer(0, 2)):
        rule_roles = tuple(r for r in role_keys if choose.integer(0, 3) == 0)
        rule_units = tuple(
            (choose.choice(unit_keys), choose.boolean()) for _ in range(choose.integer(0, 2))
        )
        if not rule_roles and not rule_units:
            rule_roles = (role_keys[0],)
        restrictions.append(Restriction(f"x{i}", condition(), rule_roles, rule_units))
    users = []
    for i in range(choose.integer(1, 4)):
        primary = choose.choice(unit_keys)
        memberships = tuple(
            sorted({choose.choice(unit_keys) for _ in range(choose.integer(0, 2))} - {primary})
        )
        assignments = tuple(
            sorted({(choose.choice(role_keys), choose.choice(unit_keys)) for _ in range(
                choose.integer(0, 3)
            )})
        )  # fmt: skip
        context = choose.choice(unit_keys) if choose.integer(0, 3) == 0 else None
        users.append(User(f"p{i}", primary, memberships, assignments, context))
    user_names = [u.name for u in users]
    records = []
    for i in range(choose.integer(0, 10)):
        values = {
            "name": choose.choice(NAMES),
            "tier": choose.choice(("a", "b", None)),
            "secret": choose.choice(("classified", "open", None)),
            "mobile": f"+86138{i:08d}",
            "email": f"z{i}.wei@example.com",
        }
        owner = choose.choice([*user_names, None])
        records.append(Record(i, choose.choice(unit_keys), owner, values))
    shares = []
    if records:
        for _ in range(choose.integer(0, 4)):
            target_type = choose.choice(("user", "team", "unit", "unit_subtree"))
            target = choose.choice(user_names if target_type == "user" else unit_keys)
            shares.append(
                Share(
                    choose.integer(0, len(records) - 1),
                    target_type,
                    target,
                    choose.choice(("read", "edit")),
                    choose.integer(0, 4) == 0,
                )
            )
    return Scenario(units, roles, profiles, sharing_rules, restrictions, users, records, shares)


# -- building a scenario in the database -----------------------------------------------------------


@dataclass
class Harness:
    """One engine's store and record service (with the real policy), reused by every scenario."""

    engine: Engine
    store: MetadataStore
    service: RecordService
    serial: itertools.count[int]


def harness(engine: Engine) -> Harness:
    """A harness on an engine whose platform tables exist."""
    store = MetadataStore(engine, hooks=[_create_tables])
    service = RecordService(engine, store, EntityTables(store), RolePolicy(), EventBus())
    return Harness(engine, store, service, itertools.count(1))


def documents(scenario: Scenario) -> list[dict[str, Any]]:
    """The configuration of a scenario: the account entity, roles, profiles and rules."""
    docs: list[dict[str, Any]] = [ACCOUNT]
    for key, levels in scenario.roles.items():
        docs.append({"kind": "role", "key": key, "label": label(key), "privileges": {
            "account": dict(levels)
        }})  # fmt: skip
    for role, fields in scenario.profiles.items():
        docs.append(
            {
                "kind": "field_security",
                "key": f"fs_{role}",
                "role": role,
                "entity": "account",
                "fields": dict(fields),
            }
        )
    for rule in scenario.sharing_rules:
        docs.append(
            {
                "kind": "sharing_rule",
                "key": rule.key,
                "label": label(rule.key),
                "entity": "account",
                "condition": rule.condition.document(),
                "target": {"unit": rule.unit, "include_subtree": rule.subtree},
                "access": rule.access,
            }
        )
    for restriction in scenario.restrictions:
        applies: dict[str, Any] = {}
        if restriction.roles:
            applies["roles"] = list(restriction.roles)
        if restriction.units:
            applies["units"] = [
                {"unit": unit, "include_subtree": subtree} for unit, subtree in restriction.units
            ]
        docs.append(
            {
                "kind": "restriction_rule",
                "key": restriction.key,
                "label": label(restriction.key),
                "entity": "account",
                "condition": restriction.condition.document(),
                "applies_to": applies,
            }
        )
    return docs


@dataclass
class Built:
    """A scenario in the database: record ids by index, principals by user name."""

    record_ids: dict[int, int]
    principals: dict[str, Principal]
    system: Principal
    unit_ids: dict[str, int]


def build(h: Harness, scenario: Scenario) -> Built:
    """Create the scenario's tenant, tree, configuration, users, records and shares."""
    tenant = create_tenant(h.engine, f"iso{next(h.serial)}", {"en": "Isolation"})
    units: dict[str, int] = {}
    users: dict[str, int] = {}
    with h.engine.begin() as connection:
        for unit in scenario.units:
            parent = None if unit.parent is None else units[unit.parent]
            units[unit.key] = create_unit(
                connection, tenant.id, unit.key, label(unit.key), unit.kind, parent, kinds=KINDS
            ).id
    h.store.publish(tenant.key, None, "oracle", documents=documents(scenario))
    with h.engine.begin() as connection:
        for user in scenario.users:
            user_id = connection.execute(
                insert(UserRow.__table__)
                .values(
                    tenant_id=tenant.id,
                    email=f"{user.name}@example.com",
                    display_name=user.name,
                    password_hash="!",
                    primary_unit_id=units[user.primary],
                    locale="en",
                    created_at=datetime.now(UTC),
                )
                .returning(UserRow.__table__.c.id)
            ).scalar_one()
            users[user.name] = user_id
            for role, unit in user.assignments:
                users_module.assign_role(connection, user_id, role, units[unit])
            for unit in user.memberships:
                users_module.add_membership(connection, user_id, units[unit])
    system = Principal.system(tenant.id, "isolation oracle")
    rows = [
        {
            **record.values,
            "owning_unit_id": units[record.unit],
            "owner_user_id": None if record.owner is None else users[record.owner],
        }
        for record in scenario.records
    ]
    ids = h.service.bulk_create(system, "account", rows).ids if rows else []
    record_ids = dict(enumerate(ids))
    past = datetime.now(UTC) - timedelta(days=1)
    with h.engine.begin() as connection:
        for share in scenario.shares:
            target = users[share.target] if share.target_type == "user" else units[share.target]
            insert_share(
                connection,
                tenant.id,
                "account",
                record_ids[share.record],
                share.target_type,
                target,
                share.access,
                shared_by=None,
                expires_at=past if share.expired else None,
            )
        principals = {
            user.name: users_module.principal_for(
                connection,
                users[user.name],
                unit_id=None if user.context is None else units[user.context],
                locale="en",
            )
            for user in scenario.users
        }
    return Built(record_ids, principals, system, units)


# -- comparing -------------------------------------------------------------------------------------


def _fields(record: dict[str, Any]) -> dict[str, Any]:
    return {key: record[key] for key in FIELD_TYPES if key in record}


def _outcome(run: Any) -> str:
    try:
        run()
    except RecordNotFound:
        return "not_found"
    except AccessDenied:
        return "denied"
    except RecordInvalid:
        return "invalid"
    return "ok"


def check(h: Harness, scenario: Scenario, writes_per_user: int = 2) -> list[str]:
    """Build the scenario and compare the service with the oracle; every disagreement found."""
    built = build(h, scenario)
    oracle = Oracle(scenario)
    service = h.service
    problems: list[str] = []
    by_id = {built.record_ids[r.index]: r for r in scenario.records}

    def expect(condition: bool, what: str) -> None:
        if not condition:
            problems.append(what)

    for user in scenario.users:
        principal = built.principals[user.name]
        readable = {rid for rid, r in by_id.items() if oracle.can(user.name, "read", r)}
        page = service.list(principal, "account", page_size=50)
        listed = {row["id"]: row for row in page.rows}
        expect(set(listed) == readable, f"{user.name} list: {sorted(listed)} != {sorted(readable)}")
        for rid, row in listed.items():
            if rid in by_id:
                want = oracle.view(user.name, by_id[rid], FIELD_TYPES)
                expect(_fields(row) == want, f"{user.name} list fields of {rid}: {row} != {want}")
        count = service.count(principal, "account", cap=None).value
        expect(count == len(readable), f"{user.name} count {count} != {len(readable)}")
        exportable = {rid for rid, r in by_id.items() if oracle.can(user.name, "export", r)}
        exported = {row["id"]: row for row in service.export(principal, "account")}
        expect(set(exported) == exportable, f"{user.name} export {exported} != {exportable}")
        for rid, row in exported.items():
            if rid in by_id:
                want = oracle.view(user.name, by_id[rid], FIELD_TYPES)
                expect(_fields(row) == want, f"{user.name} export fields of {rid}: {row} != {want}")
        for rid, record in by_id.items():
            try:
                got = service.get(principal, "account", rid)
            except RecordNotFound:
                expect(rid not in readable, f"{user.name} get {rid}: not found, oracle reads it")
                continue
            expect(rid in readable, f"{user.name} get {rid}: served, oracle hides it")
            want = oracle.view(user.name, record, FIELD_TYPES)
            expect(_fields(got) == want, f"{user.name} get fields of {rid}: {got} != {want}")
        for rid, record in list(by_id.items())[:writes_per_user]:
            problems.extend(_check_update(h, built, oracle, user.name, rid, record))
            problems.extend(_check_delete(h, built, oracle, user.name, rid, record))
            problems.extend(_check_move(h, built, oracle, scenario, user.name, rid, record))
        problems.extend(_check_create(h, built, oracle, scenario, user.name))
    return problems


def _invalid_keys(run: Any) -> tuple[str, frozenset[str]]:
    try:
        run()
    except RecordNotFound:
        return "not_found", frozenset()
    except AccessDenied:
        return "denied", frozenset()
    except RecordInvalid as exc:
        return "invalid", frozenset(exc.errors) & {"owning_unit_id", "name"}
    return "ok", frozenset()


def _check_create(
    h: Harness, built: Built, oracle: Oracle, scenario: Scenario, user: str
) -> list[str]:
    """Create in each unit: refused outside the create scope, or when `name` is not editable."""
    problems = []
    principal = built.principals[user]
    # the root, the deepest-created unit and one between: enough to cross every level's edge
    units = scenario.units
    for unit in dict.fromkeys([units[0], units[len(units) // 2], units[-1]]):
        unit_id = built.unit_ids[unit.key]
        bad = set()
        if not oracle.unit_scope(user, "create", unit.key):
            bad.add("owning_unit_id")
        if oracle.field_level(user, "name") != "edit":
            bad.add("name")
        expected = ("invalid", frozenset(bad)) if bad else ("ok", frozenset())
        created: list[dict[str, Any]] = []
        got = _invalid_keys(
            lambda unit_id=unit_id, created=created: created.append(
                h.service.create(principal, "account", {"name": "新", "owning_unit_id": unit_id})
            )
        )
        for record in created:
            h.service.delete(built.system, "account", record["id"])
        if got != expected:
            problems.append(f"{user} create in {unit.key}: service {got}, oracle {expected}")
    return problems


def _check_move(
    h: Harness,
    built: Built,
    oracle: Oracle,
    scenario: Scenario,
    user: str,
    rid: int,
    record: Record,
) -> list[str]:
    """Move the record to the first unit: assign there, and update scope before and after."""
    target = scenario.units[0].key
    if target == record.unit:
        target = scenario.units[-1].key
    if target == record.unit:
        return []
    moved = Record(record.index, target, record.owner, record.values)
    expected: tuple[str, frozenset[str]]
    if not oracle.can(user, "read", record):
        expected = ("not_found", frozenset())
    elif not oracle.can(user, "update", record):
        expected = ("denied", frozenset())
    elif not oracle.unit_scope(user, "assign", target):
        expected = ("invalid", frozenset({"owning_unit_id"}))
    elif not oracle.can(user, "update", moved):
        expected = ("denied", frozenset())
    else:
        expected = ("ok", frozenset())
    version = h.service.get(built.system, "account", rid)["version"]
    change = {"owning_unit_id": built.unit_ids[target]}
    got = _invalid_keys(
        lambda: h.service.update(built.principals[user], "account", rid, change, version)
    )
    if got[0] == "ok":
        back = {"owning_unit_id": built.unit_ids[record.unit]}
        h.service.update(built.system, "account", rid, back, version + 1)
    if got != expected:
        return [f"{user} move {rid} to {target}: service {got}, oracle {expected}"]
    return []


def _expected_write(oracle: Oracle, user: str, privilege: str, record: Record) -> str:
    if not oracle.can(user, "read", record):
        return "not_found"
    if not oracle.can(user, privilege, record):
        return "denied"
    return "ok"


def _check_update(
    h: Harness, built: Built, oracle: Oracle, user: str, rid: int, record: Record
) -> list[str]:
    principal = built.principals[user]
    version = h.service.get(built.system, "account", rid)["version"]
    new_name = record.values["name"] + "改"
    expected = _expected_write(oracle, user, "update", record)
    if expected == "ok" and oracle.field_level(user, "name") != "edit":
        expected = "invalid"
    got = _outcome(lambda: h.service.update(principal, "account", rid, {"name": new_name}, version))
    if got == "ok":
        record.values["name"] = new_name
    if got != expected:
        return [f"{user} update {rid}: service {got}, oracle {expected}"]
    return []


def _check_delete(
    h: Harness, built: Built, oracle: Oracle, user: str, rid: int, record: Record
) -> list[str]:
    principal = built.principals[user]
    expected = _expected_write(oracle, user, "delete", record)
    got = _outcome(lambda: h.service.delete(principal, "account", rid))
    if got == "ok":
        h.service.restore(built.system, "account", rid)
    if got != expected:
        return [f"{user} delete {rid}: service {got}, oracle {expected}"]
    return []

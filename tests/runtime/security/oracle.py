"""A deliberately simple reference implementation of the security model: plain Python, no SQL.

It reads the model from issue 4 literally, over in-memory data, so that the
isolation test can compare it with what `RolePolicy` compiles into SQL, record
by record and field by field. Nothing here imports the code under test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LEVEL_ORDER = ("none", "own", "unit", "unit_and_below", "tenant")
FIELD_ORDER = ("hidden", "masked", "read", "edit")
SHARE_GIVES = {"read": {"read", "export"}, "edit": {"read", "export", "update"}}


@dataclass(frozen=True)
class Unit:
    key: str
    parent: str | None
    kind: str


@dataclass(frozen=True)
class User:
    name: str
    primary: str
    memberships: tuple[str, ...] = ()
    assignments: tuple[tuple[str, str], ...] = ()  # (role, unit key)
    context: str | None = None  # the unit worked in; None: the primary unit


@dataclass(frozen=True)
class Record:
    index: int
    unit: str
    owner: str | None
    values: dict[str, Any] = field(hash=False)


@dataclass(frozen=True)
class Share:
    record: int
    target_type: str  # user | team | unit | unit_subtree
    target: str  # a user name or a unit key
    access: str
    expired: bool = False


@dataclass(frozen=True)
class Condition:
    field: str
    value: Any

    def matches(self, record: Record) -> bool:
        return record.values.get(self.field) == self.value

    def document(self) -> dict[str, Any]:
        return {"field": self.field, "op": "eq", "value": self.value}


@dataclass(frozen=True)
class SharingRule:
    key: str
    condition: Condition
    unit: str
    subtree: bool
    access: str


@dataclass(frozen=True)
class Restriction:
    key: str
    condition: Condition
    roles: tuple[str, ...] = ()
    units: tuple[tuple[str, bool], ...] = ()  # (unit key, include subtree)


@dataclass
class Scenario:
    """One random world: the tree, roles, profiles, rules, users, records and shares."""

    units: list[Unit]
    roles: dict[str, dict[str, str]]  # role -> privilege -> level (on accounts)
    profiles: dict[str, dict[str, str]]  # role -> field -> level
    sharing_rules: list[SharingRule]
    restrictions: list[Restriction]
    users: list[User]
    records: list[Record]
    shares: list[Share]


class Oracle:
    """Answers every access question of a `Scenario` by walking it."""

    def __init__(self, scenario: Scenario):
        self.s = scenario
        self.parent = {u.key: u.parent for u in scenario.units}
        self.kind = {u.key: u.kind for u in scenario.units}
        self.users = {u.name: u for u in scenario.users}

    # -- the tree and the user ----------------------------------------------------------------

    def is_below(self, unit: str, top: str) -> bool:
        """Is `unit` `top` itself or anywhere under it?"""
        current: str | None = unit
        while current is not None:
            if current == top:
                return True
            current = self.parent[current]
        return False

    def member_units(self, user: User) -> set[str]:
        return {user.primary, *user.memberships}

    def user_units(self, user: User) -> set[str]:
        return self.member_units(user) | {unit for _, unit in user.assignments}

    def held(self, user: User) -> list[tuple[str, str]]:
        return [(r, u) for r, u in user.assignments if r in self.s.roles]

    def level(self, user: User, privilege: str) -> str:
        levels = [self.s.roles[r].get(privilege, "none") for r, _ in self.held(user)]
        return max(levels, key=LEVEL_ORDER.index, default="none")

    # -- rows --------------------------------------------------------------------------------

    def role_covers(self, user: User, level: str, at: str, record: Record) -> bool:
        if level == "tenant":
            return True
        if level == "unit_and_below":
            return self.is_below(record.unit, at)
        if level == "unit":
            return record.unit == at
        if level == "own":
            if record.owner == user.name:
                return True
            teams = {u for u in self.member_units(user) if self.kind[u] == "team"}
            return record.unit in teams
        return False

    def share_reaches(self, user: User, share: Share) -> bool:
        if share.target_type == "user":
            return share.target == user.name
        if share.target_type == "team":
            return share.target in self.member_units(user)
        if share.target_type == "unit":
            return share.target in self.user_units(user)
        return any(self.is_below(u, share.target) for u in self.user_units(user))

    def restricted(self, user: User, record: Record) -> bool:
        roles = {r for r, _ in user.assignments}
        worked_in = {user.context or user.primary}
        mine = self.user_units(user) | worked_in
        for rule in self.s.restrictions:
            applies = bool(roles & set(rule.roles)) or any(
                any(self.is_below(u, unit) for u in mine) if subtree else unit in mine
                for unit, subtree in rule.units
            )
            if applies and rule.condition.matches(record):
                return True
        return False

    def can(self, user_name: str, privilege: str, record: Record) -> bool:  # noqa: PLR0911 - one return per rule, in the rules' order
        """Does the user hold `privilege` (read, update, delete, export) on the record?

        Every privilege but read needs read too: nobody acts on what they cannot see.
        """
        if privilege != "read" and not self.can(user_name, "read", record):
            return False
        user = self.users[user_name]
        if self.restricted(user, record):
            return False
        for role, at in self.held(user):
            level = self.s.roles[role].get(privilege, "none")
            if self.role_covers(user, level, at, record):
                return True
        if LEVEL_ORDER.index(self.level(user, privilege)) < LEVEL_ORDER.index("own"):
            return False
        for share in self.s.shares:
            if (
                share.record == record.index
                and not share.expired
                and privilege in SHARE_GIVES[share.access]
                and self.share_reaches(user, share)
            ):
                return True
        for rule in self.s.sharing_rules:
            reaches = any(
                self.is_below(u, rule.unit) if rule.subtree else u == rule.unit
                for u in self.user_units(user)
            )
            if reaches and privilege in SHARE_GIVES[rule.access] and rule.condition.matches(record):
                return True
        return False

    def unit_scope(self, user_name: str, privilege: str, unit: str) -> bool:
        """May the user create a record owned by `unit` (``create``) or move one there (``assign``)?

        Own covers the user's own units (as the record's owner); restrictions do not apply.
        """
        user = self.users[user_name]
        for role, at in self.held(user):
            level = self.s.roles[role].get(privilege, "none")
            if (
                level == "tenant"
                or (level == "unit_and_below" and self.is_below(unit, at))
                or (level == "unit" and unit == at)
                or (level == "own" and unit in self.user_units(user))
            ):
                return True
        return False

    # -- fields ------------------------------------------------------------------------------

    def field_level(self, user_name: str, field_key: str) -> str:
        user = self.users[user_name]
        held = sorted({r for r, _ in self.held(user)})
        granting = [r for r in held if any(level != "none" for level in self.s.roles[r].values())]
        counting = granting or held
        if not counting:
            return "edit"
        return max(
            (self.s.profiles.get(r, {}).get(field_key, "edit") for r in counting),
            key=FIELD_ORDER.index,
        )

    def view(self, user_name: str, record: Record, field_types: dict[str, str]) -> dict[str, Any]:
        """The fields of a record as the user sees them (hidden ones absent)."""
        shown: dict[str, Any] = {}
        for key, value in record.values.items():
            level = self.field_level(user_name, key)
            if level == "hidden":
                continue
            shown[key] = mask(field_types[key], value) if level == "masked" else value
        return shown


def mask(field_type: str, value: Any) -> Any:
    """Shape-keeping masks, written from the issue's examples."""
    if value is None:
        return None
    if field_type == "phone":
        prefix = "+86" if value.startswith("+86") else ""
        digits = value[len(prefix) :]
        return prefix + digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    if field_type == "email":
        local, _, domain = value.partition("@")
        return local[0] + "***@" + domain
    if field_type in ("text", "long_text"):
        return value[0] + "*" * max(len(value) - 1, 1)
    return None

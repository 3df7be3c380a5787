"""The security model, compiled into SQL at one point: `RolePolicy`.

For one user and entity, each privilege's rows are

    tenant boundary AND NOT (restriction rules that apply to the user)
    AND (role grants OR [shares OR sharing rules, where the roles give at least ``own``])
    AND (for every privilege but read and create) the rows of read

A privilege on a record the user cannot read is never usable (the record is
"not found" to them), so update, delete, assign, share and export imply read.

The tenant boundary is the tenant's own table namespace. Role grants come from
every role assignment (role at a unit) and add up; master entities are read at
tenant level by every user. The field set comes from the roles' field security
profiles. Compiling reads the user's assignments and memberships from the
database (never from the principal handed in, which a session may have kept
since sign-in), and the result is cached per (user, unit worked in, entity,
configuration version, security version), so a role change, share, unit move
or publish in any process takes effect on the next operation everywhere.

The record service applies the result (`RoleAccess`) generically; see `policy`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Table, and_, false, not_, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from crm_platform.metadata.conditions import ConditionContext, ConditionError, compile_condition
from crm_platform.runtime.access_cache import BoundedCache
from crm_platform.runtime.access_levels import (
    ALL_PRIVILEGES,
    LEVEL_CLAUSES,
    LEVEL_RANK,
    NO_FACTS,
    UNITS,
    SecurityFacts,
    load_facts,
    unit_covered,
    widest,
)
from crm_platform.runtime.errors import AccessDenied, RecordNotFound
from crm_platform.runtime.field_security import (
    FieldGrant,
    counting_roles,
    field_grants,
    restricted_levels,
)
from crm_platform.runtime.masking import mask_value
from crm_platform.runtime.policy import (
    EntityAccess,
    FieldLevel,
    Privilege,
    SystemPolicy,
    TenantState,
)
from crm_platform.runtime.principal import Principal, RoleGrant
from crm_platform.runtime.restrictions import restriction_reach
from crm_platform.runtime.sharing import (
    ACCESS_PRIVILEGES,
    Share,
    delete_share,
    get_share,
    insert_share,
    rule_reaches,
    share_clause,
)

if TYPE_CHECKING:
    from crm_platform.metadata.model import (
        Configuration,
        EntityDef,
        RestrictionRuleDef,
        SharingRuleDef,
    )
    from crm_platform.runtime.records import RecordService

__all__ = [
    "CompiledAccess",
    "RoleAccess",
    "RolePolicy",
    "SourcedClause",
    "revoke_share",
    "share_record",
]


@dataclass(frozen=True)
class SourcedClause:
    """One source of access (or of a restriction) and the rows it covers.

    `kind` is ``role``, ``master``, ``shares``, ``sharing_rule`` or
    ``restriction_rule``; `key` the role or rule key; `unit_id` the unit a role is
    held at; `level` the access level (role), share access or ``restricts``.
    """

    kind: str
    key: str
    unit_id: int | None
    level: str
    clause: ColumnElement[bool] = field(compare=False)
    detail: str = ""


@dataclass(frozen=True)
class CompiledAccess:
    """A user's effective access to one entity, free of any connection (cached)."""

    entity: str
    facts: SecurityFacts
    levels: Mapping[str, str]
    unit_grants: Mapping[str, Mapping[str, frozenset[int]]]
    grants: Mapping[str, tuple[SourcedClause, ...]]
    restrictions: tuple[SourcedClause, ...]
    predicates: Mapping[str, ColumnElement[bool]]
    field_grants: Mapping[str, FieldGrant]
    field_levels: Mapping[str, FieldLevel]
    mask_types: Mapping[str, str]


@dataclass(frozen=True)
class RoleAccess:
    """`CompiledAccess` bound to one operation's connection: the record service's `EntityAccess`."""

    connection: Connection
    compiled: CompiledAccess
    policy: RolePolicy | None = None
    tenant: TenantState | None = None
    principal: Principal | None = None
    config: Configuration | None = None

    @property
    def field_levels(self) -> Mapping[str, FieldLevel]:
        """Field key -> level for every field that is not plain ``edit``."""
        return self.compiled.field_levels

    def predicate(self, privilege: Privilege | str) -> ColumnElement[bool]:
        """The rows the user holds `privilege` on (any of the seven privileges)."""
        return self.compiled.predicates.get(privilege, false())

    def can_create_in(self, unit_id: int | None) -> bool:
        """Is `unit_id` inside the user's create scope?"""
        return unit_covered(
            self.connection, self.compiled.facts, self.compiled.unit_grants["create"], unit_id
        )

    def can_assign_to(self, unit_id: int | None) -> bool:
        """Is `unit_id` inside the user's assign scope (moving or re-owning a record there)?"""
        return unit_covered(
            self.connection, self.compiled.facts, self.compiled.unit_grants["assign"], unit_id
        )

    def reference_scope(self, entity_key: str, table: Table) -> ColumnElement[bool]:
        """The records of `entity_key` a reference field may name: those the user can read.

        Accepting a reference to a record the user cannot see (where a missing one
        is refused) would reveal that it exists.
        """
        if self.policy is None or self.tenant is None or self.principal is None:
            return false()
        if self.config is None or not self.config.has_entity(entity_key):
            return false()
        target = self.policy.compiled(
            self.connection,
            self.tenant,
            self.principal,
            self.config.entity(entity_key),
            table,
            self.config,
        )
        return target.predicates["read"]

    def mask(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """`row` with each masked field in its masked form (shape kept, amounts hidden)."""
        types = self.compiled.mask_types
        return {
            key: mask_value(types[key], value) if key in types else value
            for key, value in row.items()
        }


def _deny_all(entity: str, facts: SecurityFacts) -> CompiledAccess:
    nothing = MappingProxyType({p: false() for p in ALL_PRIVILEGES})
    return CompiledAccess(
        entity=entity,
        facts=facts,
        levels=MappingProxyType({p: "none" for p in ALL_PRIVILEGES}),
        unit_grants=MappingProxyType({p: MappingProxyType({}) for p in ALL_PRIVILEGES}),
        grants=MappingProxyType({p: () for p in ALL_PRIVILEGES}),
        restrictions=(),
        predicates=nothing,
        field_grants=MappingProxyType({}),
        field_levels=MappingProxyType({}),
        mask_types=MappingProxyType({}),
    )


def _condition_columns(table: Table, entity: EntityDef, dialect: str) -> tuple[Any, Any]:
    from crm_platform.runtime.record_checks import shape_of

    return shape_of(table, entity, dialect).condition_columns(frozenset())


class RolePolicy:
    """The `AccessPolicy` of the security model (module docstring); system principal audited."""

    def __init__(self, max_cached: int = 4096):
        self._system = SystemPolicy()
        self._compiled: BoundedCache[tuple[Table, EntityDef, CompiledAccess]] = BoundedCache(
            max_cached
        )
        self._facts: BoundedCache[SecurityFacts] = BoundedCache(max_cached)
        self._unit_ids: BoundedCache[Mapping[str, int]] = BoundedCache(256)

    def compile(
        self,
        connection: Connection,
        tenant: TenantState,
        principal: Principal,
        entity: EntityDef,
        table: Table,
        config: Configuration,
    ) -> EntityAccess:
        """The user's access to `entity`; the system principal's is full and audited."""
        if principal.is_system:
            return self._system.compile(connection, tenant, principal, entity, table, config)
        compiled = self.compiled(connection, tenant, principal, entity, table, config)
        return RoleAccess(connection, compiled, self, tenant, principal, config)

    # -- compiling -------------------------------------------------------------------------------

    def facts(
        self, connection: Connection, tenant: TenantState, principal: Principal
    ) -> SecurityFacts:
        """The user's security facts at the tenant's current security version (cached)."""
        if principal.user_id is None or principal.tenant_id != tenant.id:
            return NO_FACTS
        key = (
            tenant.id,
            tenant.created_at,
            tenant.security_version,
            principal.user_id,
            principal.unit_id,
        )
        user_id = principal.user_id
        return self._facts.get_or_build(
            key, lambda: load_facts(connection, tenant.id, user_id, principal.unit_id)
        )

    def unit_ids(self, connection: Connection, tenant: TenantState) -> Mapping[str, int]:
        """The tenant's unit keys -> ids (rules name units by key), cached per security version."""
        key = (tenant.id, tenant.created_at, tenant.security_version)

        def load() -> Mapping[str, int]:
            rows = connection.execute(
                select(UNITS.c.key, UNITS.c.id).where(UNITS.c.tenant_id == tenant.id)
            )
            return MappingProxyType({row.key: row.id for row in rows})

        return self._unit_ids.get_or_build(key, load)

    def compiled(
        self,
        connection: Connection,
        tenant: TenantState,
        principal: Principal,
        entity: EntityDef,
        table: Table,
        config: Configuration,
    ) -> CompiledAccess:
        """The cached `CompiledAccess` of a (non-system) principal."""
        today = datetime.now(UTC).date()
        key = (
            tenant.id,
            tenant.created_at,
            tenant.config_version,
            tenant.security_version,
            principal.user_id,
            principal.unit_id,
            entity.key,
            id(entity),
            id(table),
            id(config),
            today,
        )
        cached = self._compiled.get_or_build(
            key,
            lambda: (
                table,
                entity,
                self._compile(connection, tenant, principal, entity, table, config, today),
            ),
        )
        if cached[0] is table and cached[1] is entity:
            return cached[2]
        return self._compile(connection, tenant, principal, entity, table, config, today)

    def _compile(
        self,
        connection: Connection,
        tenant: TenantState,
        principal: Principal,
        entity: EntityDef,
        table: Table,
        config: Configuration,
        today: date,
    ) -> CompiledAccess:
        facts = self.facts(connection, tenant, principal)
        if not facts.active:
            return _deny_all(entity.key, facts)
        held = [g for g in facts.assignments if g.role in config.roles]
        rules = config.sharing_rules_for(entity.key)
        restriction_rules = config.restriction_rules_for(entity.key)
        unit_ids = (
            self.unit_ids(connection, tenant)
            if rules or restriction_rules
            else MappingProxyType({})
        )
        condition = _RuleConditions(
            table,
            entity,
            connection.dialect.name,
            ConditionContext(
                user_id=facts.user_id,
                unit_id=facts.context_unit,
                unit_ids=tuple(sorted(facts.memberships)),
                today=today,
            ),
        )
        restrictions = _restriction_clauses(restriction_rules, unit_ids, facts, condition)
        boundary = and_(*(not_(r.clause) for r in restrictions)) if restrictions else None

        levels: dict[str, str] = {}
        unit_grants: dict[str, Mapping[str, frozenset[int]]] = {}
        grants: dict[str, tuple[SourcedClause, ...]] = {}
        predicates: dict[str, ColumnElement[bool]] = {}
        reaching_rules = [rule for rule in rules if rule_reaches(rule, unit_ids, facts)]
        for privilege in ALL_PRIVILEGES:
            by_level, sources = _role_sources(config, held, entity, table, facts, privilege)
            level = widest(by_level)
            levels[privilege] = level
            unit_grants[privilege] = MappingProxyType(
                {lv: frozenset(units) for lv, units in by_level.items()}
            )
            if LEVEL_RANK[level] >= LEVEL_RANK["own"]:
                shared = share_clause(table, tenant.id, entity.key, facts, privilege)
                if shared is not None:
                    sources.append(SourcedClause("shares", entity.key, None, "share", shared))
                sources.extend(_rule_sources(reaching_rules, privilege, unit_ids, condition))
            grants[privilege] = tuple(sources)
            predicates[privilege] = _combine(table, facts, by_level, sources, boundary)
        # Nobody acts on a record they cannot see: every row privilege implies read.
        for privilege in ALL_PRIVILEGES:
            if privilege not in ("read", "create"):
                predicates[privilege] = _and_read(predicates[privilege], predicates["read"])

        roles = counting_roles(config, entity.key, (g.role for g in held))
        fgrants = field_grants(config, entity, roles)
        flevels: dict[str, FieldLevel] = restricted_levels(fgrants)  # type: ignore[assignment]
        types = {f.key: f.type for f in entity.fields}
        return CompiledAccess(
            entity=entity.key,
            facts=facts,
            levels=MappingProxyType(levels),
            unit_grants=MappingProxyType(unit_grants),
            grants=MappingProxyType(grants),
            restrictions=tuple(restrictions),
            predicates=MappingProxyType(predicates),
            field_grants=MappingProxyType(fgrants),
            field_levels=MappingProxyType(flevels),
            mask_types=MappingProxyType(
                {key: types[key] for key, level in flevels.items() if level == "masked"}
            ),
        )


class _RuleConditions:
    """Compiles sharing and restriction rules' conditions on one table for one principal.

    The table's condition columns are looked up on the first rule only: most
    entities have no rules, and their access compiles without them.
    """

    def __init__(self, table: Table, entity: EntityDef, dialect: str, context: ConditionContext):
        self._table = table
        self._entity = entity
        self._dialect = dialect
        self._context = context
        self._columns: tuple[Any, Any] | None = None

    def __call__(self, rule_condition: Any) -> ColumnElement[bool]:
        if self._columns is None:
            self._columns = _condition_columns(self._table, self._entity, self._dialect)
        return compile_condition(rule_condition, self._columns[0], self._columns[1], self._context)


def _restriction_clauses(
    restriction_rules: Sequence[RestrictionRuleDef],
    unit_ids: Mapping[str, int],
    facts: SecurityFacts,
    condition: _RuleConditions,
) -> list[SourcedClause]:
    """The restriction rules that reach the principal, each as the records it hides."""
    restrictions: list[SourcedClause] = []
    for restriction in restriction_rules:
        reach = restriction_reach(restriction, unit_ids, facts)
        if reach is None:
            continue
        try:
            clause = condition(restriction.condition)
        except ConditionError:
            # A rule that no longer compiles must fail closed: it hides every record.
            clause = true()
        restrictions.append(
            SourcedClause(
                "restriction_rule", restriction.key, None, "restricts", clause, reach.describe()
            )
        )
    return restrictions


def _role_sources(
    config: Configuration,
    held: Sequence[RoleGrant],
    entity: EntityDef,
    table: Table,
    facts: SecurityFacts,
    privilege: str,
) -> tuple[dict[str, set[int]], list[SourcedClause]]:
    """The units each level of `privilege` is held at, and the roles (and master data) giving it."""
    by_level: dict[str, set[int]] = {}
    sources: list[SourcedClause] = []
    for grant in held:
        level = config.roles[grant.role].level(entity.key, privilege)
        if level == "none":
            continue
        by_level.setdefault(level, set()).add(grant.unit_id)
        clause = LEVEL_CLAUSES[level](table, facts, (grant.unit_id,))
        sources.append(SourcedClause("role", grant.role, grant.unit_id, level, clause))
    if entity.ownership == "master" and privilege == "read":
        by_level.setdefault("tenant", set())
        sources.append(SourcedClause("master", entity.key, None, "tenant", true(), "master data"))
    return by_level, sources


def _rule_sources(
    reaching_rules: Sequence[SharingRuleDef],
    privilege: str,
    unit_ids: Mapping[str, int],
    condition: _RuleConditions,
) -> list[SourcedClause]:
    """The sharing rules reaching the principal that carry `privilege`; a broken rule gives none."""
    sources: list[SourcedClause] = []
    for rule in reaching_rules:
        if privilege not in ACCESS_PRIVILEGES[rule.access]:
            continue
        try:
            clause = condition(rule.condition)
        except ConditionError:
            continue
        sources.append(
            SourcedClause(
                "sharing_rule", rule.key, unit_ids.get(rule.target.unit), rule.access, clause
            )
        )
    return sources


def _and_read(own: ColumnElement[bool], read: ColumnElement[bool]) -> ColumnElement[bool]:
    """`own` AND `read`, without the noise of a constant side."""
    if own is false() or read is false():
        return false()
    if read is true():
        return own
    if own is true():
        return read
    return and_(own, read)


def _combine(
    table: Table,
    facts: SecurityFacts,
    by_level: Mapping[str, set[int]],
    sources: list[SourcedClause],
    boundary: ColumnElement[bool] | None,
) -> ColumnElement[bool]:
    """One predicate: each level's units merged (one subtree IN over every root), then ORed."""
    if "tenant" in by_level:
        granted: ColumnElement[bool] = true()
    else:
        parts = [
            LEVEL_CLAUSES[level](table, facts, units)
            for level, units in sorted(by_level.items(), key=lambda item: -LEVEL_RANK[item[0]])
        ]
        parts += [s.clause for s in sources if s.kind in ("shares", "sharing_rule")]
        if not parts:
            return false()
        granted = parts[0] if len(parts) == 1 else or_(*parts)
    if boundary is None:
        return granted
    return and_(boundary, granted)


# -- sharing, authorised ---------------------------------------------------------------------------


def _policy_of(service: RecordService) -> RolePolicy:
    policy = service.policy
    if isinstance(policy, RolePolicy):
        return policy
    raise TypeError("sharing and explaining need a RecordService built with a RolePolicy")


def _require_privilege(
    service: RecordService,
    connection: Connection,
    principal: Principal,
    entity_key: str,
    record_id: int,
    privilege: str,
) -> Any:
    """The operation context if the principal holds `privilege` on the record (else raise)."""
    ctx = service._context(connection, principal, entity_key)
    table = ctx.table
    if principal.is_system:
        return ctx
    compiled = _policy_of(service).compiled(
        connection, ctx.tenant, principal, ctx.entity, table, ctx.config
    )

    def holds(name: str) -> bool:
        found = connection.execute(
            select(table.c.id).where(
                table.c.id == record_id,
                table.c.deleted_at.is_(None),
                compiled.predicates[name],
            )
        ).first()
        return found is not None

    if holds(privilege):
        return ctx
    if holds("read"):
        raise AccessDenied(entity_key, privilege, f"record {record_id}")
    raise RecordNotFound(entity_key, record_id)


def share_record(
    service: RecordService,
    principal: Principal,
    entity_key: str,
    record_id: int,
    target_type: str,
    target_id: int,
    access: str,
    expires_at: datetime | None = None,
) -> Share:
    """Share a record the principal holds the share privilege on with a user, team or unit.

    `target_type` is ``user``, ``team``, ``unit`` or ``unit_subtree``; `access`
    ``read`` or ``edit``. Takes effect in every process at once (security version).
    """
    with service.engine.begin() as connection:
        ctx = _require_privilege(service, connection, principal, entity_key, record_id, "share")
        return insert_share(
            connection,
            ctx.tenant.id,
            entity_key,
            record_id,
            target_type,
            target_id,
            access,
            shared_by=principal.user_id,
            expires_at=expires_at,
        )


def revoke_share(
    service: RecordService, principal: Principal, entity_key: str, share_id: int
) -> Share:
    """Remove a share: its author, or anyone holding the share privilege on the record, may."""
    with service.engine.begin() as connection:
        share = get_share(connection, principal.tenant_id, entity_key, share_id)
        if principal.is_system or share.shared_by != principal.user_id:
            _require_privilege(service, connection, principal, entity_key, share.record_id, "share")
        return delete_share(connection, principal.tenant_id, entity_key, share_id)

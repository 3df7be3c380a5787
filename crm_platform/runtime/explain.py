"""Why a user may (or may not) do something with a record, and what they see of its fields.

`explain_access` answers, for each of the seven privileges, the level the
user's roles give, whether it covers the record, and every source that grants
or restricts it: each role at its unit, each share, each sharing rule, each
restriction rule. It runs the very clauses the record service enforces (one
query over the record, a column per source), so an explanation can never
disagree with what the user actually gets. `explain_fields` gives each field's
effective level with the roles and profiles it comes from. Both are for
administrators: authorising who may ask is the caller's job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, case, select

from crm_platform.runtime.access import CompiledAccess, RolePolicy, SourcedClause
from crm_platform.runtime.access_levels import ALL_PRIVILEGES, LEVEL_RANK, unit_covered
from crm_platform.runtime.errors import AccessDenied, RecordNotFound
from crm_platform.runtime.field_security import FieldGrant
from crm_platform.runtime.principal import Principal
from crm_platform.runtime.sharing import ACCESS_PRIVILEGES, Share, shares_reaching
from crm_platform.runtime.tenants import get_tenant_by_id
from crm_platform.runtime.users import get_user, may_administer, principal_of

if TYPE_CHECKING:
    from crm_platform.runtime.records import RecordService

__all__ = [
    "AccessExplanation",
    "AccessSource",
    "FieldExplanation",
    "PrivilegeExplanation",
    "RecordExplanation",
    "explain_access",
    "explain_fields",
    "explain_record",
]


@dataclass(frozen=True)
class AccessSource:
    """One thing that grants or restricts a privilege, and whether it reaches this record.

    `kind`: ``role`` (`key` held at `unit_key`, at `level`), ``master`` (master
    data is read tenant-wide), ``share`` (`key` is the share id, `level` its
    access), ``sharing_rule``, ``restriction_rule`` or ``system``. `applies` is
    True when the source covers the record (for a restriction: removes it).
    """

    kind: str
    key: str
    level: str
    applies: bool
    effect: str = "grants"
    unit_id: int | None = None
    unit_key: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class PrivilegeExplanation:
    """One privilege: the widest level the roles give, the answer, and every source."""

    privilege: str
    level: str
    granted: bool
    sources: tuple[AccessSource, ...]


@dataclass(frozen=True)
class AccessExplanation:
    """Every privilege of one user on one record."""

    entity: str
    record_id: int
    user_id: int | None
    privileges: Mapping[str, PrivilegeExplanation]

    def granted(self, privilege: str) -> bool:
        """Does the user hold `privilege` on the record?"""
        return self.privileges[privilege].granted


@dataclass(frozen=True)
class FieldExplanation:
    """Each field's effective level for one user and entity, with the roles it comes from."""

    entity: str
    user_id: int | None
    fields: Mapping[str, FieldGrant]

    def level(self, field_key: str) -> str:
        """The effective level of one field."""
        return self.fields[field_key].level


def _policy(service: RecordService) -> RolePolicy:
    policy = service.policy
    return policy if isinstance(policy, RolePolicy) else RolePolicy()


def _compiled(
    service: RecordService, connection: Connection, principal: Principal, entity_key: str
) -> tuple[Any, CompiledAccess | None]:
    ctx = service._context(connection, principal, entity_key)
    if principal.is_system:
        return ctx, None
    compiled = _policy(service).compiled(
        connection, ctx.tenant, principal, ctx.entity, ctx.table, ctx.config
    )
    return ctx, compiled


def explain_access(
    service: RecordService, principal: Principal, entity_key: str, record_id: int
) -> AccessExplanation:
    """Each privilege of `principal` on one record with its sources (`RecordNotFound` if none)."""
    with service.engine.connect() as connection:
        ctx, compiled = _compiled(service, connection, principal, entity_key)
        table = ctx.table
        if compiled is None:
            found = connection.execute(select(table.c.id).where(table.c.id == record_id)).first()
            if found is None:
                raise RecordNotFound(entity_key, record_id)
            return _system_explanation(entity_key, record_id)
        clauses: list[Any] = []
        for privilege in ALL_PRIVILEGES:
            clauses.append(compiled.predicates[privilege])
            clauses.extend(s.clause for s in compiled.grants[privilege])
        clauses.extend(r.clause for r in compiled.restrictions)
        columns = [case((clause, 1), else_=0).label(f"c{i}") for i, clause in enumerate(clauses)]
        row = connection.execute(
            select(table.c.owning_unit_id, *columns).where(table.c.id == record_id)
        ).first()
        if row is None:
            raise RecordNotFound(entity_key, record_id)
        answers = iter(bool(value) for value in row[1:])
        unit_keys = {v: k for k, v in _policy(service).unit_ids(connection, ctx.tenant).items()}
        shares = shares_reaching(connection, ctx.tenant.id, entity_key, record_id, compiled.facts)
        per_privilege: dict[str, PrivilegeExplanation] = {}
        matched: dict[str, list[tuple[SourcedClause, bool]]] = {}
        predicate_answers: dict[str, bool] = {}
        for privilege in ALL_PRIVILEGES:
            predicate_answers[privilege] = next(answers)
            matched[privilege] = [(s, next(answers)) for s in compiled.grants[privilege]]
        restricted = [(r, next(answers)) for r in compiled.restrictions]
        for privilege in ALL_PRIVILEGES:
            level = compiled.levels[privilege]
            sources = [
                *_grant_sources(
                    connection,
                    compiled,
                    privilege,
                    matched[privilege],
                    row.owning_unit_id,
                    unit_keys,
                ),
                *_share_sources(
                    shares, privilege, LEVEL_RANK[level] >= LEVEL_RANK["own"], unit_keys
                ),
                *_restriction_sources(restricted),
            ]
            if privilege == "create":
                # Could the user create this record where it is (its owning unit)?
                granted = unit_covered(
                    connection, compiled.facts, compiled.unit_grants["create"], row.owning_unit_id
                )
            else:
                granted = predicate_answers[privilege]
            per_privilege[privilege] = PrivilegeExplanation(
                privilege, level, granted, tuple(sources)
            )
    return AccessExplanation(
        entity_key, record_id, principal.user_id, MappingProxyType(per_privilege)
    )


def _grant_sources(
    connection: Connection,
    compiled: CompiledAccess,
    privilege: str,
    matched: list[tuple[SourcedClause, bool]],
    owning_unit_id: int | None,
    unit_keys: Mapping[int, str],
) -> list[AccessSource]:
    """The roles, master data and sharing rules behind one privilege, each with whether it applies.

    For ``create`` a grant applies when it covers the record's owning unit.
    """
    sources: list[AccessSource] = []
    for source, matches in matched:
        if source.kind == "shares":
            continue  # the record's own shares are listed one by one (`_share_sources`)
        applies = matches
        if privilege == "create":
            grants = {source.level: frozenset({source.unit_id or 0})}
            applies = unit_covered(connection, compiled.facts, grants, owning_unit_id)
        sources.append(
            AccessSource(
                kind=source.kind,
                key=source.key,
                level=source.level,
                applies=applies,
                unit_id=source.unit_id,
                unit_key=unit_keys.get(source.unit_id or 0),
                detail=source.detail,
            )
        )
    return sources


def _share_sources(
    shares: list[Share], privilege: str, gated: bool, unit_keys: Mapping[int, str]
) -> list[AccessSource]:
    """The record's shares that carry `privilege`; they apply only above a role's ``own`` level."""
    sources: list[AccessSource] = []
    for share in shares:
        if privilege not in ACCESS_PRIVILEGES[share.access]:
            continue
        target = unit_keys.get(share.target_id) if share.target_type != "user" else None
        sources.append(
            AccessSource(
                kind="share",
                key=str(share.id),
                level=share.access,
                applies=gated,
                unit_id=share.target_id if target else None,
                unit_key=target,
                detail=f"shared with {share.target_type} {target or share.target_id}"
                + ("" if gated else "; your roles give no access at own or above"),
            )
        )
    return sources


def _restriction_sources(restricted: list[tuple[SourcedClause, bool]]) -> list[AccessSource]:
    """The restriction rules reaching the principal, each with whether it hides this record."""
    return [
        AccessSource(
            kind="restriction_rule",
            key=restriction.key,
            level="restricts",
            applies=applies,
            effect="restricts",
            detail=restriction.detail,
        )
        for restriction, applies in restricted
    ]


def _system_explanation(entity_key: str, record_id: int) -> AccessExplanation:
    source = AccessSource(
        kind="system",
        key="system",
        level="tenant",
        applies=True,
        detail="the system principal of jobs reaches everything; each use is audited",
    )
    return AccessExplanation(
        entity_key,
        record_id,
        None,
        MappingProxyType(
            {p: PrivilegeExplanation(p, "tenant", True, (source,)) for p in ALL_PRIVILEGES}
        ),
    )


def explain_fields(
    service: RecordService, principal: Principal, entity_key: str
) -> FieldExplanation:
    """Each field of the entity at its effective level for `principal`, with its sources."""
    with service.engine.connect() as connection:
        ctx, compiled = _compiled(service, connection, principal, entity_key)
        if compiled is None:
            grants = {f.key: FieldGrant("edit", ()) for f in ctx.entity.fields}
            return FieldExplanation(entity_key, None, MappingProxyType(grants))
        return FieldExplanation(entity_key, principal.user_id, compiled.field_grants)


@dataclass(frozen=True)
class RecordExplanation:
    """What one user may do with one record and how much of each field they see."""

    access: AccessExplanation
    fields: FieldExplanation


def explain_record(
    service: RecordService,
    asker: Principal,
    entity_key: str,
    record_id: int,
    subject_user_id: int | None = None,
) -> RecordExplanation:
    """Why user `subject_user_id` (the asker when None) may do what with one record.

    An administrator's tool: only an asker who may administer the tenant
    (`users.may_administer`) gets an answer, `AccessDenied` otherwise. Another user
    is explained at their primary unit, as they work when they sign in; a user
    id of no user of the asker's tenant is `RecordNotFound("user", ...)`, a
    record that does not exist at all `RecordNotFound(entity_key, ...)`.
    """
    with service.engine.connect() as connection:
        if not asker.is_system:
            tenant = get_tenant_by_id(connection, asker.tenant_id)
            root = service.store.effective(tenant.key, None)
            if asker.user_id is None or not may_administer(connection, asker.user_id, root):
                raise AccessDenied(
                    entity_key, "explain access", "only administrators may explain access"
                )
        subject = asker
        if subject_user_id is not None and subject_user_id != asker.user_id:
            user = get_user(connection, asker.tenant_id, subject_user_id)
            subject = principal_of(connection, user, locale=asker.locale)
    return RecordExplanation(
        explain_access(service, subject, entity_key, record_id),
        explain_fields(service, subject, entity_key),
    )

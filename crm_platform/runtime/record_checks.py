"""The record service's view of an entity table, and the checks every write makes.

`EntityShape` maps between records (field key -> value, money as ``{"amount",
"currency"}``) and table rows (one column per field, two for money), knows which
columns may be sorted and filtered, and turns integrity errors into field
problems. The checks (writable keys, values, owning units, references, unique
values) collect every problem of every row before anything is written, keyed by
field (``/<row>/<field>`` in bulk), in the principal's language.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, Select, Table, select, type_coerce
from sqlalchemy.exc import IntegrityError
from sqlalchemy.types import UserDefinedType

from crm_platform.metadata.field_types import FIELD_TYPES, SYSTEM_FIELDS, FieldDef
from crm_platform.metadata.model import EntityDef, localize
from crm_platform.metadata.tables import OrgUnit
from crm_platform.runtime.entity_tables import CURRENCY_SUFFIX, SYSTEM_COLUMN_NAMES
from crm_platform.runtime.record_queries import sortable_columns
from crm_platform.runtime.tables import User

if TYPE_CHECKING:
    from crm_platform.runtime.record_reads import OperationContext

USERS: Table = User.__table__  # type: ignore[assignment]
UNITS: Table = OrgUnit.__table__  # type: ignore[assignment]

RECORD_KEY = "_record"
"""The key of problems that belong to the record as a whole rather than one field."""

WRITABLE_SYSTEM_KEYS = frozenset({"owner_user_id", "owning_unit_id"})
"""System columns a caller may set (subject to the assign checks); the rest are the system's."""

IMPORTED_TIMESTAMP_KEYS = ("created_at", "updated_at")
"""System columns only the audited system principal may set when creating: an import from
a legacy system keeps when its records were made and last changed (Salesforce's "set audit
fields upon record creation"). The audit trail still records the import's own time."""

_IN_CHUNK = 5000

MESSAGES: Mapping[str, Mapping[str, str]] = {
    "unknown_field": {
        "en": "There is no such field on this record.",
        "zh-Hans": "此记录没有这个字段。",
        "zh-Hant": "此記錄沒有這個欄位。",
    },
    "read_only": {
        "en": "You may see this field but not change it.",
        "zh-Hans": "您可以查看此字段，但不能修改。",
        "zh-Hant": "您可以檢視此欄位，但不能修改。",
    },
    "system_field": {
        "en": "This value is kept by the system and cannot be set.",
        "zh-Hans": "此值由系统维护，不能设置。",
        "zh-Hant": "此值由系統維護，不能設定。",
    },
    "not_an_id": {
        "en": "Give the id (a whole number) of a record.",
        "zh-Hans": "请填写记录的编号（整数）。",
        "zh-Hant": "請填寫記錄的編號（整數）。",
    },
    "reference_missing": {
        "en": "The linked record does not exist or was deleted; choose another.",
        "zh-Hans": "关联的记录不存在或已删除，请重新选择。",
        "zh-Hant": "關聯的記錄不存在或已刪除，請重新選擇。",
    },
    "user_missing": {
        "en": "This user does not exist in your organisation; choose another.",
        "zh-Hans": "此用户不存在于您的组织中，请重新选择。",
        "zh-Hant": "此使用者不存在於您的組織中，請重新選擇。",
    },
    "unit_missing": {
        "en": "This org unit does not exist or is inactive; choose another.",
        "zh-Hans": "此组织单元不存在或已停用，请重新选择。",
        "zh-Hant": "此組織單位不存在或已停用，請重新選擇。",
    },
    "unit_not_allowed": {
        "en": "You may not put records in this org unit; choose one in your own scope.",
        "zh-Hans": "您不能将记录放入此组织单元，请选择您权限范围内的单元。",
        "zh-Hant": "您不能將記錄放入此組織單位，請選擇您權限範圍內的單位。",
    },
    "outside_create_scope": {
        "en": "You may not create a record with these values: a rule of your organisation "
        "keeps such records out of your reach. Change the values or ask an administrator.",
        "zh-Hans": "您不能创建具有这些值的记录：组织规则使此类记录不在您的权限范围内。"
        "请修改这些值或联系管理员。",
        "zh-Hant": "您不能建立具有這些值的記錄：組織規則使此類記錄不在您的權限範圍內。"
        "請修改這些值或聯絡管理員。",
    },
    "not_a_past_moment": {
        "en": "Give a date and time with its time zone, not in the future.",
        "zh-Hans": "请填写带时区的日期时间，且不能晚于现在。",
        "zh-Hant": "請填寫帶時區的日期時間，且不能晚於現在。",
    },
    "updated_before_created": {
        "en": "A record cannot be changed before it was created.",
        "zh-Hans": "记录的修改时间不能早于创建时间。",
        "zh-Hant": "記錄的修改時間不能早於建立時間。",
    },
    "master_no_unit": {
        "en": "Master data belongs to the whole organisation and has no owner or owning unit.",
        "zh-Hans": "主数据属于整个组织，没有负责人或所属单元。",
        "zh-Hant": "主資料屬於整個組織，沒有負責人或所屬單位。",
    },
    "no_owner_user": {
        "en": "Records of this kind belong to an org unit, not to a user.",
        "zh-Hans": "此类记录属于组织单元，而不是用户。",
        "zh-Hant": "此類記錄屬於組織單位，而不是使用者。",
    },
    "unique_taken": {
        "en": "Another record already has this value; it must be unique.",
        "zh-Hans": "已有其他记录使用此值，此值必须唯一。",
        "zh-Hant": "已有其他記錄使用此值，此值必須唯一。",
    },
    "unique_in_batch": {
        "en": "Row {row} has the same value; it must be unique.",
        "zh-Hans": "第 {row} 行的值与此相同，此值必须唯一。",
        "zh-Hant": "第 {row} 行的值與此相同，此值必須唯一。",
    },
    "conflict": {
        "en": "The record conflicts with data saved meanwhile; reload it and try again.",
        "zh-Hans": "记录与刚保存的数据冲突，请重新加载后再试。",
        "zh-Hant": "記錄與剛儲存的資料衝突，請重新載入後再試。",
    },
}


def message(key: str, locale: str, **values: Any) -> str:
    """A problem message in the reader's language."""
    return localize(MESSAGES[key], locale).format(**values)


def _problem_key(field_key: str, index: int, single: bool) -> str:
    return field_key if single else f"/{index}/{field_key}"


def _add(errors: dict[str, list[str]], key: str, text: str) -> None:
    messages = errors.setdefault(key, [])
    if text not in messages:
        messages.append(text)


# -- the shape of an entity's rows ----------------------------------------------------------------


class _SqliteUtcDateTime(UserDefinedType[datetime]):
    """Reads a date-time SQLite stored as UTC text straight into an aware `datetime`.

    SQLite keeps no offset, and SQLAlchemy's own reader returns a naive value that
    then needs ``replace(tzinfo=UTC)``, which costs ten times the parse; one
    `fromisoformat` of the text with its offset appended does both. Used only in
    SELECTs (`type_coerce`), never in DDL.
    """

    cache_ok = True

    def get_col_spec(self, **_kw: Any) -> str:
        return "DATETIME"

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        parse = datetime.fromisoformat

        def process(value: str | None) -> datetime | None:
            return None if value is None else parse(value + "+00:00")

        return process


_SQLITE_UTC = _SqliteUtcDateTime()


@dataclass(frozen=True)
class RowReader:
    """Selects the visible columns and turns result tuples into records, fast.

    Lists are the hottest path: rows are zipped with precomputed keys (a C loop),
    SQLite's date-times are parsed to UTC by the SELECT itself, and only money
    columns get a Python touch.
    """

    columns: tuple[Any, ...]
    keys: tuple[str, ...]
    money: tuple[str, ...]
    datetimes: tuple[str, ...]
    """Columns stored as offset-less UTC text (SQLite), read through `_SqliteUtcDateTime`."""

    @cached_property
    def select(self) -> Select[Any]:
        """``SELECT <the columns>``, built once: statements are immutable and generative."""
        texts = set(self.datetimes)
        return select(
            *(
                type_coerce(column, _SQLITE_UTC).label(column.name)
                if column.name in texts
                else column
                for column in self.columns
            )
        )

    def raw(self, rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
        """Column name -> value for each result row."""
        keys = self.keys
        # Rows may carry extra trailing columns (the tenant's versions); zip stops at the keys.
        return [dict(zip(keys, row, strict=False)) for row in rows]

    def finish(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Turn raw column dicts of rows read by `select` into records in place (money pairs)."""
        if self.money:
            for record in records:
                for key in self.money:
                    amount = record[key]
                    currency = record.pop(key + CURRENCY_SUFFIX)
                    if amount is not None:
                        record[key] = {"amount": amount, "currency": currency}
        return records


_MAX_READERS = 256
"""Readers kept per entity shape: every hidden set times every field set lists ask for."""


@dataclass(frozen=True)
class EntityShape:
    """How an entity's records map onto its table, computed once per (table, entity)."""

    table: Table
    entity: EntityDef
    fields: Mapping[str, FieldDef]
    money: tuple[str, ...]
    datetimes: tuple[str, ...]
    unique: tuple[str, ...]
    naive_datetimes: bool = True
    _readers: dict[tuple[frozenset[str], frozenset[str] | None], RowReader] = field(
        default_factory=dict, compare=False
    )

    @cached_property
    def sortable(self) -> frozenset[str]:
        """Field and system keys a list may sort by (indexed, and of a sortable type)."""
        names = set()
        for name in sortable_columns(self.table):
            definition = self.fields.get(name) or SYSTEM_FIELDS.get(name)
            if definition is not None and FIELD_TYPES[definition.type].sortable:
                names.add(name)
        return frozenset(names | {"id"})

    @cached_property
    def search_fields(self) -> tuple[str, ...]:
        """The fields a free-text search looks in (the title when none are configured)."""
        keys = self.entity.search_fields or (self.entity.title_field,)
        return tuple(key for key in keys if key in self.fields)

    @cached_property
    def _types(self) -> dict[str, str]:
        types = {key: f.type for key, f in SYSTEM_FIELDS.items()}
        types.update({key: f.type for key, f in self.fields.items()})
        return types

    def condition_columns(self, hidden: frozenset[str]) -> tuple[dict[str, Any], dict[str, str]]:
        """(columns, field types) a filter may name: every field but the hidden ones."""
        types = {k: t for k, t in self._types.items() if k not in hidden}
        return {key: self.table.c[key] for key in types}, types

    def reader(self, hidden: frozenset[str], fields: frozenset[str] | None = None) -> RowReader:
        """How to select and read rows without the `hidden` fields (cached per hidden set).

        `fields` narrows the read to those field keys (a list showing a few
        columns need not fetch and convert the rest); the system columns are
        always read, and hidden fields stay out even when named. Readers are
        cached per (hidden, fields), so the statements built on a reader, which
        the record service caches by the reader's identity, stay distinct.
        """
        key = (hidden, fields)
        reader = self._readers.get(key)
        if reader is None:
            names = list(SYSTEM_COLUMN_NAMES)
            for name in self.fields:
                if name in hidden or (fields is not None and name not in fields):
                    continue
                names.append(name)
                if name in self.money:
                    names.append(name + CURRENCY_SUFFIX)
            reader = RowReader(
                columns=tuple(self.table.c[name] for name in names),
                keys=tuple(names),
                money=tuple(name for name in self.money if name in names),
                datetimes=self.datetimes if self.naive_datetimes else (),
            )
            if len(self._readers) >= _MAX_READERS:
                self._readers.clear()  # callers naming ever new field sets cannot grow it
            self._readers[key] = reader
        return reader

    def visible_columns(self, hidden: frozenset[str]) -> tuple[Any, ...]:
        """The columns a read selects: system columns and every field not hidden."""
        return self.reader(hidden).columns

    def present(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """A record (field key -> value) from a table row (a mapping of column values)."""
        record = dict(row)
        for key in self.money:
            if key in record:
                amount = record[key]
                currency = record.pop(key + CURRENCY_SUFFIX, None)
                record[key] = None if amount is None else {"amount": amount, "currency": currency}
        # Date-times are aware already: rows are read through `RowReader.select`.
        return record

    def stored_columns(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The unique-field columns of a stored row (to re-check them on restore)."""
        return {key: row[key] for key in self.unique if key in row}

    def integrity_errors(self, exc: IntegrityError, locale: str) -> dict[str, list[str]]:
        """Field problems for a constraint the database refused (no raw database text)."""
        text = str(getattr(exc, "orig", exc))
        constraint = getattr(
            getattr(getattr(exc, "orig", None), "diag", None), "constraint_name", None
        )
        found = []
        for key in self.unique:
            index_names = {
                index.name
                for index in self.table.indexes
                if index.unique and [c.name for c in index.columns] == [key]
            }
            if constraint in index_names or re.search(
                rf"\.{re.escape(key)}(,|$|\s)",
                text.rsplit("failed:", 1)[-1] if "failed:" in text else "",
            ):
                found.append(key)
        if not found:
            return {RECORD_KEY: [message("conflict", locale)]}
        return {key: [message("unique_taken", locale)] for key in found}


_SHAPES: dict[tuple[int, int, str], tuple[Table, EntityDef, EntityShape]] = {}
_SHAPES_LOCK = threading.Lock()


def shape_of(table: Table, entity: EntityDef, dialect: str = "sqlite") -> EntityShape:
    """The (cached) shape of an entity's records in `table` on `dialect`."""
    key = (id(table), id(entity), dialect)
    cached = _SHAPES.get(key)
    if cached is not None and cached[0] is table and cached[1] is entity:
        return cached[2]
    fields = {f.key: f for f in entity.fields if f.key in table.c}
    shape = EntityShape(
        table=table,
        entity=entity,
        fields=fields,
        money=tuple(key for key, f in fields.items() if f.type == "money"),
        datetimes=tuple(
            column.name for column in table.columns if isinstance(column.type, DateTime)
        ),
        unique=tuple(key for key, f in fields.items() if f.unique),
        naive_datetimes=dialect == "sqlite",
    )
    with _SHAPES_LOCK:
        if len(_SHAPES) > 512:
            _SHAPES.clear()
        _SHAPES[key] = (table, entity, shape)
    return shape


# -- checks --------------------------------------------------------------------------------------


def validate_rows(
    ctx: OperationContext,
    rows: Sequence[Mapping[str, Any]],
    *,
    partial: bool,
    single: bool,
    defaults: Mapping[str, Any] | None = None,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """Normalised values of each row (field key -> value) and every problem found.

    Keys the principal may not write (hidden, read-only, system-kept) are
    problems, not silently dropped: mass assignment fails loudly. `offset` is the
    index of `rows[0]` in the whole import, for the problems' ``/<index>/`` keys.
    """
    from crm_platform.runtime.values import RecordValidator

    locale = ctx.principal.locale
    levels = ctx.access.field_levels
    fields = tuple(ctx.shape.fields.values())
    validator = RecordValidator(fields)
    # Keys a row may simply hand on to validation: fields the principal may edit.
    editable = frozenset(
        key
        for key in ctx.shape.fields
        if key not in WRITABLE_SYSTEM_KEYS
        and key not in SYSTEM_COLUMN_NAMES
        and levels.get(key, "edit") == "edit"
    )
    defaulted = (
        () if partial else tuple((f.key, f.default) for f in fields if f.default is not None)
    )
    prepared: list[dict[str, Any]] = []
    errors: dict[str, list[str]] = {}
    for index, row in enumerate(rows, offset):
        system: dict[str, Any] = dict(defaults or {})
        if editable.issuperset(row):
            values: dict[str, Any] = dict(row)
            checked: Mapping[str, Any] = {}
        else:
            values = {}
            checked = row
        for key, value in checked.items():
            if key in editable:  # most keys of a row with a system key: no call for them
                values[key] = value
                continue
            problem = _place(ctx, key, value, values, system, partial=partial)
            if problem is not None:
                _add(errors, _problem_key(key, index, single), message(problem, locale))
        for key, default in defaulted:
            if key not in values:
                values[key] = list(default) if isinstance(default, tuple) else default
        normalized, problems = validator.validate(values, locale, partial=partial)
        for key, messages in problems.items():
            for text in messages:
                _add(errors, _problem_key(key, index, single), text)
        prepared.append({**system, **normalized})
    return prepared, errors


def _place(
    ctx: OperationContext,
    key: str,
    value: Any,
    values: dict[str, Any],
    system: dict[str, Any],
    *,
    partial: bool,
) -> str | None:
    """Put one handed-in key where it belongs (`values` or `system`); its problem's key if neither.

    For rows holding keys other than the fields the principal may edit: the
    system columns a caller may set, imported timestamps, and everything refused.
    """
    ownership = ctx.entity.ownership
    level = ctx.access.field_levels.get(key, "edit")
    problem = None
    if key in WRITABLE_SYSTEM_KEYS:
        if ownership == "master":
            problem = "master_no_unit"
        elif key == "owner_user_id" and ownership != "user_owned":
            problem = "no_owner_user"
        elif value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            problem = "not_an_id"
        else:
            system[key] = value
    elif key in IMPORTED_TIMESTAMP_KEYS and ctx.principal.is_system and not partial:
        problem = _imported_timestamp(value, system, key)
    elif key in SYSTEM_COLUMN_NAMES:
        problem = "system_field"
    elif key not in ctx.shape.fields or level == "hidden":
        problem = "unknown_field"
    elif level != "edit":
        problem = "read_only"
    else:
        values[key] = value
    return problem


def _imported_timestamp(value: Any, system: dict[str, Any], key: str) -> str | None:
    """Keep an imported record's own timestamp in `system`; the problem's key if it is bad."""
    from crm_platform.runtime.values import ValueProblem, normalize_value

    try:
        moment = normalize_value(SYSTEM_FIELDS[key], value)
    except ValueProblem:
        return "not_a_past_moment"
    if moment is None or moment > datetime.now(UTC):
        return "not_a_past_moment"
    system[key] = moment
    if system.get("created_at") and system.get("updated_at"):
        if system["updated_at"] < system["created_at"]:
            return "updated_before_created"
    return None


def to_columns(shape: EntityShape, values: Mapping[str, Any]) -> dict[str, Any]:
    """Table columns from normalised record values (money split into amount and currency).

    `values` come from `validate_values`, whose date-times are already aware UTC.
    """
    columns = dict(values)
    for key in shape.money:
        if key not in columns:
            continue
        value = columns[key]
        amount = value.get("amount") if isinstance(value, Mapping) else value
        currency = value.get("currency") if isinstance(value, Mapping) else None
        if amount is not None and currency is None:
            currency = shape.fields[key].currency or "CNY"
        columns[key] = amount
        columns[key + CURRENCY_SUFFIX] = currency if amount is not None else None
    return columns


def _existing(connection: Any, column: Any, ids: set[Any], *where: Any) -> set[Any]:
    found: set[Any] = set()
    ordered = sorted(ids, key=repr)
    for start in range(0, len(ordered), _IN_CHUNK):
        chunk = ordered[start : start + _IN_CHUNK]
        found.update(connection.execute(select(column).where(column.in_(chunk), *where)).scalars())
    return found


def check_references(
    ctx: OperationContext,
    rows: Sequence[Mapping[str, Any]],
    errors: dict[str, list[str]],
    *,
    single: bool,
    offset: int = 0,
) -> None:
    """Every reference, user and org unit value names a live row of the same tenant."""
    locale = ctx.principal.locale
    tenant_id = ctx.tenant.id
    checks: list[tuple[str, Any, tuple[Any, ...], str]] = []
    for key in ("owner_user_id", "owning_unit_id"):
        checks.append((key, *_lookup(ctx, SYSTEM_FIELDS[key], tenant_id, key == "owning_unit_id")))
    for key, definition in ctx.shape.fields.items():
        if definition.type in ("reference", "user", "org_unit"):
            checks.append((key, *_lookup(ctx, definition, tenant_id, False)))
    # The acting principal's own user and unit are known to be in the tenant: the
    # commonest owner and owning unit need no query.
    known = {"owner_user_id": ctx.principal.user_id, "owning_unit_id": ctx.principal.unit_id}
    for key, column, where, problem in checks:
        wanted = {row[key] for row in rows if row.get(key) is not None}
        wanted.discard(known.get(key))
        if not wanted:
            continue
        found = _existing(ctx.connection, column, wanted, *where) if column is not None else set()
        found.add(known.get(key))
        for index, row in enumerate(rows, offset):
            value = row.get(key)
            if value is not None and value not in found:
                _add(errors, _problem_key(key, index, single), message(problem, locale))


def _lookup(
    ctx: OperationContext, definition: FieldDef, tenant_id: int, active_only: bool
) -> tuple[Any, tuple[Any, ...], str]:
    """(id column, conditions, problem) that decide whether a value of the field exists."""
    if definition.type == "user":
        return USERS.c.id, (USERS.c.tenant_id == tenant_id,), "user_missing"
    if definition.type == "org_unit":
        where: tuple[Any, ...] = (UNITS.c.tenant_id == tenant_id,)
        if active_only:
            where = (*where, UNITS.c.active.is_(True))
        return UNITS.c.id, where, "unit_missing"
    target = ctx.tables.get(definition.target or "")
    if target is None:
        return None, (), "reference_missing"
    where = (target.c.deleted_at.is_(None),)
    # A policy that scopes references (RoleAccess.reference_scope) lets a reference
    # name only records the principal can read; accepting an invisible one leaks it.
    scope = getattr(ctx.access, "reference_scope", None)
    if scope is not None:
        where = (*where, scope(definition.target, target))
    return target.c.id, where, "reference_missing"


def check_unique(
    ctx: OperationContext,
    rows: Sequence[Mapping[str, Any]],
    errors: dict[str, list[str]],
    *,
    single: bool,
    exclude_id: int | None = None,
    offset: int = 0,
    seen: dict[str, dict[Any, int]] | None = None,
) -> None:
    """Unique fields hold values no other live record (nor another row of the batch) has.

    An import checked chunk by chunk passes the same `seen` (field -> value -> index
    of the first row holding it) to every chunk, so a value repeated across chunks
    is caught as well as one repeated within a chunk.
    """
    locale = ctx.principal.locale
    table = ctx.table
    seen = {} if seen is None else seen
    for key in ctx.shape.unique:
        earlier = seen.setdefault(key, {})
        first_row: dict[Any, int] = {}
        for index, row in enumerate(rows, offset):
            value = row.get(key)
            if value is None or value == "":
                continue
            if value in earlier or value in first_row:
                first = earlier.get(value, first_row.get(value))
                text = message("unique_in_batch", locale, row=first)
                _add(errors, _problem_key(key, index, single), text)
            else:
                first_row[value] = index
        earlier.update(first_row)
        if not first_row:
            continue
        where: list[Any] = [table.c.deleted_at.is_(None)]
        if exclude_id is not None:
            where.append(table.c.id != exclude_id)
        taken = _existing(ctx.connection, table.c[key], set(first_row), *where)
        for value in taken:
            index = first_row[value]
            _add(errors, _problem_key(key, index, single), message("unique_taken", locale))


def check_created_in_scope(
    ctx: OperationContext,
    ids: Sequence[int],
    errors: dict[str, list[str]],
    *,
    single: bool,
    offset: int = 0,
) -> None:
    """The rows just inserted (still uncommitted) lie inside the principal's create scope.

    Checking the unit before inserting covers role grants; restriction rules are
    conditions on the record's values, and asking the database whether the new
    rows match the compiled create predicate checks both with the one SQL
    definition the reads use. Rows outside are problems, and the caller rolls back.
    """
    if not ids:
        return
    table = ctx.table
    inside = _existing(ctx.connection, table.c.id, set(ids), ctx.access.predicate("create"))
    text = message("outside_create_scope", ctx.principal.locale)
    for index, record_id in enumerate(ids, offset):
        if record_id not in inside:
            _add(errors, RECORD_KEY if single else f"/{index}/{RECORD_KEY}", text)

"""The field types, one small frozen object each, and the typed field definition.

`FIELD_TYPES` is data: what kind of Python value a type holds, whether it can be
ordered, sorted, searched as text, made unique or used as an entity's title.
Validation, the condition language and the runtime read these flags instead of
branching on type names. Which attributes a field document of each type may set
(options, target, min, currency...) is the schema's business, not repeated here.
`FieldDef` lives here rather than in `model` so that `SYSTEM_FIELDS` can be built
from it without an import cycle; `model` re-exports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

VALUE_KINDS = (
    "text",
    "integer",
    "decimal",
    "boolean",
    "date",
    "datetime",
    "choice",
    "multi_choice",
    "id",
)


@dataclass(frozen=True)
class FieldType:
    """One field type.

    `value_kind` is the kind of Python value a record holds (``id`` for references
    to rows, users and units); `ordered` means gt/lt/between apply; `textual` that
    contains/starts_with apply; `value_pattern` is a regular expression every
    stored value matches (a region code, a USCC).
    """

    key: str
    label: Mapping[str, str]
    value_kind: str
    ordered: bool = False
    sortable: bool = True
    textual: bool = False
    can_be_unique: bool = True
    can_be_title: bool = False
    value_pattern: str | None = None


def _type(key: str, en: str, hans: str, hant: str, value_kind: str, **flags: Any) -> FieldType:
    label = MappingProxyType({"en": en, "zh-Hans": hans, "zh-Hant": hant})
    return FieldType(key=key, label=label, value_kind=value_kind, **flags)


FIELD_TYPES: Mapping[str, FieldType] = MappingProxyType(
    {
        t.key: t
        for t in (
            _type("text", "Text", "文本", "文字", "text", textual=True, can_be_title=True),
            _type("long_text", "Long text", "长文本", "長文字", "text", textual=True,
                  sortable=False, can_be_unique=False),
            _type("integer", "Integer", "整数", "整數", "integer", ordered=True),
            _type("decimal", "Decimal", "小数", "小數", "decimal", ordered=True),
            _type("money", "Money", "金额", "金額", "decimal", ordered=True),
            _type("percent", "Percent", "百分比", "百分比", "decimal", ordered=True),
            _type("boolean", "Yes/No", "是/否", "是/否", "boolean", can_be_unique=False),
            _type("date", "Date", "日期", "日期", "date", ordered=True),
            _type("datetime", "Date and time", "日期时间", "日期時間", "datetime", ordered=True),
            _type("choice", "Choice", "单选", "單選", "choice"),
            _type("multi_choice", "Multiple choice", "多选", "多選", "multi_choice",
                  sortable=False, can_be_unique=False),
            _type("reference", "Reference", "关联记录", "關聯記錄", "id"),
            _type("user", "User", "用户", "使用者", "id"),
            _type("org_unit", "Org unit", "组织单元", "組織單位", "id"),
            _type("email", "Email", "电子邮箱", "電子郵件", "text", textual=True,
                  can_be_title=True),
            _type("phone", "Phone", "电话", "電話", "text", textual=True, can_be_title=True),
            _type("url", "URL", "网址", "網址", "text", textual=True),
            _type("region", "Region (GB/T 2260)", "行政区划", "行政區劃", "text", textual=True,
                  value_pattern=r"^\d{6}$"),
            _type("uscc", "Unified social credit code", "统一社会信用代码", "統一社會信用代碼",
                  "text", textual=True, can_be_title=True,
                  value_pattern=r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$"),
        )
    }
)  # fmt: skip


@dataclass(frozen=True)
class ChoiceOption:
    """One option of a choice or multi_choice field; `key` is what records store."""

    key: str
    label: Mapping[str, str]
    locked: bool = False


@dataclass(frozen=True)
class FieldDef:
    """One field of an entity, parsed from a schema-valid field document.

    `layer` is the unit key of the layer that defined the field (None for HQ);
    `system` marks the record table's own columns (`SYSTEM_FIELDS`).
    """

    key: str
    label: Mapping[str, str]
    type: str
    required: bool = False
    unique: bool = False
    min: float | None = None
    max: float | None = None
    max_length: int | None = None
    pattern: str | None = None
    default: Any = None
    options: tuple[ChoiceOption, ...] = ()
    target: str | None = None
    on_delete: str = "restrict"
    currency: str | None = None
    scale: int | None = None
    sensitive: bool = False
    locked: bool = False
    help: Mapping[str, str] | None = None
    layer: str | None = None
    system: bool = False

    @property
    def field_type(self) -> FieldType:
        """The `FieldType` of this field."""
        return FIELD_TYPES[self.type]

    @property
    def option_keys(self) -> tuple[str, ...]:
        """The keys of the options, in order (empty for non-choice fields)."""
        return tuple(option.key for option in self.options)

    def option(self, key: str) -> ChoiceOption | None:
        """The option with this key, or None."""
        return next((option for option in self.options if option.key == key), None)

    @classmethod
    def from_document(cls, document: Mapping[str, Any], layer: str | None = None) -> FieldDef:
        """Parse a schema-valid field document (``entity.schema.json#/$defs/field``)."""
        field_type = document["type"]
        currency = document.get("currency", "CNY" if field_type == "money" else None)
        return cls(
            key=document["key"],
            label=MappingProxyType(dict(document["label"])),
            type=field_type,
            required=bool(document.get("required", False)),
            unique=bool(document.get("unique", False)),
            min=document.get("min"),
            max=document.get("max"),
            max_length=document.get("max_length"),
            pattern=document.get("pattern"),
            default=_frozen_default(document.get("default")),
            options=tuple(
                ChoiceOption(o["key"], MappingProxyType(dict(o["label"])), bool(o.get("locked")))
                for o in document.get("options", ())
            ),
            target=document.get("target"),
            on_delete=document.get("on_delete", "restrict"),
            currency=currency,
            scale=document.get("scale"),
            sensitive=bool(document.get("sensitive", False)),
            locked=bool(document.get("locked", False)),
            help=MappingProxyType(dict(document["help"])) if "help" in document else None,
            layer=layer,
        )


def _frozen_default(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _system(key: str, field_type: str, en: str, hans: str, hant: str) -> FieldDef:
    label = MappingProxyType({"en": en, "zh-Hans": hans, "zh-Hant": hant})
    return FieldDef(key=key, label=label, type=field_type, system=True, locked=True)


SYSTEM_FIELDS: Mapping[str, FieldDef] = MappingProxyType(
    {
        f.key: f
        for f in (
            _system("id", "integer", "ID", "编号", "編號"),
            _system("owner_user_id", "user", "Owner", "负责人", "負責人"),
            _system("owning_unit_id", "org_unit", "Owning unit", "所属单元", "所屬單位"),
            _system("created_by", "user", "Created by", "创建人", "建立者"),
            _system("created_at", "datetime", "Created at", "创建时间", "建立時間"),
            _system("updated_by", "user", "Updated by", "修改人", "修改者"),
            _system("updated_at", "datetime", "Updated at", "修改时间", "修改時間"),
        )
    }
)
"""The record table's own columns that conditions, sorts and list columns may name."""

RESERVED_FIELD_KEYS: frozenset[str] = frozenset(SYSTEM_FIELDS) | {"version", "deleted_at"}
"""Keys no field may use: they are system columns of every record table."""

RESERVED_FIELD_SUFFIX = "_currency"
"""Money fields store their currency in ``<key>_currency``, so no field key ends with it."""


def is_reserved_field_key(key: str) -> bool:
    """True when a field may not use `key` (a system column, or the money currency suffix)."""
    return key in RESERVED_FIELD_KEYS or key.endswith(RESERVED_FIELD_SUFFIX)

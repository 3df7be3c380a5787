"""Typed metadata: frozen dataclasses parsed once from schema-valid documents.

Code outside the metadata package reads configuration through these types and
`Configuration`, never through raw documents. Conditions stay plain JSON
(dicts and lists) because the condition language evaluates and compiles that
tree; everything else uses immutable containers.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from crm_platform.metadata.errors import MetadataError
from crm_platform.metadata.field_types import SYSTEM_FIELDS, ChoiceOption, FieldDef

__all__ = [
    "ChoiceOption",
    "Configuration",
    "DEFAULT_UNIT_KINDS",
    "EntityDef",
    "FieldDef",
    "FieldPlacement",
    "FieldSecurityDef",
    "FormDef",
    "FormSection",
    "ListViewDef",
    "PARSERS",
    "RestrictionRuleDef",
    "RoleDef",
    "SharingRuleDef",
    "SortKey",
    "UnitKindDef",
    "UnitTarget",
    "UnknownMetadataItem",
    "localize",
    "parse_unit_kinds",
]

Localized = Mapping[str, str]
Condition = Mapping[str, Any]
_NO_LEVELS: Mapping[str, str] = MappingProxyType({})


class UnknownMetadataItem(MetadataError, LookupError):
    """A configuration has no entity, field, form... with this key."""

    def __init__(self, what: str, key: str, where: str = "", known: Iterable[str] = ()):
        self.what = what
        self.key = key
        self.where = where
        known_list = sorted(known)
        place = f" in {where}" if where else ""
        hint = f"; known: {', '.join(known_list)}" if known_list else ""
        super().__init__(f"there is no {what} {key!r}{place}{hint}")


# --- localized text ---------------------------------------------------------------------------

_FALLBACKS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "zh-Hant": ("zh-Hant", "zh-Hans", "en"),
        "zh-Hans": ("zh-Hans", "zh-Hant", "en"),
        "en": ("en",),
    }
)
# Regions whose readers use traditional characters when the script is not stated.
_TRADITIONAL_REGIONS = frozenset({"tw", "hk", "mo"})


@lru_cache(maxsize=256)
def _language(locale: str) -> str:
    """Map a locale spelling (``zh_TW``, ``zh-Hant-HK``, ``zh-CN``, ``en-GB``) to a text key.

    Remembered: a page localizes dozens of labels, all in the same few spellings.
    """
    parts = [p.lower() for p in locale.replace("_", "-").split("-") if p]
    if not parts or parts[0] != "zh":
        return "en"
    if "hant" in parts or any(p in _TRADITIONAL_REGIONS for p in parts[1:]):
        return "zh-Hant"
    return "zh-Hans"


def localize(text: Mapping[str, str] | None, locale: str) -> str:
    """The text in the reader's language, falling back zh-Hant <-> zh-Hans, then English."""
    if not text:
        return ""
    for key in _FALLBACKS[_language(locale)]:
        if text.get(key):
            return text[key]
    return text.get("en") or next(iter(text.values()), "")


# --- entities ---------------------------------------------------------------------------------


def _localized(value: Mapping[str, str] | None) -> Localized | None:
    return MappingProxyType(dict(value)) if value is not None else None


def _condition(value: Any) -> Condition | None:
    return copy.deepcopy(value) if value is not None else None


@dataclass(frozen=True)
class EntityDef:
    """A kind of record with its fields (HQ fields first, then those layers added)."""

    key: str
    label: Localized
    plural_label: Localized
    ownership: str
    title_field: str
    search_fields: tuple[str, ...] = ()
    fields: tuple[FieldDef, ...] = ()
    dedupe_keys: tuple[tuple[str, ...], ...] = ()
    nav_order: int | None = None
    locked: bool = False
    description: Localized | None = None
    layer: str | None = None

    @property
    def field_keys(self) -> tuple[str, ...]:
        """The keys of the declared fields, in order (system fields excluded)."""
        return tuple(f.key for f in self.fields)

    def has_field(self, key: str, include_system: bool = True) -> bool:
        """True when `key` names a declared field (or, by default, a system field)."""
        return self.find_field(key, include_system) is not None

    def find_field(self, key: str, include_system: bool = True) -> FieldDef | None:
        """The declared field (or system field) with this key, or None."""
        found = next((f for f in self.fields if f.key == key), None)
        if found is None and include_system:
            return SYSTEM_FIELDS.get(key)
        return found

    def field(self, key: str) -> FieldDef:
        """The declared or system field with this key; `UnknownMetadataItem` if none."""
        found = self.find_field(key)
        if found is None:
            raise UnknownMetadataItem("field", key, f"entity {self.key!r}", self.field_keys)
        return found

    @property
    def title(self) -> FieldDef:
        """The field whose value names a record."""
        return self.field(self.title_field)

    @classmethod
    def from_document(cls, document: Mapping[str, Any], layer: str | None = None) -> EntityDef:
        """Parse a schema-valid entity document; its fields belong to `layer`."""
        return cls(
            key=document["key"],
            label=MappingProxyType(dict(document["label"])),
            plural_label=MappingProxyType(dict(document["plural_label"])),
            ownership=document["ownership"],
            title_field=document["title_field"],
            search_fields=tuple(document.get("search_fields", ())),
            fields=tuple(FieldDef.from_document(f, layer) for f in document["fields"]),
            dedupe_keys=tuple(tuple(keys) for keys in document.get("dedupe_keys", ())),
            nav_order=document.get("nav_order"),
            locked=bool(document.get("locked", False)),
            description=_localized(document.get("description")),
            layer=layer,
        )


# --- forms and list views ---------------------------------------------------------------------


@dataclass(frozen=True)
class FieldPlacement:
    """A field on a form, with conditions (condition-language JSON) for read-only and visible."""

    field: str
    readonly: bool = False
    readonly_when: Condition | None = None
    visible_when: Condition | None = None


@dataclass(frozen=True)
class FormSection:
    """A titled block of a form; `columns` lists the placements of each column top down."""

    key: str
    label: Localized
    columns: tuple[tuple[FieldPlacement, ...], ...]

    @property
    def placements(self) -> tuple[FieldPlacement, ...]:
        """Every placement of the section, column by column."""
        return tuple(p for column in self.columns for p in column)


@dataclass(frozen=True)
class FormDef:
    """The layout of a record page for one entity."""

    key: str
    entity: str
    label: Localized
    sections: tuple[FormSection, ...]
    default: bool = False
    locked: bool = False
    layer: str | None = None

    @property
    def placements(self) -> tuple[FieldPlacement, ...]:
        """Every placement of the form, section by section."""
        return tuple(p for section in self.sections for p in section.placements)

    @property
    def field_keys(self) -> tuple[str, ...]:
        """The keys of the fields the form shows, in order."""
        return tuple(p.field for p in self.placements)

    @classmethod
    def from_document(cls, document: Mapping[str, Any], layer: str | None = None) -> FormDef:
        """Parse a schema-valid form document."""
        return cls(
            key=document["key"],
            entity=document["entity"],
            label=MappingProxyType(dict(document["label"])),
            sections=tuple(
                FormSection(
                    key=s["key"],
                    label=MappingProxyType(dict(s["label"])),
                    columns=tuple(
                        tuple(
                            FieldPlacement(
                                field=p["field"],
                                readonly=bool(p.get("readonly", False)),
                                readonly_when=_condition(p.get("readonly_when")),
                                visible_when=_condition(p.get("visible_when")),
                            )
                            for p in column
                        )
                        for column in s["columns"]
                    ),
                )
                for s in document["sections"]
            ),
            default=bool(document.get("default", False)),
            locked=bool(document.get("locked", False)),
            layer=layer,
        )


@dataclass(frozen=True)
class SortKey:
    """One key of a sort order: a field and ``asc`` or ``desc``."""

    field: str
    direction: str = "asc"


@dataclass(frozen=True)
class ListViewDef:
    """The columns, default filter and order of a record list."""

    key: str
    entity: str
    label: Localized
    default: bool = False
    columns: tuple[str, ...] = ()
    default_filter: Condition | None = None
    default_sort: tuple[SortKey, ...] = ()
    page_size: int = 50
    locked: bool = False
    layer: str | None = None

    @classmethod
    def from_document(cls, document: Mapping[str, Any], layer: str | None = None) -> ListViewDef:
        """Parse a schema-valid list view document."""
        return cls(
            key=document["key"],
            entity=document["entity"],
            label=MappingProxyType(dict(document["label"])),
            columns=tuple(document["columns"]),
            default=bool(document.get("default", False)),
            default_filter=_condition(document.get("default_filter")),
            default_sort=tuple(
                SortKey(s["field"], s["direction"]) for s in document.get("default_sort", ())
            ),
            page_size=int(document.get("page_size", 50)),
            locked=bool(document.get("locked", False)),
            layer=layer,
        )


# --- security ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoleDef:
    """Privileges per entity, each at an access level from the unit the role is assigned at."""

    key: str
    label: Localized
    privileges: Mapping[str, Mapping[str, str]]
    description: Localized | None = None
    locked: bool = False
    layer: str | None = None
    administer: bool = False
    """May its holders (assigned at the tenant's root unit) administer the tenant?"""

    def level(self, entity: str, privilege: str) -> str:
        """The access level for `privilege` on `entity`; ``none`` when the role does not say."""
        levels: Mapping[str, str] = self.privileges.get(entity, _NO_LEVELS)
        return levels.get(privilege, "none")

    @classmethod
    def from_document(cls, document: Mapping[str, Any], layer: str | None = None) -> RoleDef:
        """Parse a schema-valid role document."""
        return cls(
            key=document["key"],
            label=MappingProxyType(dict(document["label"])),
            privileges=MappingProxyType(
                {
                    entity: MappingProxyType(dict(levels))
                    for entity, levels in document["privileges"].items()
                }
            ),
            description=_localized(document.get("description")),
            locked=bool(document.get("locked", False)),
            layer=layer,
            administer=bool(document.get("administer", False)),
        )


@dataclass(frozen=True)
class FieldSecurityDef:
    """For one role and entity, each listed field's access: hidden, masked, read or edit."""

    key: str
    role: str
    entity: str
    fields: Mapping[str, str]
    label: Localized | None = None
    locked: bool = False
    layer: str | None = None

    def access(self, field_key: str, default: str = "edit") -> str:
        """The access to `field_key`; `default` for fields the profile does not list."""
        return self.fields.get(field_key, default)

    @classmethod
    def from_document(
        cls, document: Mapping[str, Any], layer: str | None = None
    ) -> FieldSecurityDef:
        """Parse a schema-valid field security document."""
        return cls(
            key=document["key"],
            role=document["role"],
            entity=document["entity"],
            fields=MappingProxyType(dict(document["fields"])),
            label=_localized(document.get("label")),
            locked=bool(document.get("locked", False)),
            layer=layer,
        )


@dataclass(frozen=True)
class UnitTarget:
    """An org unit, optionally with every unit below it."""

    unit: str
    include_subtree: bool = False

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> UnitTarget:
        """Parse ``sharing_rule.schema.json#/$defs/unit_target``."""
        return cls(document["unit"], bool(document.get("include_subtree", False)))


@dataclass(frozen=True)
class SharingRuleDef:
    """Records of `entity` matching `condition` are shared with `target` at `access`."""

    key: str
    label: Localized
    entity: str
    condition: Condition
    target: UnitTarget
    access: str
    locked: bool = False
    layer: str | None = None

    @classmethod
    def from_document(cls, document: Mapping[str, Any], layer: str | None = None) -> SharingRuleDef:
        """Parse a schema-valid sharing rule document."""
        return cls(
            key=document["key"],
            label=MappingProxyType(dict(document["label"])),
            entity=document["entity"],
            condition=copy.deepcopy(document["condition"]),
            target=UnitTarget.from_document(document["target"]),
            access=document["access"],
            locked=bool(document.get("locked", False)),
            layer=layer,
        )


@dataclass(frozen=True)
class RestrictionRuleDef:
    """Records of `entity` matching `condition` are hidden from `roles` and `units`."""

    key: str
    label: Localized
    entity: str
    condition: Condition
    roles: tuple[str, ...] = ()
    units: tuple[UnitTarget, ...] = ()
    locked: bool = False
    layer: str | None = None

    @classmethod
    def from_document(
        cls, document: Mapping[str, Any], layer: str | None = None
    ) -> RestrictionRuleDef:
        """Parse a schema-valid restriction rule document."""
        applies = document["applies_to"]
        return cls(
            key=document["key"],
            label=MappingProxyType(dict(document["label"])),
            entity=document["entity"],
            condition=copy.deepcopy(document["condition"]),
            roles=tuple(applies.get("roles", ())),
            units=tuple(UnitTarget.from_document(u) for u in applies.get("units", ())),
            locked=bool(document.get("locked", False)),
            layer=layer,
        )


# --- organisation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitKindDef:
    """A level of the organisation (group, subsidiary, branch...); `level` 0 is the top."""

    key: str
    label: Localized
    legal_entity: bool = False
    level: int = 0
    document: str | None = None
    layer: str | None = None


def parse_unit_kinds(document: Mapping[str, Any], layer: str | None = None) -> list[UnitKindDef]:
    """The unit kinds of a schema-valid unit_kinds document, top down."""
    return [
        UnitKindDef(
            key=k["key"],
            label=MappingProxyType(dict(k["label"])),
            legal_entity=bool(k.get("legal_entity", False)),
            level=index,
            document=document["key"],
            layer=layer,
        )
        for index, k in enumerate(document["kinds"])
    ]


def _default_kind(level: int, key: str, en: str, hans: str, hant: str, legal: bool) -> UnitKindDef:
    label = MappingProxyType({"en": en, "zh-Hans": hans, "zh-Hant": hant})
    return UnitKindDef(key=key, label=label, legal_entity=legal, level=level)


DEFAULT_UNIT_KINDS: Mapping[str, UnitKindDef] = MappingProxyType(
    {
        k.key: k
        for k in (
            _default_kind(0, "group", "Group", "集团", "集團", True),
            _default_kind(1, "business_unit", "Business unit", "事业部", "事業部", False),
            _default_kind(2, "subsidiary", "Subsidiary", "子公司", "子公司", True),
            _default_kind(3, "branch", "Branch", "分公司", "分公司", False),
            _default_kind(4, "department", "Department", "部门", "部門", False),
            _default_kind(5, "team", "Team", "团队", "團隊", False),
        )
    }
)
"""The unit kinds of a tenant whose configuration has no unit_kinds document."""


PARSERS: Mapping[str, Callable[[Mapping[str, Any], str | None], Any]] = MappingProxyType(
    {
        "form": FormDef.from_document,
        "list_view": ListViewDef.from_document,
        "role": RoleDef.from_document,
        "field_security": FieldSecurityDef.from_document,
        "sharing_rule": SharingRuleDef.from_document,
        "restriction_rule": RestrictionRuleDef.from_document,
    }
)
"""Parsers of the kinds that map one document to one object (entities are merged in `layers`)."""


# --- the effective configuration --------------------------------------------------------------


def _proxy(mapping: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Configuration:
    """The effective configuration of one unit (None: the tenant's HQ layer alone).

    `documents` maps (kind, key) to the raw document in effect, entities with the
    fields and overrides of every layer merged in; it is what diffs compare.
    `default_forms` and `default_list_views` map an entity key to the key of the
    default chosen by the closest layer.
    """

    unit_key: str | None = None
    entities: Mapping[str, EntityDef] = field(default_factory=_proxy)
    forms: Mapping[str, FormDef] = field(default_factory=_proxy)
    list_views: Mapping[str, ListViewDef] = field(default_factory=_proxy)
    roles: Mapping[str, RoleDef] = field(default_factory=_proxy)
    field_security: Mapping[str, FieldSecurityDef] = field(default_factory=_proxy)
    sharing_rules: Mapping[str, SharingRuleDef] = field(default_factory=_proxy)
    restriction_rules: Mapping[str, RestrictionRuleDef] = field(default_factory=_proxy)
    unit_kinds: Mapping[str, UnitKindDef] = field(default_factory=lambda: DEFAULT_UNIT_KINDS)
    documents: Mapping[tuple[str, str], Mapping[str, Any]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    default_forms: Mapping[str, str] = field(default_factory=_proxy)
    default_list_views: Mapping[str, str] = field(default_factory=_proxy)

    def entity(self, key: str) -> EntityDef:
        """The entity with this key; `UnknownMetadataItem` if the configuration has none."""
        try:
            return self.entities[key]
        except KeyError:
            raise UnknownMetadataItem("entity", key, "the configuration", self.entities) from None

    def has_entity(self, key: str) -> bool:
        """True when the configuration defines entity `key`."""
        return key in self.entities

    def forms_for(self, entity_key: str) -> tuple[FormDef, ...]:
        """The forms of an entity, in configuration order."""
        return tuple(f for f in self.forms.values() if f.entity == entity_key)

    def list_views_for(self, entity_key: str) -> tuple[ListViewDef, ...]:
        """The list views of an entity, in configuration order."""
        return tuple(v for v in self.list_views.values() if v.entity == entity_key)

    def default_form(self, entity_key: str) -> FormDef | None:
        """The closest layer's default form of the entity, else its first form, else None."""
        key = self.default_forms.get(entity_key)
        if key is not None:
            return self.forms[key]
        return next(iter(self.forms_for(entity_key)), None)

    def default_list_view(self, entity_key: str) -> ListViewDef | None:
        """The closest layer's default list view of the entity, else its first, else None."""
        key = self.default_list_views.get(entity_key)
        if key is not None:
            return self.list_views[key]
        return next(iter(self.list_views_for(entity_key)), None)

    def field_security_for(self, role_key: str, entity_key: str) -> FieldSecurityDef | None:
        """The field security profile of a role on an entity, or None when it has none."""
        return next(
            (
                p
                for p in self.field_security.values()
                if p.role == role_key and p.entity == entity_key
            ),
            None,
        )

    def sharing_rules_for(self, entity_key: str) -> tuple[SharingRuleDef, ...]:
        """The sharing rules of an entity."""
        return tuple(r for r in self.sharing_rules.values() if r.entity == entity_key)

    def restriction_rules_for(self, entity_key: str) -> tuple[RestrictionRuleDef, ...]:
        """The restriction rules of an entity."""
        return tuple(r for r in self.restriction_rules.values() if r.entity == entity_key)

    def entities_in_nav_order(self) -> tuple[EntityDef, ...]:
        """Entities by `nav_order` (those without one last), then by key."""
        return tuple(
            sorted(
                self.entities.values(),
                key=lambda e: (e.nav_order is None, e.nav_order or 0, e.key),
            )
        )

    def iter_documents(self, kind: str) -> Iterator[Mapping[str, Any]]:
        """The raw documents in effect of one kind."""
        return (doc for (k, _key), doc in self.documents.items() if k == kind)

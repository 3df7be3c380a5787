"""An entity with user and org unit fields, published beside `world.DOCUMENTS` for picker tests.

A visit names its host (a user) and the hosting unit (an org unit); it has no
form document, so the fallback form places every field.
"""

from __future__ import annotations

from tests.web.world import DOCUMENTS


def _label(en: str, hans: str, hant: str) -> dict[str, str]:
    return {"en": en, "zh-Hans": hans, "zh-Hant": hant}


VISIT = {
    "kind": "entity",
    "key": "visit",
    "label": _label("Visit", "拜访", "拜訪"),
    "plural_label": _label("Visits", "拜访", "拜訪"),
    "ownership": "user_owned",
    "title_field": "subject",
    "search_fields": ["subject"],
    "nav_order": 30,
    "fields": [
        {"key": "subject", "label": _label("Subject", "主题", "主題"), "type": "text",
         "required": True},
        {"key": "host", "label": _label("Host", "接待人", "接待人"), "type": "user"},
        {"key": "hosting_unit", "label": _label("Hosting unit", "接待单位", "接待單位"),
         "type": "org_unit"},
    ],
}  # fmt: skip

PICKER_DOCUMENTS = [*DOCUMENTS, VISIT]
"""The web tests' configuration with the visit entity added."""

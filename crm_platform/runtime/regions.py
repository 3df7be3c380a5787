"""China's administrative divisions (GB/T 2260 six-digit codes) for region fields and pickers.

The data ships with the package (`data/regions.json`, generated from a published GB/T 2260
dataset whose provenance is recorded in its `source` key) and is read once, lazily, on
first use; it is read-only, so one in-process copy serves every tenant.

Levels: `province` (province-level units, code ``XX0000``), `city` (prefecture-level,
``XXYY00``) and `district` (county-level: districts, counties, county-level cities,
banners). Districts of the four municipalities and the county-level units a province
administers directly (Henan's 济源, Hubei's 仙桃, Hainan's 五指山...) have the province
as their parent, so a picker's path has two steps for them instead of three.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

PROVINCE = "province"
CITY = "city"
DISTRICT = "district"
LEVELS = (PROVINCE, CITY, DISTRICT)


@dataclass(frozen=True)
class Region:
    """One administrative division: its code, localized names (en, zh-Hans, zh-Hant), level."""

    code: str
    name: MappingProxyType[str, str]
    level: str
    parent_code: str | None = None

    def label(self, locale: str) -> str:
        """The name in `locale`, falling back to Simplified Chinese, then English."""
        return self.name.get(locale) or self.name.get("zh-Hans") or self.name["en"]


@dataclass(frozen=True)
class _Index:
    by_code: dict[str, Region]
    children: dict[str | None, tuple[Region, ...]]
    source: dict[str, Any]


def _parent_code(code: str, level: str, known: set[str]) -> str | None:
    if level == PROVINCE:
        return None
    province = code[:2] + "0000"
    if level == CITY:
        return province
    city = code[:4] + "00"
    return city if city in known else province


@cache
def _index() -> _Index:
    text = resources.files(__package__).joinpath("data/regions.json").read_text("utf-8")
    raw = json.loads(text)
    known = {entry["code"] for entry in raw["regions"]}
    by_code: dict[str, Region] = {}
    children: dict[str | None, list[Region]] = {}
    for entry in sorted(raw["regions"], key=lambda item: item["code"]):
        level = entry["level"]
        parent = _parent_code(entry["code"], level, known)
        item = Region(
            code=entry["code"],
            name=MappingProxyType(dict(entry["name"])),
            level=level,
            parent_code=parent,
        )
        by_code[item.code] = item
        children.setdefault(parent, []).append(item)
    return _Index(
        by_code=by_code,
        children={key: tuple(value) for key, value in children.items()},
        source=dict(raw["source"]),
    )


def region(code: str) -> Region | None:
    """The region with this six-digit code, or None when the code is not a known division."""
    return _index().by_code.get(str(code))


def is_known(code: str) -> bool:
    """True when `code` is a division of the shipped GB/T 2260 dataset."""
    return str(code) in _index().by_code


def children(code: str | None = None) -> list[Region]:
    """The divisions directly under `code` (the provinces when `code` is None), by code.

    An unknown code has no children; a picker offers nothing below it.
    """
    return list(_index().children.get(code, ()))


def path(code: str) -> list[Region]:
    """The chain province -> city -> district ending at `code`; empty for an unknown code."""
    index = _index()
    chain: list[Region] = []
    current = index.by_code.get(str(code))
    while current is not None:
        chain.append(current)
        current = index.by_code.get(current.parent_code) if current.parent_code else None
    return chain[::-1]


def all_regions(level: str | None = None) -> list[Region]:
    """Every known division (of one level when `level` is given), ordered by code."""
    regions = _index().by_code.values()
    return [item for item in regions if level is None or item.level == level]


def source() -> dict[str, Any]:
    """Where the dataset comes from (standard, revision, dataset and licence, name sources)."""
    return dict(_index().source)

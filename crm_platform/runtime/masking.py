"""Masked values that keep their shape: ``138****5678``, ``张**``, ``z***@example.com``.

A masked field tells the user that a value is there and roughly what it looks
like (enough to recognise a contact on the phone) without revealing it. Each
field type has one small masking function; types whose value would leak through
any partial form (amounts, dates, references) are hidden entirely: masked to None.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

MASK = "*"
_MAINLAND_PREFIX = "+86"


def mask_phone(value: Any) -> str:
    """Keep the first three and last four digits: ``13812345678`` -> ``138****5678``.

    An E.164 mainland number keeps its ``+86`` prefix: ``+86138****5678``.
    """
    text = str(value)
    prefix = ""
    if text.startswith(_MAINLAND_PREFIX):
        prefix, text = _MAINLAND_PREFIX, text[len(_MAINLAND_PREFIX) :]
    if len(text) <= 7:
        return prefix + MASK * len(text)
    return prefix + text[:3] + MASK * (len(text) - 7) + text[-4:]


def mask_name(value: Any) -> str:
    """Keep the first character: ``张三丰`` -> ``张**``, ``Smith`` -> ``S****``."""
    text = str(value)
    if not text:
        return text
    return text[0] + MASK * max(len(text) - 1, 1)


def mask_email(value: Any) -> str:
    """Keep the first letter and the domain: ``zhang.wei@example.com`` -> ``z***@example.com``."""
    text = str(value)
    local, at, domain = text.partition("@")
    if not at:
        return mask_name(text)
    return (local[:1] or MASK) + MASK * 3 + "@" + domain


def mask_code(value: Any) -> str:
    """Keep the first and last two characters of a code (USCC, URL...)."""
    text = str(value)
    if len(text) <= 4:
        return MASK * len(text)
    return text[:2] + MASK * (len(text) - 4) + text[-2:]


def hide(value: Any) -> None:
    """Nothing of the value is shown (amounts, dates, references)."""
    return None


MASKS: Mapping[str, Callable[[Any], Any]] = MappingProxyType(
    {
        "text": mask_name,
        "long_text": mask_name,
        "email": mask_email,
        "phone": mask_phone,
        "uscc": mask_code,
        "url": mask_code,
        "integer": hide,
        "decimal": hide,
        "money": hide,
        "percent": hide,
        "boolean": hide,
        "date": hide,
        "datetime": hide,
        "choice": hide,
        "multi_choice": hide,
        "reference": hide,
        "user": hide,
        "org_unit": hide,
        "region": hide,
    }
)
"""Field type -> how a masked value of that type is shown."""


def mask_value(field_type: str, value: Any) -> Any:
    """The masked form of one value (None stays None: an empty field shows as empty)."""
    if value is None:
        return None
    mask: Callable[[Any], Any] = MASKS.get(field_type, hide)
    return mask(value)

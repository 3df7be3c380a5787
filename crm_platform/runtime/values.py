"""Validation and normalisation of field values, one small function per field type.

The record service calls `validate_values` for a whole record (every problem at
once, keyed by field, in the user's locale) or `normalize_value` for one value.
Stored forms, decided once:

- text: NFC-normalised, trimmed; long_text keeps inner and trailing whitespace
  but a whitespace-only value is empty. max_length and pattern (``re.fullmatch``)
  apply to text, long_text, email, phone and url, on the normalised value.
- integer: ``int``; decimal, percent: ``Decimal`` with at most `scale` places
  (decimal 4, percent 2 by default, as the columns are generated); money:
  ``{"amount": Decimal, "currency": "CNY"}`` with at most `scale` (default 2)
  places, a plain amount taking the field's currency. Numbers may come as
  strings, with full-width digits or thousands separators (``1,234.50``); a
  percent may end in ``%``. Values must fit ``NUMERIC(18, scale)``.
- boolean: from a bool, 1/0, or true/false, yes/no, on/off, 1/0, 是/否 as text.
- date: ``date`` from a date or ``YYYY-MM-DD``; datetime: an aware ``datetime``
  in UTC, from an aware datetime or ISO 8601 text with a time zone (naive
  values are refused: nobody can tell which zone they meant).
- choice: an option key; multi_choice: a list of option keys, deduplicated in
  their first order.
- reference, user, org_unit: a positive ``int`` id (existence is the record
  service's check).
- email: trimmed, domain lower-cased (IDN domains in punycode), local part kept.
- phone: E.164, see `crm_platform.runtime.phones`.
- url: http or https with a host; scheme and host lower-cased.
- region: a known GB/T 2260 code (`crm_platform.runtime.regions`).
- uscc: upper-cased, check character verified (`crm_platform.runtime.uscc`).

An empty value (None, blank text, empty list) is stored as None; it fails only
a required field.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from crm_platform.errors import ErrorCode
from crm_platform.runtime import regions
from crm_platform.runtime.errors import RuntimeFailure
from crm_platform.runtime.phones import normalize_cn_phone
from crm_platform.runtime.uscc import has_uscc_shape
from crm_platform.runtime.uscc import is_valid_uscc as is_valid_uscc
from crm_platform.runtime.uscc import uscc_check_character as uscc_check_character
from crm_platform.runtime.value_messages import message

PROVINCE_CODES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 "
    "64 65 71 81 82".split()
)
NUMERIC_PRECISION = 18
DEFAULT_SCALES: Mapping[str, int] = {"decimal": 4, "money": 2, "percent": 2}
DEFAULT_CURRENCY = "CNY"
INTEGER_LIMIT = 2**63 - 1


class OptionLike(Protocol):
    """A choice option: records store its key."""

    @property
    def key(self) -> str: ...


class FieldLike(Protocol):
    """What validation reads of a field definition (`crm_platform.metadata.model.FieldDef`)."""

    @property
    def key(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def required(self) -> bool: ...
    @property
    def min(self) -> float | None: ...
    @property
    def max(self) -> float | None: ...
    @property
    def max_length(self) -> int | None: ...
    @property
    def pattern(self) -> str | None: ...
    @property
    def options(self) -> Sequence[OptionLike]: ...
    @property
    def currency(self) -> str | None: ...
    @property
    def scale(self) -> int | None: ...


class ValueProblem(RuntimeFailure):
    """One value is not valid for its field; the message is in the caller's locale.

    `reason` is a stable key of `value_messages.MESSAGES` (``too_long``,
    ``uscc_check``...), `params` what was filled into the message.
    """

    code = ErrorCode.INVALID_RECORD

    def __init__(self, message: str, reason: str = "", params: Mapping[str, Any] | None = None):
        self.message = message
        self.reason = reason
        self.params = dict(params or {})
        super().__init__(message)


class _Invalid(Exception):
    """Raised by a type's normaliser; `normalize_value` localises it into `ValueProblem`."""

    def __init__(self, reason: str, params: Mapping[str, Any]):
        super().__init__(reason)
        self.reason = reason
        self.params = params


def _invalid(reason: str, **params: Any) -> _Invalid:
    return _Invalid(reason, params)


Normalizer = Callable[[FieldLike, Any], Any]


# Emptiness and text ----------------------------------------------------------------------------


def is_empty(raw: Any) -> bool:
    """True for None, blank text, an empty list, money without amount: stored as None."""
    if raw is None:
        return True
    if isinstance(raw, str):
        return not raw.strip()
    if isinstance(raw, list | tuple | set | frozenset):
        return len(raw) == 0
    if isinstance(raw, Mapping):  # a money value without an amount
        return set(raw) <= {"amount", "currency"} and is_empty(raw.get("amount"))
    return False


def _plain_text(raw: Any) -> str:
    if isinstance(raw, bool) or not isinstance(raw, str | int | Decimal):
        raise _invalid("not_text")
    return unicodedata.normalize("NFC", str(raw))


def _text_limits(field: FieldLike, text: str) -> str:
    if field.max_length is not None and len(text) > field.max_length:
        raise _invalid("too_long", max_length=field.max_length, length=len(text))
    if field.pattern and re.fullmatch(field.pattern, text) is None:
        raise _invalid("pattern", pattern=field.pattern)
    return text


def _text(field: FieldLike, raw: Any) -> str:
    return _text_limits(field, _plain_text(raw).strip())


def _long_text(field: FieldLike, raw: Any) -> str:
    return _text_limits(field, _plain_text(raw).lstrip("\r\n"))


# Numbers ---------------------------------------------------------------------------------------

_GROUPED = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")


def _parse_decimal(raw: Any, reason: str) -> Decimal:
    if isinstance(raw, bool):
        raise _invalid(reason)
    if isinstance(raw, int | Decimal):
        value = Decimal(raw)
    elif isinstance(raw, float):
        value = Decimal(repr(raw))
    elif isinstance(raw, str):
        text = unicodedata.normalize("NFKC", raw).strip().replace(" ", "")
        if _GROUPED.match(text):
            text = text.replace(",", "")
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise _invalid(reason) from None
    else:
        raise _invalid(reason)
    if not value.is_finite():
        raise _invalid(reason)
    return value


def _number_text(value: float) -> str:
    """A bound as people write it: 0 rather than 0.0, 1000000 rather than 1E+6."""
    return f"{Decimal(repr(value)).normalize():f}"


def _check_bounds(field: FieldLike, value: Decimal) -> None:
    if field.min is not None and value < Decimal(repr(field.min)):
        raise _invalid("too_small", min=_number_text(field.min))
    if field.max is not None and value > Decimal(repr(field.max)):
        raise _invalid("too_large", max=_number_text(field.max))


def _integer(field: FieldLike, raw: Any) -> int:
    value = _parse_decimal(raw, "not_integer")
    if value != value.to_integral_value():
        raise _invalid("not_integer")
    if abs(value) > INTEGER_LIMIT:
        raise _invalid("out_of_range", digits=len(str(INTEGER_LIMIT)) - 1)
    _check_bounds(field, value)
    return int(value)


def _scaled(field: FieldLike, value: Decimal) -> Decimal:
    """`value` with exactly the field's scale, refusing extra places and oversize values."""
    scale = field.scale if field.scale is not None else DEFAULT_SCALES.get(field.type, 4)
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # finite values only reach here
    if -exponent > scale:
        raise _invalid("too_many_places", scale=scale)
    digits = NUMERIC_PRECISION - scale
    if abs(value) >= Decimal(10) ** digits:
        raise _invalid("out_of_range", digits=digits)
    _check_bounds(field, value)
    return value.quantize(Decimal(1).scaleb(-scale))


def _decimal(field: FieldLike, raw: Any) -> Decimal:
    return _scaled(field, _parse_decimal(raw, "not_number"))


def _percent(field: FieldLike, raw: Any) -> Decimal:
    if isinstance(raw, str):
        raw = unicodedata.normalize("NFKC", raw).strip().removesuffix("%")
    return _scaled(field, _parse_decimal(raw, "not_number"))


_CURRENCY = re.compile(r"^[A-Z]{3}$")


def _money(field: FieldLike, raw: Any) -> dict[str, Any]:
    currency: Any = field.currency or DEFAULT_CURRENCY
    amount = raw
    if isinstance(raw, Mapping):
        if "amount" not in raw or set(raw) - {"amount", "currency"}:
            raise _invalid("not_money")
        amount = raw["amount"]
        currency = raw.get("currency") or currency
    if not isinstance(currency, str) or not _CURRENCY.match(currency.strip().upper()):
        raise _invalid("not_currency")
    if is_empty(amount):
        raise _invalid("not_money")
    value = _scaled(field, _parse_decimal(amount, "not_number"))
    return {"amount": value, "currency": currency.strip().upper()}


# Booleans, dates, times ------------------------------------------------------------------------

_BOOLEAN_WORDS: Mapping[str, bool] = {
    "true": True,
    "false": False,
    "1": True,
    "0": False,
    "on": True,
    "off": False,
    "yes": True,
    "no": False,
    "是": True,
    "否": False,
}


def _boolean(field: FieldLike, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str) and raw.strip().lower() in _BOOLEAN_WORDS:
        return _BOOLEAN_WORDS[raw.strip().lower()]
    raise _invalid("not_boolean")


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _date(field: FieldLike, raw: Any) -> date:
    if isinstance(raw, datetime):
        raise _invalid("not_date")
    if isinstance(raw, date):
        return raw
    if isinstance(raw, str) and _ISO_DATE.match(raw.strip()):
        try:
            return date.fromisoformat(raw.strip())
        except ValueError:
            pass
    raise _invalid("not_date")


_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _datetime(field: FieldLike, raw: Any) -> datetime:
    if isinstance(raw, datetime):
        moment = raw
    elif isinstance(raw, str) and _ISO_DATETIME.match(raw.strip()):
        try:
            moment = datetime.fromisoformat(raw.strip())
        except ValueError:
            raise _invalid("not_datetime") from None
    else:
        raise _invalid("not_datetime")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise _invalid("needs_timezone")
    return moment.astimezone(UTC)


# Choices and ids -------------------------------------------------------------------------------


_OPTION_KEYS: dict[int, tuple[Any, frozenset[str], tuple[str, ...]]] = {}


def _option_keys(field: FieldLike) -> tuple[frozenset[str], tuple[str, ...]]:
    """The option keys of a choice field, as a set to test and in order to list.

    Remembered per options tuple (metadata is immutable), as an import checks the
    same few options hundreds of thousands of times.
    """
    options = field.options
    cached = _OPTION_KEYS.get(id(options))
    if cached is None or cached[0] is not options:
        ordered = tuple(option.key for option in options)
        cached = (options, frozenset(ordered), ordered)
        if len(_OPTION_KEYS) > 4096:
            _OPTION_KEYS.clear()
        _OPTION_KEYS[id(options)] = cached
    return cached[1], cached[2]


def _choice(field: FieldLike, raw: Any) -> str:
    keys, ordered = _option_keys(field)
    key = raw.strip() if isinstance(raw, str) else None
    if key not in keys:
        raise _invalid("not_option", value=repr(raw), options=", ".join(ordered))
    return key


def _multi_choice(field: FieldLike, raw: Any) -> list[str]:
    if not isinstance(raw, list | tuple):
        raise _invalid("not_option_list", options=", ".join(_option_keys(field)[1]))
    chosen: list[str] = []
    for item in raw:
        key = _choice(field, item)
        if key not in chosen:
            chosen.append(key)
    return chosen


def _record_id(field: FieldLike, raw: Any) -> int:
    if isinstance(raw, bool):
        raise _invalid("not_id")
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw.strip())
    if not isinstance(raw, int) or raw <= 0 or raw > INTEGER_LIMIT:
        raise _invalid("not_id")
    return raw


# Addresses and codes ---------------------------------------------------------------------------

_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_TOP_LABEL = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")


def _host(text: str) -> str | None:
    """The lower-case ASCII (punycode) form of a DNS host name, or None when it is not one."""
    try:
        host = text.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    labels = host.split(".")
    if len(host) > 253 or len(labels) < 2 or not _TOP_LABEL.match(labels[-1]):
        return None
    if not all(_LABEL.match(label) for label in labels):
        return None
    return host


def _email(field: FieldLike, raw: Any) -> str:
    text = _plain_text(raw).strip()
    local, at, domain = text.rpartition("@")
    if not at or len(local) > 64 or not _LOCAL_PART.match(local):
        raise _invalid("not_email")
    host = _host(domain)
    if host is None or len(local) + 1 + len(host) > 254:
        raise _invalid("not_email")
    return _text_limits(field, f"{local}@{host}")


def _phone(field: FieldLike, raw: Any) -> str:
    normalized = normalize_cn_phone(_plain_text(raw))
    if normalized is None:
        raise _invalid("not_phone")
    return _text_limits(field, normalized)


_IPV4 = re.compile(r"^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)$")


def _url(field: FieldLike, raw: Any) -> str:
    text = _plain_text(raw).strip()
    if any(character.isspace() for character in text):
        raise _invalid("not_url")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise _invalid("not_url") from None
    hostname = parts.hostname or ""
    host = hostname if _IPV4.match(hostname) or hostname == "localhost" else _host(hostname)
    if parts.scheme.lower() not in ("http", "https") or not host or parts.username is not None:
        raise _invalid("not_url")
    netloc = host if port is None else f"{host}:{port}"
    normalized = urlunsplit((parts.scheme.lower(), netloc, parts.path, parts.query, parts.fragment))
    return _text_limits(field, normalized)


_REGION = re.compile(r"^\d{6}$")


def _region(field: FieldLike, raw: Any) -> str:
    code = unicodedata.normalize("NFKC", _plain_text(raw)).strip()
    if not _REGION.match(code):
        raise _invalid("region_format")
    if code[:2] not in PROVINCE_CODES:
        raise _invalid("region_province", code=code)
    if not regions.is_known(code):
        raise _invalid("region_unknown", code=code)
    return code


def _uscc(field: FieldLike, raw: Any) -> str:
    code = unicodedata.normalize("NFKC", _plain_text(raw)).strip().upper()
    code = code.replace(" ", "").replace("-", "")
    if not has_uscc_shape(code):
        raise _invalid("uscc_format")
    if uscc_check_character(code[:17]) != code[17]:
        raise _invalid("uscc_check")
    return code


NORMALIZERS: Mapping[str, Normalizer] = {
    "text": _text,
    "long_text": _long_text,
    "integer": _integer,
    "decimal": _decimal,
    "money": _money,
    "percent": _percent,
    "boolean": _boolean,
    "date": _date,
    "datetime": _datetime,
    "choice": _choice,
    "multi_choice": _multi_choice,
    "reference": _record_id,
    "user": _record_id,
    "org_unit": _record_id,
    "email": _email,
    "phone": _phone,
    "url": _url,
    "region": _region,
    "uscc": _uscc,
}
"""The normaliser of each field type: (field, non-empty raw value) -> stored value."""


def normalize_value(field: FieldLike, raw: Any, locale: str = "en") -> Any:
    """The stored form of `raw` for `field`, None when it is empty.

    Raises `ValueProblem` (message in `locale`) when the value is not valid;
    an empty value is not a problem here, `validate_values` checks `required`.
    """
    if is_empty(raw):
        return None
    try:
        return NORMALIZERS[field.type](field, raw)
    except _Invalid as problem:
        raise ValueProblem(
            message(problem.reason, locale, **problem.params), problem.reason, problem.params
        ) from None


def validate_values(
    fields: Sequence[FieldLike],
    values: Mapping[str, Any],
    locale: str,
    *,
    partial: bool,
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Normalise every value of a record; return (normalised values, errors by field key).

    Only keys present in `values` are returned. A required field fails when its
    value is empty, or, unless `partial` (an update naming only what changes),
    when it is missing. A key that is no field of `fields` is an error too, so
    nothing a caller sends is silently dropped.
    """
    return RecordValidator(fields).validate(values, locale, partial=partial)


class RecordValidator:
    """`validate_values` for many records of one entity, with the field lookups done once.

    An import validates every row against the same fields; building the key map
    and the normaliser of each field once per import, not once per row, is a
    fifth of the validation's time.
    """

    def __init__(self, fields: Sequence[FieldLike]):
        self._fields = tuple(fields)
        self._keys = frozenset(field.key for field in self._fields)
        self._plan = tuple(
            (field.key, field, NORMALIZERS[field.type], bool(field.required))
            for field in self._fields
        )

    def validate(
        self, values: Mapping[str, Any], locale: str, *, partial: bool
    ) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """(normalised values, errors by field key) of one record, as `validate_values`."""
        normalized: dict[str, Any] = {}
        errors: dict[str, list[str]] = {}
        if not self._keys.issuperset(values):
            for key in values:
                if key not in self._keys:
                    errors[key] = [message("unknown_field", locale)]
        for key, field, normalize, required in self._plan:
            if key not in values:
                if required and not partial:
                    errors[key] = [message("required", locale)]
                continue
            raw = values[key]
            if is_empty(raw):
                value = None
            else:
                try:
                    value = normalize(field, raw)
                except _Invalid as problem:
                    errors[key] = [message(problem.reason, locale, **problem.params)]
                    continue
            if value is None and required:
                errors[key] = [message("required", locale)]
                continue
            normalized[key] = value
        return normalized, errors

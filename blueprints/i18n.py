"""Languages: which one a request uses, and locale-aware formatting of dates, numbers and money.

The platform speaks in tags as metadata spells them (``zh-Hans``, ``zh-Hant``,
``en``); Babel's catalogs and formatting use its identifiers (``zh_Hans``...).
A signed-in user's own setting wins, then a choice made before signing in
(kept in the signed session cookie), then the browser's Accept-Language.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from babel import Locale
from babel.numbers import (
    NumberPattern,
    format_compact_decimal,
    format_currency,
    get_currency_symbol,
    parse_pattern,
)
from babel.support import NullTranslations
from flask import Flask, g, request, session
from flask_babel import Babel, get_translations
from flask_login import current_user

from blueprints.compiled_formats import date_formatter, datetime_formatter
from blueprints.template_text import template_callables

LANGUAGES: dict[str, str] = {"zh-Hans": "简体中文", "zh-Hant": "繁體中文", "en": "English"}
"""The UI languages, by tag, with the name each has in its own language (for the switcher)."""

DEFAULT_LANGUAGE = "zh-Hans"
SESSION_KEY = "language"

_TRADITIONAL_REGIONS = ("tw", "hk", "mo")
_COMPACT_LANGUAGES = frozenset({"zh-Hans", "zh-Hant"})


@lru_cache(maxsize=16)
def babel_locale(language: str) -> Locale:
    """Babel's locale for a UI language tag (parsed once per process: Babel's data is static)."""
    return Locale.parse(language.replace("-", "_"))


@lru_cache(maxsize=64)
def _number_pattern(language: str, scale: int | None) -> NumberPattern:
    """The decimal pattern `format_decimal` would parse on every call, parsed once."""
    if scale is None:
        pattern: NumberPattern = babel_locale(language).decimal_formats[None]
        return pattern
    return parse_pattern("#,##0" + ("." + "0" * scale if scale else ""))


def language_of_header(accepted: list[str]) -> str | None:
    """The UI language that best serves an Accept-Language list, most preferred first."""
    for tag in accepted:
        lowered = tag.strip().lower().replace("_", "-")
        if lowered.startswith("zh"):
            parts = lowered.split("-")[1:]
            traditional = "hant" in parts or any(part in _TRADITIONAL_REGIONS for part in parts)
            return "zh-Hant" if traditional and "hans" not in parts else "zh-Hans"
        if lowered == "en" or lowered.startswith("en-"):
            return "en"
    return None


_BY_SPELLING = {language.lower(): language for language in LANGUAGES}


def normalise_language(tag: str | None) -> str | None:
    """`tag` if it is one of the UI languages (case-insensitively), else None."""
    if not tag:
        return None
    return _BY_SPELLING.get(tag.strip().lower().replace("_", "-"))


def current_language() -> str:
    """The UI language of this request: the user's setting, the session's, then the browser's.

    Asked for every label a page writes, so the answer is kept on the request,
    with what it was decided from: signing in or choosing a language during the
    request still changes it.
    """
    user = current_user._get_current_object() if current_user else None
    chosen = session.get(SESSION_KEY)
    basis = (user, getattr(user, "locale", None), chosen)
    found: tuple[tuple[Any, ...], str] | None = g.get("crm_language")
    if found is not None and found[0] == basis:
        return found[1]
    language = _language_of(user, chosen)
    g.crm_language = (basis, language)
    return language


def _language_of(user: Any, chosen: Any) -> str:
    if user is not None and user.is_authenticated:
        own = normalise_language(getattr(user, "locale", None))
        if own:
            return own
    from_session = normalise_language(chosen)
    if from_session:
        return from_session
    accepted = [value for value, _quality in request.accept_languages]
    return language_of_header(accepted) or DEFAULT_LANGUAGE


def _page_translations() -> NullTranslations:
    """Flask-Babel's translations of the request, looked up once for all of a page's `_()`."""
    found: NullTranslations | None = g.get("crm_translations")
    if found is None:
        found = g.crm_translations = get_translations()
    return found


def format_date_for(value: date | datetime | None, language: str) -> str:
    """A date in the language's medium format (``2026年11月24日``, ``Nov 24, 2026``)."""
    if value is None:
        return ""
    return date_formatter(babel_locale(language))(value)


def format_datetime_for(value: datetime | None, language: str, timezone: str) -> str:
    """A moment in the language's medium format, shown in `timezone`."""
    if value is None:
        return ""
    return datetime_formatter(babel_locale(language), timezone)(value)


def format_number_for(value: Any, language: str, scale: int | None = None) -> str:
    """A number with the language's grouping and decimal sign, to `scale` digits if given."""
    if value is None or value == "":
        return ""
    # As babel.numbers.format_decimal does, with the pattern and locale looked up once.
    text: str = _number_pattern(language, scale).apply(
        Decimal(str(value)),
        babel_locale(language),
        decimal_quantization=True,
        group_separator=True,
        numbering_system="latn",
    )
    return text


def format_money_for(
    amount: Any, currency: str | None, language: str, compact: bool = False
) -> str:
    """An amount with its currency; `compact` writes 1.23亿 / 45.6万 in Chinese (reports, lists)."""
    if amount is None or amount == "":
        return ""
    value = Decimal(str(amount))
    locale = babel_locale(language)
    if compact and language in _COMPACT_LANGUAGES and abs(value) >= 10_000:
        number = format_compact_decimal(value, locale=locale, fraction_digits=2)
        return f"{get_currency_symbol(currency, locale=locale)}{number}" if currency else number
    if not currency:
        return format_number_for(value, language, 2)
    return format_currency(value, currency, locale=locale)


def init_app(app: Flask) -> None:
    """Install Flask-Babel with the platform's locale selection and the formatting filters."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE.replace("-", "_"))
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai")
    Babel(app, locale_selector=lambda: current_language().replace("-", "_"))
    # Flask-Babel's template callables find the request's translations anew for each
    # `_()`; a page has dozens. Its locale is fixed for the request, so the
    # translations are too.
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: _page_translations().ugettext(s),
        ngettext=lambda s, p, n: _page_translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: _page_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: _page_translations().unpgettext(c, s, p, n),
    )
    # The same `_`, `gettext` and `ngettext`, one call each instead of three.
    app.jinja_env.globals.update(template_callables(_page_translations))
    app.jinja_env.filters.update(
        date=lambda value: format_date_for(value, current_language()),
        datetime=lambda value: format_datetime_for(
            value, current_language(), app.config["BABEL_DEFAULT_TIMEZONE"]
        ),
        number=lambda value, scale=None: format_number_for(value, current_language(), scale),
        money=lambda amount, currency=None, compact=False: format_money_for(
            amount, currency, current_language(), compact
        ),
    )
    app.context_processor(lambda: {"languages": LANGUAGES, "language": current_language()})

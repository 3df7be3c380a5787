"""`_()`, `gettext()` and `ngettext()` as templates call them: Jinja's new-style gettext, leaner.

Jinja's i18n extension reaches a translation through three `Context.call`s (its
`_` alias, its new-style wrapper, then the callable) and wraps and formats the
result anew on every call; a list page makes about thirty such calls, which
took a quarter of its rendering. These callables keep the extension's
behaviour (autoescaped results are `Markup`, the text is always a ``%`` format
so ``%%`` reads as ``%``, ``num`` is set for plurals unless given, and any
variable name may be used) with one call each, and
remember the finished text of a call without variables per catalog.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

from babel.support import NullTranslations
from jinja2.runtime import Context
from jinja2.utils import pass_context
from markupsafe import Markup

Catalog = Callable[[], NullTranslations]
"""The request's translations (looked up once per request by the caller)."""


def template_callables(catalog: Catalog) -> dict[str, Callable[..., str]]:
    """The Jinja globals that replace those `install_gettext_callables` set."""
    finished: WeakKeyDictionary[NullTranslations, dict[tuple[str, bool], str]] = WeakKeyDictionary()

    @pass_context
    def gettext(context: Context, string: str, /, **variables: Any) -> str:
        translations = catalog()
        autoescape = bool(context.eval_ctx.autoescape)
        if variables:
            return _formatted(translations.ugettext(string), autoescape, variables)
        known = finished.get(translations)
        if known is None:
            known = finished[translations] = {}
        text = known.get((string, autoescape))
        if text is None:
            text = known[(string, autoescape)] = _formatted(
                translations.ugettext(string), autoescape, {}
            )
        return text

    @pass_context
    def ngettext(
        context: Context, singular: str, plural: str, num: int, /, **variables: Any
    ) -> str:
        variables.setdefault("num", num)
        text = catalog().ungettext(singular, plural, num)
        return _formatted(text, bool(context.eval_ctx.autoescape), variables)

    return {"_": gettext, "gettext": gettext, "ngettext": ngettext}


def _formatted(text: str, autoescape: bool, variables: dict[str, Any]) -> str:
    # As jinja2.ext's new-style gettext: the catalogs' text is trusted markup, the
    # variables are escaped into it, and it is always formatted.
    return (Markup(text) if autoescape else text) % variables  # noqa: S704

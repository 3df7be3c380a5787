"""The templates' `_()` and `ngettext()` answer exactly as Jinja's new-style gettext does."""

from __future__ import annotations

import pytest
from babel.support import NullTranslations
from jinja2 import Environment

from blueprints.template_text import template_callables


class Catalog(NullTranslations):
    """A catalog from a dict: enough to tell a translated string from the original."""

    def __init__(self, messages: dict[str, str], plurals: dict[str, tuple[str, str]]):
        super().__init__()
        self.messages = messages
        self.plurals = plurals

    def gettext(self, message: str) -> str:
        return self.messages.get(message, message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        one, many = self.plurals.get(singular, (singular, plural))
        return one if n == 1 else many

    ugettext = gettext
    ungettext = ngettext


CHINESE = Catalog(
    {
        "Search": "搜索",
        "Apply": "筛选",
        "%(n)s selected": "已选择 %(n)s 条",
        "100%% sure": "百分之百",
    },
    {"%(num)s record": ("%(num)s 条记录", "%(num)s 条记录")},
)
ENGLISH = Catalog({}, {})

TEMPLATES = [
    '{{ _("Search") }}',
    '{{ _("Apply") }}|{{ _("Apply") }}',
    '{{ _("%(n)s selected", n=3) }}',
    '{{ _("%(n)s selected", n="<b>&</b>") }}',
    '{{ _("%(string)s selected", string="<b>") }}',
    '{{ _("100%% sure") }}',
    '{{ gettext("Not in the catalog") }}',
    '<p title="{{ _("Search") }}">{{ _("Apply") }}</p>',
    '{{ ngettext("%(num)s record", "%(num)s records", 1) }}',
    '{{ ngettext("%(num)s record", "%(num)s records", 7) }}',
    '{{ ngettext("%(num)s record", "%(num)s records", 2, num="<i>2</i>") }}',
    "{% trans %}Search{% endtrans %}",
    "{% trans count=5 %}{{ count }} record{% pluralize %}{{ count }} records{% endtrans %}",
]


def _environments(catalog: list[NullTranslations], autoescape: bool) -> tuple[Environment, ...]:
    """Jinja's own callables, and ours installed over them (as `blueprints.i18n` does)."""
    made = []
    for lean in (False, True):
        # Not escaping is what e-mail and plain-text templates would do; pinned as well.
        environment = Environment(extensions=["jinja2.ext.i18n"], autoescape=autoescape)  # noqa: S701
        # The lambdas read `catalog[0]` at each call: the tests switch catalogs between renders.
        environment.install_gettext_callables(  # type: ignore[attr-defined]
            gettext=lambda s: catalog[0].ugettext(s),  # noqa: PLW0108
            ngettext=lambda s, p, n: catalog[0].ungettext(s, p, n),  # noqa: PLW0108
            newstyle=True,
        )
        if lean:
            environment.globals.update(template_callables(lambda: catalog[0]))
        made.append(environment)
    return tuple(made)


@pytest.mark.parametrize("autoescape", [True, False])
@pytest.mark.parametrize("source", TEMPLATES)
def test_template_text_renders_as_jinjas_new_style_gettext(source: str, autoescape: bool) -> None:
    catalog: list[NullTranslations] = [CHINESE]
    jinja, lean = _environments(catalog, autoescape)
    for language in (CHINESE, ENGLISH, CHINESE):  # switching back finds the right text again
        catalog[0] = language
        assert lean.from_string(source).render() == jinja.from_string(source).render()


def test_variables_are_escaped_and_the_text_is_always_a_format() -> None:
    _jinja, lean = _environments([CHINESE], autoescape=True)
    assert lean.from_string(TEMPLATES[3]).render() == "已选择 &lt;b&gt;&amp;&lt;/b&gt; 条"
    assert lean.from_string('{{ _("100%% sure") }}').render() == "百分之百"
    assert lean.from_string('{{ _("Not %% translated") }}').render() == "Not % translated"


def test_a_page_in_another_language_is_not_given_the_remembered_text() -> None:
    catalog: list[NullTranslations] = [CHINESE]
    _jinja, lean = _environments(catalog, autoescape=True)
    template = lean.from_string('{{ _("Search") }}')
    assert template.render() == "搜索"
    catalog[0] = ENGLISH
    assert template.render() == "Search"
    catalog[0] = NullTranslations()
    assert template.render() == "Search"

"""The runtime UI's start page and generated list pages.

A list page is the hottest page of the product: it asks the record service for
one page and a capped count, and renders what the user may see of it.
"""

from __future__ import annotations

from flask import flash, render_template, request
from flask_babel import gettext as _
from flask_login import login_required

from blueprints.context import (
    capabilities,
    current_configuration,
    current_principal,
    entity_or_404,
    services,
)
from blueprints.i18n import current_language
from blueprints.listing import SCOPES, columns_of, parse_list_request
from blueprints.navigation import my_units, navigation
from blueprints.presenting import cell, label, resolve, show
from blueprints.record_routes import bp
from crm_platform.metadata.conditions import ConditionError
from crm_platform.metadata.model import localize
from crm_platform.runtime.errors import InvalidOperation
from crm_platform.runtime.record_queries import Count, Page

COUNT_CAP = 10_000


@bp.get("/")
@login_required
def home() -> str:
    """The start page: the entities the user may work with."""
    return render_template("records/home.html", items=navigation())


@bp.get("/r/<entity>/")
@login_required
def list_records(entity: str) -> str:
    """The entity's list view: columns, sort, search, filters, keyset pages, a capped count."""
    entity_def = entity_or_404(entity)
    view = current_configuration().default_list_view(entity)
    caps = capabilities(entity)
    wanted = parse_list_request(request.args, entity_def, view, caps.field_levels, caps.sortable)
    condition = wanted.condition(view)
    principal = current_principal()
    service = services().records
    search = wanted.search or None
    try:
        page = service.list(
            principal,
            entity,
            filter=condition,
            search=search,
            sort=wanted.service_sort(view),
            page_size=view.page_size if view is not None else 50,
            cursor=wanted.cursor,
        )
        count = service.count(principal, entity, filter=condition, search=search, cap=COUNT_CAP)
    except (InvalidOperation, ConditionError) as problem:
        flash(
            _("This list cannot be shown with these settings: %(problem)s", problem=problem),
            "error",
        )
        page, count = Page([], None, None), Count(0, True)
    columns = columns_of(entity_def, view, caps.field_levels)
    values = show()
    resolve(values, entity_def, page.rows, [c.key for c in columns])
    rows = [
        {
            "id": record["id"],
            "cells": [cell(values, record, c, caps.level(c.key)) for c in columns],
        }
        for record in page.rows
    ]
    language = current_language()
    link_column = next((i for i, c in enumerate(columns) if c.key == entity_def.title_field), 0)
    return render_template(
        "records/list.html",
        entity=entity_def,
        entity_label=localize(entity_def.plural_label, language),
        view_label=localize(view.label, language) if view is not None else "",
        columns=[
            {
                "key": c.key,
                "label": label(c),
                "sortable": c.key in caps.sortable,
                "numeric": c.field_type.value_kind in ("integer", "decimal"),
                "masked": caps.level(c.key) == "masked",
            }
            for c in columns
        ],
        link_column=link_column,
        may_create=caps.holds("create"),
        rows=rows,
        page=page,
        count=count,
        wanted=wanted,
        scopes=list(SCOPES),
        active_entity=entity,
        filter_labels={control.field.key: label(control.field) for control in wanted.filters},
        unit_options=my_units()
        if any(control.kind == "unit_subtree" for control in wanted.filters)
        else [],
        option_labels={
            control.field.key: [(o.key, localize(o.label, language)) for o in control.field.options]
            for control in wanted.filters
        },
    )

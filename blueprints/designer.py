"""The designer's pages; this issue shows the effective configuration, later issues edit it."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import login_required

from blueprints.context import current_configuration, require_administrator
from blueprints.i18n import current_language
from crm_platform.metadata.model import localize

bp = Blueprint("designer", __name__, url_prefix="/designer")
bp.before_request(require_administrator)


@bp.get("/")
@login_required
def index() -> str:
    """Every entity of the user's effective configuration with its fields, forms and list views."""
    configuration = current_configuration()
    language = current_language()
    entities = [
        {
            "key": entity.key,
            "label": localize(entity.label, language),
            "ownership": entity.ownership,
            "layer": entity.layer or "hq",
            "fields": [
                {
                    "key": field.key,
                    "label": localize(field.label, language),
                    "type": localize(field.field_type.label, language),
                    "required": field.required,
                    "layer": field.layer or "hq",
                }
                for field in entity.fields
            ],
            "forms": [
                {"key": form.key, "label": localize(form.label, language), "layer": form.layer}
                for form in configuration.forms_for(entity.key)
            ],
            "list_views": [
                {"key": view.key, "label": localize(view.label, language), "layer": view.layer}
                for view in configuration.list_views_for(entity.key)
            ],
        }
        for entity in configuration.entities_in_nav_order()
    ]
    return render_template(
        "designer/index.html", entities=entities, unit_key=configuration.unit_key
    )

"""Administration pages; this issue shows the organisation as it stands, later issues edit it."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import login_required

from blueprints.context import current_principal, db, require_administrator
from blueprints.i18n import current_language
from crm_platform.metadata.model import localize
from crm_platform.metadata.org_tree import units_by_key

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.before_request(require_administrator)


@bp.get("/")
@login_required
def index() -> str:
    """The tenant's org tree, indented by depth, with each unit's kind and status."""
    units = units_by_key(db(), current_principal().tenant_id).values()
    language = current_language()
    # The materialized id path ('/1/4/9/') sorts a tree parents first, depth first.
    ordered = sorted(units, key=lambda unit: [int(part) for part in unit.path.split("/") if part])
    rows = [
        {
            "key": unit.key,
            "name": localize(unit.name, language),
            "kind": unit.kind,
            "depth": unit.depth,
            "active": unit.active,
            "legal_entity": unit.legal_entity,
        }
        for unit in ordered
    ]
    return render_template("admin/index.html", units=rows)

"""JSON endpoints the pages use: region picker steps and reference lookups."""

from __future__ import annotations

from flask import Blueprint, jsonify, request, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from blueprints.context import current_configuration, current_principal, services
from blueprints.i18n import current_language
from crm_platform.runtime import regions

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.get("/")
@login_required
def index() -> Response:
    """What this API offers, with the address of each endpoint."""
    return jsonify(
        endpoints=[
            {
                "name": "regions",
                "url": url_for("api.region_children"),
                "description": "provinces, or the divisions under ?parent=<code>",
            },
            {
                "name": "lookup",
                "url": url_for("api.lookup", entity="customer"),
                "description": "records of an entity you may read whose title matches ?q=",
            },
            {
                "name": "region_path",
                "url": url_for("api.region_path", code="110101"),
                "description": "province -> city -> district chain of a region code",
            },
        ]
    )


@bp.get("/regions")
@login_required
def region_children() -> Response:
    """The divisions directly under ?parent= (the provinces without it), labelled."""
    parent = request.args.get("parent") or None
    language = current_language()
    return jsonify(
        regions=[
            {"code": item.code, "label": item.label(language), "level": item.level}
            for item in regions.children(parent)
        ]
    )


@bp.get("/regions/<code>/path")
@login_required
def region_path(code: str) -> Response:
    """The chain from the province down to `code` (empty for an unknown code)."""
    language = current_language()
    return jsonify(
        path=[
            {"code": item.code, "label": item.label(language), "level": item.level}
            for item in regions.path(code)
        ]
    )


@bp.get("/lookup/<entity>")
@login_required
def lookup(entity: str) -> Response:
    """Records of `entity` for a reference picker: only those the user may read, by title."""
    if not current_configuration().has_entity(entity):
        return jsonify(error="not found"), 404  # type: ignore[return-value]
    query = request.args.get("q", "").strip()[:100]
    results = services().records.lookup(current_principal(), entity, query, limit=20)
    return jsonify(results=[{"id": item["id"], "title": str(item["title"])} for item in results])

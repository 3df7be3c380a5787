"""JSON endpoints the pages use: region picker steps and reference lookups."""

from __future__ import annotations

from flask import Blueprint, jsonify, request, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

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

"""JSON endpoints the pages use: region picker steps, reference lookups, user and unit pickers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Blueprint, jsonify, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from blueprints.context import current_configuration, current_principal, db, services
from blueprints.i18n import current_language
from crm_platform.runtime import regions
from crm_platform.runtime.org import search_units
from crm_platform.runtime.search_text import MAX_SEARCH_LENGTH
from crm_platform.runtime.users import search_users

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
            {
                "name": "users",
                "url": url_for("api.user_search"),
                "description": "active users of your organisation whose name or email matches ?q=",
            },
            {
                "name": "org_units",
                "url": url_for("api.unit_search"),
                "description": "active org units whose name or key matches ?q=, with their path",
            },
        ]
    )


@bp.get("/regions")
@login_required
def region_children() -> Response:
    """The divisions directly under ?parent= (the provinces without it), labelled."""
    parent = request.args.get("parent") or None
    return jsonify(regions=_regions(regions.children(parent)))


@bp.get("/regions/<code>/path")
@login_required
def region_path(code: str) -> Response:
    """The chain from the province down to `code` (empty for an unknown code)."""
    return jsonify(path=_regions(regions.path(code)))


def _regions(items: Iterable[Any]) -> list[dict[str, Any]]:
    """Regions as the region picker reads them, labelled in the user's language."""
    language = current_language()
    return [
        {"code": item.code, "label": item.label(language), "level": item.level} for item in items
    ]


@bp.get("/lookup/<entity>")
@login_required
def lookup(entity: str) -> Response:
    """Records of `entity` for a reference picker: only those the user may read, by title."""
    if not current_configuration().has_entity(entity):
        return jsonify(error="not found"), 404  # type: ignore[return-value]
    results = services().records.lookup(current_principal(), entity, _query(), limit=20)
    return jsonify(results=[{"id": item["id"], "title": str(item["title"])} for item in results])


@bp.get("/users")
@login_required
def user_search() -> Response:
    """Active users of the signed-in user's organisation for a user picker, by name or email."""
    matches = search_users(db(), current_user.tenant_id, _query())
    return jsonify(
        results=[
            {"id": match.id, "title": match.display_name, "detail": match.email}
            for match in matches
        ]
    )


@bp.get("/org-units")
@login_required
def unit_search() -> Response:
    """Active org units of the signed-in user's organisation for a unit picker, with their path."""
    matches = search_units(db(), current_user.tenant_id, _query(), current_language())
    return jsonify(
        results=[
            {
                "id": match.id,
                "title": match.name,
                "detail": " / ".join(match.ancestors),
                "key": match.key,
            }
            for match in matches
        ]
    )


def _query() -> str:
    """The picker's search text (?q=), cut to the length a search accepts."""
    return request.args.get("q", "").strip()[:MAX_SEARCH_LENGTH]

"""The runtime UI: generated lists, forms and record pages for every entity in the configuration."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import login_required

from blueprints.navigation import navigation

bp = Blueprint("records", __name__)


@bp.get("/")
@login_required
def home() -> str:
    """The start page: the entities the user may work with."""
    return render_template("records/home.html", items=navigation())

"""The blueprint the runtime UI's pages share (`records.*` endpoints).

It lives apart from the views so that the list page (`list_page`) and the form
and record pages (`records`) can each register on it without importing each other.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("records", __name__)

# The views register themselves on `bp` when imported (Flask's pattern for views in
# several modules); importing them here means registering `bp` brings all of them.
from blueprints import list_page, records  # noqa: E402, F401

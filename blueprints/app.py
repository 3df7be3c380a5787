"""The Flask application factory: configuration, extensions, blueprints.

Configuration comes from the mapping passed in, then from the environment
(`crm_platform.settings.Settings`). Sessions are signed cookies and every other
piece of state is in the database, so any number of workers can serve the app.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from blueprints import (
    admin,
    api,
    auth,
    context,
    designer,
    errors,
    i18n,
    navigation,
    record_routes,
    security_headers,
)
from crm_platform.db import make_engine
from crm_platform.metadata.model import localize
from crm_platform.settings import Settings

csrf = CSRFProtect()

DEFAULTS: Mapping[str, Any] = {
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_NAME": "crm_session",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "PREFERRED_URL_SCHEME": "http",
    "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session it is bound to
    "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
    "TRUST_PROXY": False,
}


class _SessionInterface(SecureCookieSessionInterface):
    """Signed cookie sessions whose cookie is Secure whenever the request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"] or request.is_secure)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the web application; `config` overrides the environment (tests pass one)."""
    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    app.config.from_mapping(config or {})
    if not app.config.get("SECRET_KEY") or not app.config.get("DATABASE_URL"):
        settings = Settings.from_env()
        app.config.setdefault("DATABASE_URL", settings.database_url)
        if not app.config.get("SECRET_KEY"):
            app.config["SECRET_KEY"] = settings.secret_key
    https = app.config["PREFERRED_URL_SCHEME"] == "https"
    app.config.setdefault("SESSION_COOKIE_SECURE", https)
    app.config.setdefault("REMEMBER_COOKIE_SECURE", https)
    app.session_interface = _SessionInterface()
    if app.config["TRUST_PROXY"]:
        # Behind a reverse proxy, X-Forwarded-Proto tells us the request was HTTPS.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    engine = app.config.get("ENGINE") or make_engine(app.config["DATABASE_URL"])

    app.jinja_env.autoescape = True
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    app.jinja_env.globals.update(
        navigation=navigation.navigation,
        unit_choices=navigation.unit_choices,
        is_administrator=context.is_administrator,
        localize=lambda text: localize(text, i18n.current_language()),
    )
    context.init_app(app, engine)
    csrf.init_app(app)
    i18n.init_app(app)
    auth.init_app(app)
    security_headers.init_app(app)
    errors.init_app(app)
    for blueprint in (record_routes.bp, designer.bp, admin.bp, api.bp):
        app.register_blueprint(blueprint)
    return app

"""Signing in and out, the language switcher and the unit-context chooser."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from blueprints.context import UNIT_SESSION_KEY, db, remember_session
from blueprints.i18n import LANGUAGES, SESSION_KEY, normalise_language
from crm_platform.runtime.session_reads import read_session
from crm_platform.runtime.sign_in import Attempt, SignInLocked, sign_in
from crm_platform.runtime.tables import User
from crm_platform.runtime.tenants import list_tenants
from crm_platform.runtime.users import SessionUser, set_locale

bp = Blueprint("auth", __name__)

CHOSEN_KEY = "language_chosen"
"""Set when a visitor picks a language before signing in (not when sign-out leaves one behind)."""
login_manager = LoginManager()


@dataclass(frozen=True)
class SignedInUser:
    """The flask-login view of a user: just what the session and the layout need."""

    user_id: int
    tenant_id: int
    tenant_key: str
    email: str
    display_name: str
    locale: str
    primary_unit_id: int

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str:
        """The session's reference to the user: tenant and user id."""
        return f"{self.tenant_id}:{self.user_id}"

    @classmethod
    def of(cls, user: User | SessionUser, tenant_key: str) -> SignedInUser:
        """Build from the core's user row (at sign-in) or session user (on every request)."""
        return cls(
            user_id=user.id,
            tenant_id=user.tenant_id,
            tenant_key=tenant_key,
            email=user.email,
            display_name=user.display_name,
            locale=user.locale,
            primary_unit_id=user.primary_unit_id,
        )


def init_app(app: Flask) -> None:
    """Install flask-login: strong session protection, sign-in page for anonymous visitors."""
    login_manager.init_app(app)
    login_manager.session_protection = "strong"
    login_manager.login_view = "auth.sign_in_page"
    login_manager.login_message = None  # the sign-in page says what to do already
    login_manager.user_loader(_load_user)
    app.register_blueprint(bp)


def _load_user(reference: str) -> SignedInUser | None:
    """The session's user, with the tenant stamp at their unit, in one row; None signs them out.

    A forged or stale reference (user or tenant gone) and a deactivated user
    all end the session.
    """
    try:
        tenant_id, user_id = (int(part) for part in reference.split(":", 1))
    except ValueError:
        return None
    chosen = session.get(UNIT_SESSION_KEY)
    start = read_session(db(), tenant_id, user_id, chosen if isinstance(chosen, int) else None)
    if start is None or not start.user.active:
        return None
    remember_session(start)
    return SignedInUser.of(start.user, start.user.tenant_key)


@bp.get("/sign-in")
def sign_in_page() -> str | Response:
    """The sign-in form: organisation (preselected when there is only one), email, password."""
    if current_user.is_authenticated:
        return redirect(url_for("records.home"))
    return _render_sign_in()


@bp.post("/sign-in")
def sign_in_submit() -> str | Response:
    """Check the credentials, throttled per account and address; one message for every failure."""
    attempt = Attempt.of(
        request.form.get("organisation", ""), request.form.get("email", ""), request.remote_addr
    )
    password = request.form.get("password", "")
    connection = db()
    try:
        user = sign_in(connection, attempt, password)
    except SignInLocked:
        connection.rollback()
        message = _(
            "Too many failed attempts for this account. Sign-in is blocked for 15 minutes; "
            "try again later."
        )
        return _render_sign_in(message, attempt), 429  # type: ignore[return-value]
    if user is None:
        connection.commit()
        message = _("The organisation, email or password is not correct.")
        return _render_sign_in(message, attempt), 401  # type: ignore[return-value]
    # A language picked on the sign-in page is the person's choice: keep it on their account.
    chosen = normalise_language(session.pop(SESSION_KEY, None))
    if session.pop(CHOSEN_KEY, False) and chosen and chosen != user.locale:
        set_locale(connection, user.id, chosen)
        user.locale = chosen
    connection.commit()
    session.pop(UNIT_SESSION_KEY, None)
    login_user(SignedInUser.of(user, attempt.tenant_key))
    return redirect(_safe_next(request.args.get("next")) or url_for("records.home"))


@bp.post("/sign-out")
def sign_out() -> Response:
    """End the session; the language chosen stays for the sign-in page."""
    language = getattr(current_user, "locale", None)
    logout_user()
    session.clear()
    if language:
        session[SESSION_KEY] = language
    return redirect(url_for("auth.sign_in_page"))


@bp.post("/language")
def switch_language() -> Response:
    """Switch the UI language: stored on the user when signed in, in the session otherwise."""
    language = normalise_language(request.form.get("language"))
    if language is None:
        abort(400)
    if current_user.is_authenticated:
        set_locale(db(), current_user.user_id, language)
        db().commit()
    else:
        session[SESSION_KEY] = language
        session[CHOSEN_KEY] = True
    return redirect(_safe_next(request.form.get("next")) or url_for("records.home"))


@bp.post("/unit-context")
@login_required
def switch_unit() -> Response:
    """Work at another of the user's units: changes forms, fields and new records' unit."""
    from blueprints.navigation import unit_choices

    try:
        unit_id = int(request.form.get("unit_id", ""))
    except ValueError:
        abort(400)
    if unit_id not in {choice.unit_id for choice in unit_choices()}:
        abort(400)
    session[UNIT_SESSION_KEY] = unit_id
    flash(_("You now work in another unit."), "info")
    return redirect(_safe_next(request.form.get("next")) or url_for("records.home"))


def _render_sign_in(error: str | None = None, attempt: Attempt | None = None) -> str:
    tenants = list_tenants(db())
    selected = attempt.tenant_key if attempt else (tenants[0].key if len(tenants) == 1 else "")
    return render_template(
        "auth/sign_in.html",
        tenants=tenants,
        selected=selected,
        email=attempt.email if attempt else "",
        error=error,
        languages=LANGUAGES,
    )


def _safe_next(target: str | None) -> str | None:
    # Only a path on this site: an absolute or protocol-relative URL would make
    # the sign-in page an open redirect.
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target:
        return None
    return target

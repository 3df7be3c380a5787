"""Error pages: friendly 400, 403, 404, 405, 409 and 429 pages, and a 500 page with a reference id.

Domain errors carry no HTTP status; this module is where they get one. A record
the user may not see is 404 (never 403), so its existence does not leak.
"""

from __future__ import annotations

import logging
import uuid

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from crm_platform.metadata.errors import UnknownTenant, UnknownUnit
from crm_platform.metadata.model import UnknownMetadataItem
from crm_platform.runtime.errors import AccessDenied, RecordNotFound

log = logging.getLogger("crm_platform.web")

_PAGES = {400: "errors/400.html", 403: "errors/403.html", 404: "errors/404.html"}


def init_app(app: Flask) -> None:
    """Register the handlers for HTTP errors, CSRF failures and the domain errors."""
    app.register_error_handler(CSRFError, _csrf_failed)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(RecordNotFound, _not_found)
    app.register_error_handler(UnknownTenant, _not_found)
    app.register_error_handler(UnknownUnit, _not_found)
    app.register_error_handler(UnknownMetadataItem, _not_found)
    app.register_error_handler(AccessDenied, _forbidden)
    app.register_error_handler(InternalServerError, _internal_error)


def _http_error(error: HTTPException) -> tuple[str, int]:
    if isinstance(error, InternalServerError):
        return _internal_error(error)
    status = error.code or 500
    template = _PAGES.get(status, "errors/generic.html")
    return render_template(template, status=status, error=error), status


def _csrf_failed(error: CSRFError) -> tuple[str, int]:
    return render_template("errors/400.html", status=400, error=error, csrf=True), 400


def _not_found(_error: Exception) -> tuple[str, int]:
    return render_template("errors/404.html", status=404, error=None), 404


def _forbidden(error: AccessDenied) -> tuple[str, int]:
    # Only reached where the user can already see the record (an edit or delete they
    # may not make); reads of invisible records never raise AccessDenied into here.
    return render_template("errors/403.html", status=403, error=error), 403


def _internal_error(error: InternalServerError) -> tuple[str, int]:
    reference = uuid.uuid4().hex[:12]
    cause = error.original_exception or error
    log.error(
        "unhandled error, reference %s, %s %s",
        reference,
        request.method,
        request.path,
        exc_info=(type(cause), cause, cause.__traceback__),
    )
    try:
        return render_template("errors/500.html", status=500, reference=reference), 500
    except Exception:  # noqa: BLE001 - the error page must not fail in turn
        log.exception("the 500 page itself failed, reference %s", reference)
        return f"Internal error. Reference: {reference}", 500

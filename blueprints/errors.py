"""Error pages: friendly 400, 403, 404, 405, 409 and 429 pages, and a 500 page with a reference id.

Domain errors carry no HTTP status; this module is where they get one. A record
the user may not see is 404 (never 403), so its existence does not leak; one
they may see but not change (or an entity they may read but not create) is a
403 that says what is refused and links back to the record or the list.
"""

from __future__ import annotations

import logging
import uuid

from flask import Flask, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import Forbidden, HTTPException, InternalServerError

from blueprints.context import current_configuration
from blueprints.i18n import current_language
from crm_platform.metadata.errors import UnknownTenant, UnknownUnit
from crm_platform.metadata.model import UnknownMetadataItem, localize
from crm_platform.runtime.errors import AccessDenied, RecordNotFound

log = logging.getLogger("crm_platform.web")

_PAGES = {400: "errors/400.html", 403: "errors/403.html", 404: "errors/404.html"}


class Refused(Forbidden):
    """The user may see the entity (and the record) but may not do `privilege` to it.

    Views raise it after asking the core's capabilities, before reading a form
    or a submission, so the 403 page can say what is refused and where to go back.
    """

    def __init__(self, entity: str, privilege: str, record_id: int | None = None) -> None:
        self.entity = entity
        self.privilege = privilege
        self.record_id = record_id
        where = f" record {record_id}" if record_id is not None else ""
        super().__init__(f"you may not {privilege} {entity}{where}")


def init_app(app: Flask) -> None:
    """Register the handlers for HTTP errors, CSRF failures and the domain errors."""
    app.register_error_handler(CSRFError, _csrf_failed)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(RecordNotFound, _not_found)
    app.register_error_handler(UnknownTenant, _not_found)
    app.register_error_handler(UnknownUnit, _not_found)
    app.register_error_handler(UnknownMetadataItem, _not_found)
    app.register_error_handler(AccessDenied, _forbidden)
    app.register_error_handler(Refused, _refused)
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
    record_id = (request.view_args or {}).get("record_id")
    return _forbidden_page(error.entity, error.privilege, record_id)


def _refused(error: Refused) -> tuple[str, int]:
    return _forbidden_page(error.entity, error.privilege, error.record_id)


def _forbidden_page(entity: str, privilege: str, record_id: int | None) -> tuple[str, int]:
    """The 403 page naming the refused action, with a link back to the record or the list."""
    configuration = current_configuration()
    if not configuration.has_entity(entity):
        return render_template("errors/403.html", status=403, error=None), 403
    if record_id is not None:
        back = url_for("records.show_record", entity=entity, record_id=record_id)
    else:
        back = url_for("records.list_records", entity=entity)
    page = render_template(
        "errors/403.html",
        status=403,
        privilege=privilege,
        entity_label=localize(configuration.entity(entity).label, current_language()),
        on_record=record_id is not None,
        back=back,
    )
    return page, 403


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

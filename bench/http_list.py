"""The customer list page over HTTP, signed in and rendered, beside a hand-written Flask view.

``python -m bench.http_list --db URL`` signs in to the real application
(`blueprints.app.create_app`, its services from the composition root, so the
security model applies) as the user of each scope and requests
``/r/customer/`` in process through the werkzeug test client: the full page
(session, principal, list view, page of 50 through the record service, the
capped count, value formatting and the template). In the same rounds, a
hand-written Flask view runs the same two statements (the page and the capped
count, scoped by the closure table) through SQLAlchemy Core and renders them in
a plain Jinja table. Targets (issue 5): a median under 60 ms on SQLite at every
scope, and at least 0.8x the hand-written view's requests per second. The
statements each view runs per request (transaction control aside) are counted
on one more request after the timed ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, render_template
from jinja2 import DictLoader
from sqlalchemy import Engine, event, text

from bench.common import (
    find_scopes,
    header,
    interleaved,
    open_bench,
    parse_args,
    table,
    verdict,
)
from blueprints.app import create_app
from crm_platform.runtime.users import set_password

PASSWORD = "bench-password"  # noqa: S105 - a benchmark user's throwaway password
TARGET_MS = 60.0
TARGET_SHARE = 0.8
COUNT_CAP = 10_000
COLUMNS = ("id", "name", "uscc", "region", "industry", "customer_level", "owner_user_id")

PLAIN_TABLE = """<!doctype html><html><head><title>Customers</title></head><body>
<h1>Customers</h1><p>{{ count }}{% if capped %}+{% endif %} customers</p>
<table><thead><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}<th>updated_at</th></tr>
</thead><tbody>{% for row in rows %}<tr>{% for c in columns %}<td>{{ row[c] }}</td>{% endfor %}
<td>{{ row.updated_at }}</td></tr>{% endfor %}</tbody></table></body></html>"""


def plain_app(bench: Any) -> Flask:
    """The hand-written view: two Core statements and a plain Jinja table."""
    tbl = bench.table()
    name = f'"{tbl.schema}"."{tbl.name}"' if tbl.schema else f'"{tbl.name}"'
    scope = (
        "deleted_at IS NULL AND owning_unit_id IN "
        "(SELECT descendant_id FROM org_unit_closure WHERE ancestor_id = :unit)"
    )
    page = text(
        f"SELECT {', '.join(COLUMNS)}, updated_at FROM {name} WHERE {scope} "
        "ORDER BY updated_at DESC, id DESC LIMIT 51"
    )
    count = text(f"SELECT count(*) FROM (SELECT id FROM {name} WHERE {scope} LIMIT 10001) c")
    app = Flask("plain_customers")
    # A template file as a hand-written view has it: Flask compiles it once and caches it.
    app.jinja_loader = DictLoader({"customers.html": PLAIN_TABLE})

    @app.get("/customers/<int:unit>")
    def customers(unit: int) -> str:
        with bench.engine.connect() as connection:
            rows = connection.execute(page, {"unit": unit}).mappings().all()[:50]
            total = connection.execute(count, {"unit": unit}).scalar_one()
        return render_template(
            "customers.html",
            columns=COLUMNS,
            rows=rows,
            count=min(total, COUNT_CAP),
            capped=total > COUNT_CAP,
        )

    return app


_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK")


def statements_of(engine: Engine, request: Callable[[], None]) -> int:
    """How many statements one `request` runs on `engine`, transaction control aside."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, sql: str, *_rest: Any) -> None:
        if not sql.lstrip().upper().startswith(_TRANSACTION_CONTROL):
            seen.append(sql)

    event.listen(engine, "before_cursor_execute", record)
    try:
        request()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return len(seen)


def run(url: str, runs: int) -> list[list[Any]]:
    """Measure every scope; print and return the table rows."""
    bench = open_bench(url)
    header("Customer list page over HTTP (in process, werkzeug test client)", bench)
    scopes = find_scopes(bench)
    app = create_app(
        {
            "SECRET_KEY": "bench secret",
            "DATABASE_URL": url,
            "ENGINE": bench.engine,
            "WTF_CSRF_ENABLED": False,
        }
    )
    plain = plain_app(bench).test_client()
    rows: list[list[Any]] = []
    for scope in scopes.values():
        with bench.engine.begin() as connection:
            set_password(connection, scope.user_id, PASSWORD)
            email = connection.execute(
                text("SELECT email FROM users WHERE id = :id"), {"id": scope.user_id}
            ).scalar_one()
        client = app.test_client()
        signed_in = client.post(
            "/sign-in",
            data={"organisation": bench.tenant.key, "email": email, "password": PASSWORD},
        )
        if signed_in.status_code != 302:
            raise SystemExit(f"could not sign in as {email}: HTTP {signed_in.status_code}")

        def app_page(c: Any = client) -> None:
            response = c.get("/r/customer/")
            if response.status_code != 200:
                raise SystemExit(f"/r/customer/ answered HTTP {response.status_code}")

        def plain_page(unit: int = scope.unit_id) -> None:
            response = plain.get(f"/customers/{unit}")
            if response.status_code != 200:
                raise SystemExit(f"the plain view answered HTTP {response.status_code}")

        times = interleaved({"app": app_page, "plain": plain_page}, runs)
        app_sql = statements_of(bench.engine, app_page)
        plain_sql = statements_of(bench.engine, plain_page)
        share = times["plain"] / times["app"]
        ok = share >= TARGET_SHARE and (bench.dialect != "sqlite" or times["app"] < TARGET_MS)
        rows.append(
            [
                f"{scope.name} `{scope.unit_key}` ({scope.rows:,})",
                times["app"],
                1000.0 / times["app"],
                times["plain"],
                1000.0 / times["plain"],
                share,
                app_sql,
                plain_sql,
                verdict(ok),
            ]
        )
    table(
        [
            "scope (customers)",
            "app ms",
            "app req/s",
            "plain view ms",
            "plain req/s",
            "app/plain req/s",
            "app SQL",
            "plain SQL",
            "target",
        ],
        rows,
    )
    return rows


def main() -> None:
    """Command line entry point (see the module docstring)."""
    args = parse_args(__doc__.splitlines()[0])
    run(args.db, args.runs)


if __name__ == "__main__":
    main()

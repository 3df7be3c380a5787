"""`crm-platform serve` (and, later, `init`): run the web application."""

from __future__ import annotations

import click

from crm_platform.cli.init_command import init


@click.command(help="Serve the web application with Flask's development server.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on.")
@click.option("--debug/--no-debug", default=False, help="Reload on code changes, show tracebacks.")
def serve(host: str, port: int, debug: bool) -> None:
    """Run the app from `blueprints.create_app` with configuration from the environment.

    For production run it under gunicorn instead
    (``gunicorn 'blueprints:create_app()'``): sessions are signed cookies and all
    other state is in the database, so any number of workers can serve it.
    """
    from blueprints import create_app

    app = create_app()
    click.echo(
        f"Serving on http://{host}:{port} (database: {_redacted(app.config['DATABASE_URL'])})"
    )
    app.run(host=host, port=port, debug=debug, use_reloader=debug, threaded=True)


def _redacted(url: str) -> str:
    # Never print a database password to a terminal that may be shared or logged.
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


COMMANDS: list[click.Command] = [serve]
COMMANDS.append(init)

"""The Flask web layer: thin views over the core services."""

from blueprints.app import create_app as create_app

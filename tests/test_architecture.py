"""The core never reaches for the web layer and names its public surface (STYLE.md)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parent.parent / "crm_platform"
WEB_MODULES = {"flask", "flask_login", "flask_wtf", "flask_babel", "werkzeug.local", "blueprints"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", ["metadata", "runtime", "designer"])
def test_core_package_never_imports_the_web_layer(package: str) -> None:
    offenders = {
        str(path.relative_to(CORE)): sorted(
            name
            for name in _imports(path)
            if any(name == web or name.startswith(web + ".") for web in WEB_MODULES)
        )
        for path in (CORE / package).rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_no_platform_package_shadows_the_standard_library() -> None:
    assert not (CORE.parent / "platform").exists()


@pytest.mark.parametrize("package", ["metadata", "runtime", "designer"])
def test_core_package_names_its_public_surface_and_each_name_imports_alone(package: str) -> None:
    """Every name a core package re-exports is the module's own object, importable on its own.

    Run in a fresh interpreter, so an import cycle that the test session's earlier
    imports would hide shows up here.
    """
    script = (
        "import importlib, inspect\n"
        f"package = importlib.import_module('crm_platform.{package}')\n"
        "surface = {n: v for n, v in vars(package).items()"
        " if not n.startswith('_') and not inspect.ismodule(v)}\n"
        "assert surface, 'no public names'\n"
        "for name, value in surface.items():\n"
        "    home = importlib.import_module(value.__module__)\n"
        "    assert getattr(home, name) is value, name\n"
        "print(len(surface))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 0

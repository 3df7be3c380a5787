"""The core never reaches for the web layer (DEVELOPERS.md, STYLE.md)."""

from __future__ import annotations

import ast
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

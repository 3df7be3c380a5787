"""Data-driven checks of the validator: each corpus file is a tenant and the problems it must yield.

A file is ``{"description", "layers": {"hq" | <unit>: [documents]}, "org": {unit: parent},
"org_kinds"?: {unit: kind}, "expected": [{"document", "pointer", "code"}]}``. The
validator must report exactly the expected (document, pointer, code) triples.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from crm_platform.metadata.schemas import KINDS
from crm_platform.metadata.validation import validate_tenant

CORPUS = Path(__file__).resolve().parent / "corpus"
FILES = sorted(CORPUS.glob("*.json"))


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _run(case: dict[str, Any]) -> list[Any]:
    layers = {None if unit == "hq" else unit: docs for unit, docs in case["layers"].items()}
    return validate_tenant(layers, case["org"], case.get("org_kinds"))


def test_corpus_is_large_enough() -> None:
    broken = [path for path in FILES if _load(path)["expected"]]
    assert len(broken) >= 45


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_corpus_case_yields_exactly_the_expected_problems(path: Path) -> None:
    case = _load(path)
    problems = _run(case)
    found = sorted((p.document, p.pointer, p.code) for p in problems)
    expected = sorted((e["document"], e["pointer"], e["code"]) for e in case["expected"])
    assert found == expected, "\n".join(str(p) for p in problems)
    assert all(p.message for p in problems)


REQUIRED_CODES = {
    "key.duplicate",
    "field.duplicate_key",
    "option.duplicate_key",
    "field.reserved_key",
    "ref.unknown_field",
    "ref.unknown_entity",
    "ref.unknown_role",
    "ref.unknown_unit",
    "org.unknown_kind",
    "field.min_above_max",
    "field.bad_default",
    "field.bad_pattern",
    "field_security.mask_not_sensitive",
    "list_view.unsortable",
    "form.duplicate_field",
    "condition.unknown_field",
    "condition.bad_operator",
    "condition.unknown_option",
    "entity.bad_title_field",
    "layer.locked",
    "layer.entity_redefined",
    "layer.field_key_clash",
    "schema.required",
    "schema.enum",
    "schema.pattern",
    "schema.additionalProperties",
    "schema.unknown_kind",
    "schema.oneOf",
    "schema.type",
}


def test_corpus_covers_every_code_and_every_kind() -> None:
    cases = [_load(path) for path in FILES]
    codes = {e["code"] for case in cases for e in case["expected"]}
    assert REQUIRED_CODES <= codes
    schema_kinds = {
        e["document"].split("/")[2]
        for case in cases
        for e in case["expected"]
        if e["code"].startswith("schema.") and e["document"].startswith("layers/")
    }
    assert set(KINDS) <= schema_kinds

"""Schema validation: every schema loads, valid documents pass, errors read well and point right."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from crm_platform.metadata.schemas import (
    KINDS,
    SCHEMA_DIR,
    schema_for,
    validate_document,
    validate_manifest,
    validate_org_units,
)

BASELINE = Path(__file__).resolve().parent / "corpus" / "valid_baseline.json"


def _baseline_documents() -> list[dict]:
    case = json.loads(BASELINE.read_text(encoding="utf-8"))
    return [doc for docs in case["layers"].values() for doc in docs]


def _view(**changes) -> dict:
    view = {
        "kind": "list_view",
        "key": "all_customers",
        "entity": "customer",
        "label": {"en": "All customers"},
        "columns": ["name"],
    }
    view.update(changes)
    return view


@pytest.mark.parametrize("path", sorted(SCHEMA_DIR.glob("*.schema.json")), ids=lambda p: p.stem)
def test_every_schema_file_is_a_valid_draft_2020_12_schema(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$id"].endswith(path.name)


def test_every_kind_has_a_schema_and_schema_for_returns_a_copy() -> None:
    for kind in KINDS:
        assert schema_for(kind)["properties"]["kind"] == {"const": kind}
    schema_for("entity")["properties"].clear()
    assert "fields" in schema_for("entity")["properties"]
    with pytest.raises(KeyError, match="no schema for kind 'workflow'"):
        schema_for("workflow")


def test_baseline_documents_are_schema_valid() -> None:
    documents = _baseline_documents()
    assert {doc["kind"] for doc in documents} == set(KINDS)
    for document in documents:
        assert validate_document(document) == []


def test_required_names_the_missing_property_and_points_at_its_object() -> None:
    view = _view(label={"zh-Hans": "客户"})
    (problem,) = validate_document(view, "layers/hq/list_view/all_customers.json")
    assert (problem.pointer, problem.code) == ("/label", "schema.required")
    assert "'en'" in problem.message and "English" in problem.message
    assert problem.document == "layers/hq/list_view/all_customers.json"


def test_extra_property_points_at_itself_and_suggests_the_spelling() -> None:
    (problem,) = validate_document(_view(colums=["name"]))
    assert (problem.pointer, problem.code) == ("/colums", "schema.additionalProperties")
    assert "did you mean 'columns'" in problem.message


def test_condition_with_unknown_operator_reports_the_operator_not_the_alternatives() -> None:
    view = _view(default_filter={"all": [{"field": "name", "op": "like", "value": "A"}]})
    (problem,) = validate_document(view)
    assert (problem.pointer, problem.code) == ("/default_filter/all/0/op", "schema.enum")
    assert "starts_with" in problem.message


def test_condition_in_needs_a_list() -> None:
    (problem,) = validate_document(_view(default_filter={"field": "level", "op": "in", "value": 3}))
    assert (problem.pointer, problem.code) == ("/default_filter/value", "schema.type")
    assert "array" in problem.message


def test_condition_missing_value_names_the_operator() -> None:
    (problem,) = validate_document(_view(default_filter={"field": "level", "op": "eq"}))
    assert (problem.pointer, problem.code) == ("/default_filter", "schema.required")
    assert "'value'" in problem.message and "'eq'" in problem.message


def test_shapeless_condition_lists_the_shapes() -> None:
    (problem,) = validate_document(_view(default_filter=["level", "a"]))
    assert (problem.pointer, problem.code) == ("/default_filter", "schema.oneOf")
    assert '{"all": [...]}' in problem.message


def test_every_error_is_reported_at_once() -> None:
    view = _view(key="All", page_size=1, extra=True, default_sort=[{"field": "name"}])
    found = {(p.pointer, p.code) for p in validate_document(view)}
    assert found == {
        ("/key", "schema.pattern"),
        ("/page_size", "schema.minimum"),
        ("/extra", "schema.additionalProperties"),
        ("/default_sort/0", "schema.required"),
    }


def test_unknown_or_missing_kind() -> None:
    (unknown,) = validate_document({"kind": "lisst_view", "key": "x"})
    assert (unknown.pointer, unknown.code) == ("/kind", "schema.unknown_kind")
    assert "did you mean 'list_view'" in unknown.message
    (missing,) = validate_document({"key": "x"})
    assert (missing.pointer, missing.code) == ("", "schema.unknown_kind")
    (not_object,) = validate_document(["kind", "entity"])  # type: ignore[arg-type]
    assert not_object.code == "schema.type"


def test_forbidden_property_for_the_field_type_points_at_it() -> None:
    entity = next(d for d in _baseline_documents() if d["key"] == "contact")
    entity = json.loads(json.dumps(entity))
    entity["fields"][0]["target"] = "customer"
    (problem,) = validate_document(entity)
    assert (problem.pointer, problem.code) == ("/fields/0/target", "schema.not")
    assert problem.message == (
        "remove 'target': it applies only when type is reference; here type is 'text'"
    )


def test_org_units_and_manifest_schemas() -> None:
    units = {
        "kind": "org_units",
        "units": [{"key": "group", "name": {"en": "Group"}, "kind": "group", "parent": None}],
    }
    assert validate_org_units(units) == []
    units["units"].append({"key": "east", "name": {"en": "East"}, "kind": "branch"})
    (problem,) = validate_org_units(units)
    assert (problem.document, problem.pointer, problem.code) == (
        "org_units.json",
        "/units/1",
        "schema.required",
    )
    manifest = {
        "format_version": 2,
        "tenant": {"key": "acme", "name": {"en": "Acme"}},
        "layers": [{"unit": None, "directory": "layers/hq"}],
        "files": {"layers/hq/entity/customer.json": "0" * 63},
    }
    found = {(p.pointer, p.code) for p in validate_manifest(manifest)}
    assert found == {
        ("/format_version", "schema.const"),
        ("/files/layers~1hq~1entity~1customer.json", "schema.pattern"),
    }


def test_rule_messages_are_read_from_the_schema_conditions() -> None:
    (problem,) = validate_document(
        _view(default_filter={"field": "amount", "op": "between", "value": [1]})
    )
    assert problem.message.endswith("needs at least 2 item(s) when op is between")
    (problem,) = validate_document(
        _view(default_filter={"field": "name", "op": "is_empty", "value": ""})
    )
    assert "does not apply when op is is_empty or is_not_empty" in problem.message

"""Structured diffs between document sets: by (kind, key), by member, keyed lists by key."""

from __future__ import annotations

from crm_platform.metadata.diff import ChangeKind, diff_documents
from tests.metadata.store_configs import customer_entity, customer_form, customer_list, en


def test_identical_document_sets_have_no_diff() -> None:
    documents = [customer_entity(), customer_form()]
    diff = diff_documents(documents, list(reversed(documents)))
    assert not diff
    assert diff.render() == "no changes"


def test_documents_are_added_removed_and_changed_by_kind_and_key() -> None:
    old = [customer_entity(), customer_form()]
    new = [customer_entity(label=en("Client")), customer_list()]
    diff = diff_documents(old, new)
    assert [(c.kind, c.key, c.change) for c in diff.changes] == [
        ("entity", "customer", ChangeKind.CHANGED),
        ("form", "customer_default", ChangeKind.REMOVED),
        ("list_view", "customer_all", ChangeKind.ADDED),
    ]
    assert diff.get("form", "customer_default").old == customer_form()  # type: ignore[union-attr]
    (value,) = diff.changed[0].values
    assert (value.pointer, value.old, value.new) == ("/label/en", "Customer", "Client")


def test_inserting_a_field_reports_only_that_field_not_every_later_index() -> None:
    entity = customer_entity()
    entity["fields"].insert(0, {"key": "vip", "label": en("VIP"), "type": "boolean"})
    entity["fields"][2]["options"].append({"key": "c", "label": en("C")})
    (change,) = diff_documents([customer_entity()], [entity]).changes
    assert [(v.change, v.pointer, v.path) for v in change.values] == [
        (ChangeKind.ADDED, "/fields/0", "/fields[vip]"),
        (ChangeKind.ADDED, "/fields/2/options/2", "/fields[level]/options[c]"),
    ]


def test_reordering_keyed_items_is_reported_as_an_order_change() -> None:
    entity = customer_entity()
    entity["fields"].reverse()
    (change,) = diff_documents([customer_entity()], [entity]).changes
    (value,) = change.values
    assert value.change is ChangeKind.REORDERED
    assert value.old == ["name", "level", "industry"]
    assert value.new == ["industry", "level", "name"]


def test_form_placements_diff_by_field_and_render_as_text() -> None:
    old = customer_form(fields=("name", "level"))
    new = customer_form(fields=("name", "level", "industry"))
    new["sections"][0]["columns"][0][0]["readonly"] = True
    diff = diff_documents([old], [new])
    paths = {(v.change, v.path) for v in diff.changes[0].values}
    assert paths == {
        (ChangeKind.ADDED, "/sections[main]/columns/0[name]/readonly"),
        (ChangeKind.ADDED, "/sections[main]/columns/0[industry]"),
    }
    text = diff.render()
    assert text.splitlines()[0] == "~ form/customer_default (changed)"
    assert '/sections[main]/columns/0[industry]: added {"field": "industry"}' in text

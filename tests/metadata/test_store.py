"""The versioned metadata store: drafts, publish, locks, conflicts, versions, rollback, caching."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import Engine, select

from crm_platform.db import make_engine
from crm_platform.metadata.errors import ConfigurationInvalid, PublishConflict, UnknownUnit
from crm_platform.metadata.model import Configuration
from crm_platform.metadata.store import MetadataStore, NothingToPublish, UnknownVersion
from crm_platform.metadata.tables import ConfigVersion, Tenant
from tests.metadata.store_configs import (
    customer_entity,
    customer_form,
    east_documents,
    east_extension,
    en,
    hq_documents,
    make_tenant,
)


def _config_version(engine: Engine, key: str = "acme") -> int:
    with engine.connect() as connection:
        return connection.execute(
            select(Tenant.config_version).where(Tenant.key == key)
        ).scalar_one()


def _published(engine: Engine) -> MetadataStore:
    """A store on tenant acme with HQ and BU East layers published (version 1 each)."""
    make_tenant(engine)
    store = MetadataStore(engine)
    store.publish("acme", None, "alice", "first", documents=hq_documents())
    store.publish("acme", "bu_east", "bob", "east", documents=east_documents())
    return store


def test_draft_is_the_published_documents_until_one_is_saved(engine: Engine) -> None:
    store = _published(engine)
    assert store.draft("acme", None) == hq_documents()
    changed = [customer_entity(label=en("Client")), *hq_documents()[1:]]
    info = store.save_draft("acme", None, changed, "alice")
    assert info.base_version == 1
    assert [c.key for c in store.draft_diff("acme", None).changed] == ["customer"]
    assert store.draft("acme", None)[0]["label"] == en("Client")
    states = store.layer_states("acme")
    assert [(s.unit_key, s.current_version) for s in states] == [(None, 1), ("bu_east", 1)]
    assert states[0].draft is not None and states[0].draft.updated_by == "alice"
    assert states[1].draft is None
    store.discard_draft("acme", None)
    assert store.draft("acme", None) == hq_documents()
    assert not store.draft_diff("acme", None)


def test_publishing_a_draft_writes_a_version_clears_the_draft_and_bumps_the_tenant(
    engine: Engine,
) -> None:
    make_tenant(engine)
    store = MetadataStore(engine)
    assert store.draft("acme", None) == []
    store.save_draft("acme", None, hq_documents(), "alice")
    before = _config_version(engine)
    info = store.publish("acme", None, "alice", "initial customer model")
    assert (info.number, info.author, info.comment, info.document_count) == (
        1,
        "alice",
        "initial customer model",
        3,
    )
    assert _config_version(engine) == before + 1
    assert [v.number for v in store.versions("acme", None)] == [1]
    assert store.version_documents("acme", None, 1) == hq_documents()
    with pytest.raises(NothingToPublish):
        store.publish("acme", None, "alice")


def test_unit_layer_fields_reach_its_subtree_only_and_the_physical_configuration(
    engine: Engine,
) -> None:
    store = _published(engine)
    assert "east_code" in store.effective("acme", "br_shanghai").entity("customer").field_keys
    assert "east_code" in store.effective("acme", "bu_east").entity("customer").field_keys
    assert "east_code" not in store.effective("acme", "bu_west").entity("customer").field_keys
    assert "east_code" not in store.effective("acme", None).entity("customer").field_keys
    assert "east_code" in store.physical("acme").entity("customer").field_keys
    assert store.published_layers("acme") == {None: hq_documents(), "bu_east": east_documents()}


def test_unit_layer_replacing_a_locked_hq_form_is_refused_naming_the_lock(engine: Engine) -> None:
    store = _published(engine)
    override = customer_form("customer_default", ("name", "east_code"))
    with pytest.raises(ConfigurationInvalid) as refused:
        store.publish("acme", "bu_east", "bob", documents=[*east_documents(), override])
    locks = [p for p in refused.value.problems if p.code == "layer.locked"]
    assert locks and "locked by the HQ layer" in locks[0].message
    assert locks[0].document == "layers/bu_east/form/customer_default.json"
    assert [v.number for v in store.versions("acme", "bu_east")] == [1]


def test_unit_layer_overriding_a_locked_field_is_refused(engine: Engine) -> None:
    store = _published(engine)
    extension = east_extension(field_overrides={"name": {"label": en("Company")}})
    with pytest.raises(ConfigurationInvalid) as refused:
        store.publish("acme", "bu_east", "bob", documents=[extension])
    assert [(p.pointer, p.code) for p in refused.value.problems] == [
        ("/field_overrides/name", "layer.locked")
    ]


def test_hq_change_that_breaks_a_child_layer_is_refused_with_the_childs_problem(
    engine: Engine,
) -> None:
    store = _published(engine)
    entity = customer_entity()
    entity["fields"].append({"key": "east_code", "label": en("Clash"), "type": "text"})
    with pytest.raises(ConfigurationInvalid) as refused:
        store.publish("acme", None, "alice", documents=[entity, *hq_documents()[1:]])
    documents = {p.document for p in refused.value.problems}
    assert any(name.startswith("layers/bu_east/") for name in documents)
    assert [v.number for v in store.versions("acme", None)] == [1]


def test_publishing_over_a_newer_version_is_a_conflict(engine: Engine) -> None:
    store = _published(engine)
    store.save_draft("acme", None, [customer_entity(label=en("Client")), *hq_documents()[1:]], "a")
    store.publish("acme", None, "bob", "meanwhile", expected_version=1, documents=hq_documents())
    with pytest.raises(PublishConflict) as conflict:
        store.publish("acme", None, "alice")
    assert (conflict.value.expected_version, conflict.value.current_version) == (1, 2)
    # Nothing is lost: the draft is still there to be reviewed and rebased.
    assert store.draft("acme", None)[0]["label"] == en("Client")


def test_two_concurrent_publishers_of_one_layer_one_wins_one_conflicts(
    engine: Engine, database_url: str
) -> None:
    _published(engine)

    def slow_hook(*_args: Any) -> None:
        time.sleep(0.3)  # hold the publish transaction open while the other one starts

    engines = [make_engine(database_url), make_engine(database_url)]
    stores = [MetadataStore(e, hooks=[slow_hook]) for e in engines]
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def publish(store: MetadataStore, label: str) -> None:
        documents = [customer_entity(label=en(label)), *hq_documents()[1:]]
        barrier.wait()
        try:
            outcomes.append(store.publish("acme", None, label, expected_version=1,
                                          documents=documents))  # fmt: skip
        except PublishConflict as conflict:
            outcomes.append(conflict)

    threads = [
        threading.Thread(target=publish, args=(s, n)) for s, n in zip(stores, "XY", strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for e in engines:
        e.dispose()
    conflicts = [o for o in outcomes if isinstance(o, PublishConflict)]
    winners = [o for o in outcomes if not isinstance(o, PublishConflict)]
    assert len(conflicts) == 1 and len(winners) == 1
    store = MetadataStore(engine)
    (version_2,) = [v for v in store.versions("acme", None) if v.number == 2]
    assert version_2.author == winners[0].author  # type: ignore[attr-defined]
    assert len(store.versions("acme", None)) == 2


def test_diff_between_versions_and_rollback_as_a_new_version(engine: Engine) -> None:
    store = _published(engine)
    entity = customer_entity(label=en("Client"))
    entity["fields"].insert(0, {"key": "vip", "label": en("VIP"), "type": "boolean"})
    store.publish("acme", None, "alice", "relabel", documents=[entity, *hq_documents()[1:]])
    diff = store.diff("acme", None, 1, 2)
    (change,) = diff.changes
    assert (change.kind, change.key, change.change) == ("entity", "customer", "changed")
    assert {(v.pointer, v.change) for v in change.values} == {
        ("/fields/0", "added"),
        ("/label/en", "changed"),
    }
    info = store.rollback("acme", None, 1, "carol")
    assert (info.number, info.comment) == (3, "rollback to version 1")
    assert store.version_documents("acme", None, 3) == store.version_documents("acme", None, 1)
    assert store.effective("acme", None).entity("customer").label.get("en") == "Customer"
    with pytest.raises(UnknownVersion):
        store.rollback("acme", None, 7, "carol")


def test_a_failing_hook_aborts_the_publish_and_hooks_see_physical_configurations(
    engine: Engine,
) -> None:
    make_tenant(engine)
    seen: list[tuple[Configuration | None, Configuration]] = []

    def record(_connection: Any, tenant: Tenant, before: Any, after: Configuration) -> None:
        assert tenant.key == "acme"
        seen.append((before, after))

    def refuse(*_args: Any) -> None:
        raise RuntimeError("migration refused")

    MetadataStore(engine, hooks=[record]).publish("acme", None, "a", documents=hq_documents())
    store = MetadataStore(engine, hooks=[record])
    store.publish("acme", "bu_east", "b", documents=east_documents())
    assert seen[0][0] is None
    assert "east_code" in seen[1][1].entity("customer").field_keys
    assert seen[1][0] is not None and "east_code" not in seen[1][0].entity("customer").field_keys
    version = _config_version(engine)
    with pytest.raises(RuntimeError):
        relabelled = [customer_entity(label=en("Client")), *hq_documents()[1:]]
        MetadataStore(engine, hooks=[refuse]).publish("acme", None, "a", documents=relabelled)
    assert _config_version(engine) == version
    with engine.connect() as connection:
        assert len(connection.execute(select(ConfigVersion.id)).all()) == 2


def test_cache_is_invalidated_by_a_publish_in_another_process(
    engine: Engine, database_url: str
) -> None:
    _published(engine)
    other_engine = make_engine(database_url)
    try:
        reader, writer = MetadataStore(engine), MetadataStore(other_engine)
        first = reader.effective("acme", "br_shanghai")
        assert reader.effective("acme", "br_shanghai") is first
        writer.publish("acme", "bu_east", "bob", documents=[east_extension("east_tier")])
        fresh = reader.effective("acme", "br_shanghai")
        assert fresh is not first
        assert "east_tier" in fresh.entity("customer").field_keys
        assert "east_tier" in reader.physical("acme").entity("customer").field_keys
    finally:
        other_engine.dispose()


def test_effective_configuration_of_an_unknown_unit_is_an_error(engine: Engine) -> None:
    store = _published(engine)
    with pytest.raises(UnknownUnit):
        store.effective("acme", "nowhere")

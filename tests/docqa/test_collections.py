"""Collections: separate indexes by name, asked separately and together, renamed and deleted."""

from __future__ import annotations

import json

import pytest

from docqa import cli
from docqa.collections import CollectionError, Collections
from docqa.config import ConfigError, Settings
from docqa.pipeline import build_pipeline
from generation.fakes import ScriptedGenerator

pytestmark = pytest.mark.unit


@pytest.fixture
def piles(tmp_path):
    """Two piles of documents that share no facts."""
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "chapter.txt").write_text(
        "The thesis measures glacier retreat. The Vatna glacier lost 14 metres in 2019.\n"
    )
    house = tmp_path / "house"
    house.mkdir()
    (house / "boiler.txt").write_text(
        "The boiler was serviced in March. The boiler service costs 120 euros a year.\n"
    )
    return thesis, house


def _ingested(settings, embedder, piles):
    thesis, house = piles
    build_pipeline(settings, embedder=embedder).ingest([thesis])
    build_pipeline(settings.for_collection("house"), embedder=embedder).ingest([house])


def test_each_collection_is_its_own_index(settings, embedder, piles):
    _ingested(settings, embedder, piles)
    registry = Collections(settings, build_pipeline(settings, embedder=embedder).manifest)
    assert registry.names() == ["default", "house"]
    default, house = registry.list()
    assert (default.files, house.files) == (1, 1)
    assert default.location == str(settings.index_dir)  # an index from before collections
    assert house.location == str(settings.collections_dir / "house")
    assert house.chunks >= 1 and house.size_bytes > 0 and house.last_ingest
    only_house = build_pipeline(settings.for_collection("house"), embedder=embedder)
    hits = only_house.retriever().search("glacier retreat metres", 4)
    assert all("boiler" in h.passage.source for h in hits)
    assert {h.collection for h in hits} == {"house"}


def test_a_question_over_several_collections_keeps_each_hit_s_collection(settings, embedder, piles):
    _ingested(settings, embedder, piles)
    gen = ScriptedGenerator(["The boiler service costs 120 euros a year [1]."])
    both = build_pipeline(
        settings.for_collection("default,house"), embedder=embedder, generator=gen
    )
    hits = both.retriever().search("How much does the boiler service cost?", 2)
    assert {h.collection for h in hits} == {"default", "house"}
    assert hits[0].collection == "house"  # the passage that holds the words ranks first
    answer = both.ask("How much does the boiler service cost?")
    assert not answer.abstained
    assert answer.cited[0].hit.collection == "house"
    assert answer.to_dict()["sources"][0]["collection"] == "house"
    with pytest.raises(ConfigError, match="one collection"):
        both.ingest([piles[0]])  # an ingest goes into one collection


def test_create_rename_delete(settings, embedder, piles):
    registry = Collections(settings, build_pipeline(settings, embedder=embedder).manifest)
    made = registry.create("client-a")
    assert made.exists and made.files == 0
    with pytest.raises(CollectionError, match="already exists"):
        registry.create("client-a")
    build_pipeline(settings.for_collection("client-a"), embedder=embedder).ingest([piles[1]])
    renamed = registry.rename("client-a", "client-b")
    assert renamed.files == 1 and registry.names() == ["default", "client-b"]
    with pytest.raises(CollectionError, match="cannot be renamed"):
        registry.rename("client-b", "default")
    registry.delete("client-b")
    assert registry.names() == ["default"]
    assert (piles[1] / "boiler.txt").exists()  # the documents themselves are untouched
    with pytest.raises(CollectionError, match="there is no collection"):
        registry.delete("client-b")


@pytest.mark.parametrize("name", ["", "Upper", "../up", "a b", "x" * 49, "-lead"])
def test_a_collection_name_is_a_safe_folder_name(settings, name):
    with pytest.raises(ValueError):
        Settings.load(env={}, overrides={"collection": name or ","})
    with pytest.raises(CollectionError):
        Collections(settings, lambda: None).settings(name)


def test_the_environment_names_the_collection(tmp_path):
    env = {"DOCQA_COLLECTION": "thesis", "DOCQA_COLLECTIONS_DIR": str(tmp_path / "c")}
    settings = Settings.load(env=env)
    assert settings.index_folder == tmp_path / "c" / "thesis"


def test_cli_lists_creates_and_deletes_only_when_confirmed(settings, tmp_path, capsys, piles):
    config = tmp_path / "docqa.toml"
    config.write_text(
        f'index_dir = "{settings.index_dir}"\ncollections_dir = "{settings.collections_dir}"\n'
    )
    base = ["--config", str(config)]
    assert cli.main([*base, "collections", "create", "notes"]) == 0
    assert "created collection notes" in capsys.readouterr().out
    assert cli.main([*base, "collections", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in listed] == ["default", "notes"]
    assert listed[0]["exists"] is False
    assert cli.main([*base, "collections", "delete", "notes"]) == 1  # no terminal: no
    assert "not deleted" in capsys.readouterr().err
    assert cli.main([*base, "collections", "delete", "notes", "--yes"]) == 0
    assert cli.main([*base, "--collection", "notes", "sources"]) == 1
    assert "no index" in capsys.readouterr().err


def test_collections_on_either_back_end(store_settings, tmp_path, embedder, piles):
    """A collection is a folder on one back-end and a schema on the other; the verbs are the
    same."""
    settings = Settings.load(
        env={},
        overrides={
            **store_settings,
            "collections_dir": str(tmp_path / "collections"),
        },
    )
    registry = Collections(settings, build_pipeline(settings, embedder=embedder).manifest)
    registry.create("thesis")
    build_pipeline(settings.for_collection("thesis"), embedder=embedder).ingest([piles[0]])
    build_pipeline(settings, embedder=embedder).ingest([piles[1]])
    assert registry.names() == ["default", "thesis"]
    assert [i.files for i in registry.list()] == [1, 1]
    assert registry.info("thesis").size_bytes > 0
    both = build_pipeline(settings.for_collection("thesis,default"), embedder=embedder)
    hits = both.retriever().search("glacier metres", 2)
    assert hits[0].collection == "thesis"
    both.close()
    registry.rename("thesis", "thesis-2026")
    assert registry.names() == ["default", "thesis-2026"]
    registry.delete("thesis-2026")
    assert registry.names() == ["default"]


def test_the_chat_offers_the_collections_and_asks_over_the_chosen_ones(settings, embedder, piles):
    from docqa.chat import chat_app

    _ingested(settings, embedder, piles)
    gen = ScriptedGenerator(["The boiler service costs 120 euros a year [1]."])
    app = chat_app(build_pipeline(settings, embedder=embedder, generator=gen))
    assert app.config.collections == ("default", "house")
    choices = app.config.choices
    same = app.variant(choices.model, choices.top_k, choices.policy, "balanced", 0.0, ["default"])
    assert same is app.library
    both = app.variant(
        choices.model, choices.top_k, choices.policy, "balanced", 0.0, ["default", "house"]
    )
    answer = both.ask("How much does the boiler service cost?")
    assert answer.cited and answer.cited[0].hit.collection == "house"


def test_deleting_leaves_what_else_is_in_the_folder(settings, embedder, piles):
    """`--index` may name a folder that holds other things: only the index's files go."""
    build_pipeline(settings, embedder=embedder).ingest([piles[0]])
    (settings.index_dir / "uploads").mkdir()
    (settings.index_dir / "uploads" / "copy.txt").write_text("an uploaded copy")
    (settings.index_dir / "mine.txt").write_text("the user's own file")
    Collections(settings).delete("default")
    assert sorted(p.name for p in settings.index_dir.iterdir()) == ["mine.txt"]
    assert not Collections(settings).exists("default")


def test_a_chat_over_several_collections_asks_all_and_ingests_into_none(settings, embedder, piles):
    from docqa.chat import chat_app

    _ingested(settings, embedder, piles)
    gen = ScriptedGenerator(["The boiler service costs 120 euros a year [1]."])
    both = build_pipeline(
        settings.for_collection("default,house"), embedder=embedder, generator=gen
    )
    app = chat_app(both)
    assert app.config.collections == ()  # no selector: the chat is already over both
    assert app.library.ask("How much does the boiler service cost?").cited[0].hit.collection == (
        "house"
    )
    with pytest.raises(ConfigError, match="one collection"):
        both.ingest([piles[0]])

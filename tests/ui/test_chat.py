"""The chat's logic without a browser: events → views, follow-ups, uploads, documents."""

from pathlib import Path

import pytest

from docqa.chat import chat_app
from docqa.pipeline import build_pipeline
from generation.fakes import ScriptedGenerator
from generation.types import Done, Retrieved, Rewritten, Token
from ui import conversations
from ui.app import Busy
from ui.chat import answer_markdown, chat_views, sources_html
from ui.uploads import UploadError, safe_name, save_upload

pytestmark = pytest.mark.unit


def pipe(settings, embedder, corpus, replies, **overrides):
    s = settings.model_copy(
        update={"factcheck": settings.factcheck.model_copy(update=overrides)} if overrides else {}
    )
    p = build_pipeline(s, embedder=embedder, generator=ScriptedGenerator(replies))
    p.ingest([corpus])
    return p


def test_events_stream_tokens_between_the_passages_and_the_checked_answer(
    settings, embedder, corpus
):
    p = pipe(settings, embedder, corpus, ["The budget is 18,000 euros [1]."])
    events = list(p.stream("What is the budget for the lighthouse repair?"))
    assert isinstance(events[0], Retrieved) and isinstance(events[-1], Done)
    tokens = [e.text for e in events if isinstance(e, Token)]
    assert len(tokens) > 1 and "".join(tokens) == "The budget is 18,000 euros [1]."
    assert events[-1].answer.text == "The budget is 18,000 euros [1]."


def test_views_show_the_reply_growing_then_the_answer_with_clickable_citations(
    settings, embedder, corpus
):
    p = pipe(settings, embedder, corpus, ["The budget is 18,000 euros [1]."])
    views = list(chat_views(p, "What is the budget for the lighthouse repair?"))
    partial = [v.reply for v in views if not v.done]
    assert any("18,000" in r for r in partial)  # streamed before the check
    final = views[-1]
    assert final.done and final.answer is not None
    assert '<a class="docqa-cite" href="#docqa-src-1-1">[1]</a>' in final.reply
    assert 'id="docqa-src-1-1"' in final.sources and "(cited)" in final.sources
    assert "notes.txt" in final.sources
    assert "<mark>" in final.sources  # the supporting span is highlighted


def test_flag_mode_marks_unsupported_sentences_and_strict_mode_drops_them(
    settings, embedder, corpus
):
    reply = ["The budget is 18,000 euros [1]. The repair is led by Maria Lopez [1]."]
    question = "What is the budget for the lighthouse repair?"
    flagged = list(chat_views(pipe(settings, embedder, corpus, reply, policy="flag"), question))[-1]
    assert flagged.reply.count('class="docqa-flag"') == 1 and "⚠" in flagged.reply
    assert "Maria" in flagged.reply and "not in the cited passage" in flagged.reply
    strict = list(chat_views(pipe(settings, embedder, corpus, reply), question))[-1]
    assert "Maria" not in strict.reply and "docqa-flag" not in strict.reply


def test_the_preview_shows_where_the_answer_is_until_the_model_writes(settings, embedder, corpus):
    p = pipe(settings, embedder, corpus, ["The budget is 18,000 euros [1]."])
    views = list(chat_views(p, "What is the budget for the lighthouse repair?"))
    previews = [v for v in views if 'class="docqa-preview"' in v.reply]
    assert previews and not previews[0].done
    first = previews[0]
    assert "Closest passage" in first.reply and "18,000 euros" in first.reply
    assert 'href="#docqa-src-1-1"' in first.reply and "<mark>" in first.sources
    assert "(closest to the question)" in first.sources and "not cited" not in first.sources
    assert views.index(first) < min(
        i for i, v in enumerate(views) if "docqa-stage" in v.reply and "Writing" in v.reply
    )
    assert 'class="docqa-preview"' not in views[-1].reply  # the checked answer replaced it


def test_an_abstention_after_a_preview_says_the_passage_was_not_enough():
    from generation.types import ABSTENTION, Answer, Preview, Source
    from index.types import Passage
    from retrieval.types import Hit
    from ui.chat import Turn

    passage = Passage(text="Intro. The seal lasts long.", source="/m/pump.md")
    source = Source(1, Hit(passage=passage, score=1.0))
    turn = Turn("3", "How long exactly?")
    turn.feed(Retrieved((source,)))
    turn.feed(Preview(source, 7, 27))
    assert "The seal lasts long." in turn.view().reply
    turn.feed(Done(Answer("q", ABSTENTION, True, (), (source,), "answerability 0.10 < 0.37")))
    reply = turn.view().reply
    assert "I don't know" in reply and "The closest passage, [1], was not enough" in reply


def test_an_abstention_says_why(settings, embedder, corpus):
    p = pipe(settings, embedder, corpus, ["unused"])
    view = list(chat_views(p, "zebra quantum saxophone?"))[-1]
    assert view.done and view.answer.abstained
    assert "I don't know" in view.reply and "Why: the indexed documents do not seem" in view.reply


def test_a_follow_up_is_rewritten_before_retrieval(settings, embedder, corpus):
    gen = ScriptedGenerator(["Who leads the lighthouse repair?", "Ana Kovacs leads it [1]."])
    p = build_pipeline(settings, embedder=embedder, generator=gen)
    p.ingest([corpus])
    history = [("What is the budget for the lighthouse repair?", "18,000 euros [1].")]
    events = list(p.stream("and who leads it?", history))
    assert events[0] == Rewritten("and who leads it?", "Who leads the lighthouse repair?")
    assert "Follow-up question: and who leads it?" in gen.calls[0]["messages"][1]["content"]
    assert "Who leads the lighthouse repair?" in gen.calls[1]["messages"][-1]["content"]
    assert not events[-1].answer.abstained
    views = list(
        chat_views(
            build_pipeline(
                settings,
                embedder=embedder,
                generator=ScriptedGenerator(
                    ["Who leads the lighthouse repair?", "Ana Kovacs leads it [1]."]
                ),
            ),
            "and who?",
            history,
        )
    )
    assert views[-1].reply.startswith("*Answering: Who leads the lighthouse repair?*")


def test_an_off_topic_question_in_a_conversation_abstains_without_the_rewrite(
    settings, embedder, corpus
):
    gen = ScriptedGenerator(["Who plays the saxophone in quantum zebra bands?", "unused"])
    p = build_pipeline(settings, embedder=embedder, generator=gen)
    p.ingest([corpus])
    history = [("What is the budget for the lighthouse repair?", "18,000 euros [1].")]
    events = list(p.stream("zebra quantum saxophone?", history))
    assert not gen.calls  # no rewrite, no answer: the gate refused it alone and in context
    assert events[-1].answer.abstained and not any(isinstance(e, Rewritten) for e in events)


def test_model_and_document_text_cannot_inject_html():
    from generation.types import Answer, AnswerSentence, Source
    from index.types import Passage
    from retrieval.types import Hit

    text = "<img src=x onerror=alert(1)> 22 miles"
    passage = Passage(id=1, text=text, source="/a<b>.md", title="T", end=9)
    hit = Hit(passage=passage, score=0.1, dense_score=0.9)
    answer = Answer(
        "q", "", False, (AnswerSentence("It is <b>22</b> miles.", (1,)),), (Source(1, hit),)
    )
    assert "<b>" not in answer_markdown(answer) and "&lt;b&gt;" in answer_markdown(answer)
    panel = sources_html(answer.sources, {1})
    assert "<img" not in panel and "&lt;img" in panel and "/a&lt;b&gt;.md" in panel


def test_upload_names_are_sanitised_and_sizes_limited(tmp_path):
    src = tmp_path / "tmp-upload"
    src.write_text("hello")
    folder = tmp_path / "index" / "uploads"
    for hostile in ("../../escape.txt", "/etc/passwd", "..", "a/../../b.md", "..\\x.md"):
        saved = save_upload(src, hostile, folder, 100)
        assert saved.parent == folder.resolve() and saved.read_text() == "hello"
    assert sorted(p.name for p in folder.iterdir()) == [
        "b.md",
        "escape.txt",
        "passwd",
        "upload",
        "x.md",
    ]
    with pytest.raises(UploadError, match=r"big.pdf: .* over the upload limit of"):
        save_upload(src, "big.pdf", folder, 3)
    assert not (folder / "big.pdf").exists()
    assert safe_name("report 2024 (final).pdf") == "report 2024 _final_.pdf"


def test_app_ingests_uploads_reports_each_file_and_removes(settings, embedder, tmp_path):
    app = chat_app(build_pipeline(settings, embedder=embedder, generator=ScriptedGenerator(["x"])))
    good = tmp_path / "good.md"
    good.write_text("# Pumps\n\nThe seal lasts 1,500 hours.\n")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * (settings.ui.max_upload_mb * 1024 * 1024 + 1))
    rows, docs = app.ingest_uploads([str(good), str(empty), str(big)])
    status = {Path(r[0]).name: (r[1], r[2]) for r in rows}
    assert status["big.txt"][0] == "failed" and "upload limit" in status["big.txt"][1]
    assert status["good.md"] == ("indexed", "1 chunk")
    assert status["empty.txt"][0] == "failed"
    assert [Path(d[0]).name for d in docs] == ["good.md"]
    assert Path(docs[0][0]).parent == settings.index_dir / "uploads"
    message, docs = app.remove(docs[0][0])
    assert message.startswith("Removed 1 file(s)") and docs == []


def test_app_streams_a_chat_turn_and_keeps_the_conversation(settings, embedder, corpus):
    p = pipe(settings, embedder, corpus, ["The budget is 18,000 euros [1]."])
    app = chat_app(p)
    g = settings
    choices = (
        g.generation.model,
        g.retrieval.top_k,
        g.factcheck.policy,
        g.factcheck.level,
        g.generation.temperature,
    )
    question = "What is the budget for the lighthouse repair?"
    box, chat, taken, busy = app.take(question, [], False)
    assert (box, taken, busy) == ("", question, True) and chat[-1]["content"] == question
    turns = list(app.respond(taken, chat, [], [], *choices))
    assert len(turns) > 3  # the reply grows in the chat as it streams
    assert any("docqa-stage" in t[0][-1]["content"] for t in turns[:-1])  # the stage is shown
    chat, panel, pairs, groups = turns[-1]
    assert [m["role"] for m in chat] == ["user", "assistant"]
    assert "[1]</a>" in chat[-1]["content"] and "docqa-src-1-1" in panel
    assert pairs == [(question, "The budget is 18,000 euros [1].")] and len(groups) == 1
    # a second answer's citations and passages carry their own turn; the first's stay
    _, chat, taken, _ = app.take("And the repair budget?", chat, False)
    chat, panel, pairs, groups = list(app.respond(taken, chat, pairs, groups, *choices))[-1]
    assert "docqa-src-2-1" in chat[-1]["content"] and "docqa-src-1-1" in chat[1]["content"]
    assert 'id="docqa-src-1-1"' in panel and 'id="docqa-src-2-1"' in panel
    # a reload restores what the browser kept
    store = conversations.keep({}, conversations.Conversation("c1", chat, pairs, groups))
    restored = app.open_conversation(store)
    assert restored == (chat, pairs, groups, panel, "c1")
    assert app.open_conversation({"items": {"c1": {"chat": "garbage"}}, "current": "c1"})[:4] == (
        [],
        [],
        [],
        "",
    )
    with pytest.raises(Busy):
        app.take("a third question", chat, True)
    # Retry takes the last question back out, with its answer, sources and conversation turn;
    # the page sends messages back as content blocks
    blocks = [{**m, "content": [{"type": "text", "text": m["content"]}]} for m in chat]
    kept, again, pairs2, groups2, busy = app.retake(blocks, pairs, groups, False)
    assert again == "And the repair budget?" and busy and len(kept) == 3
    assert (pairs2, groups2) == (pairs[:1], groups[:1])
    chat, panel, pairs, groups = list(app.respond(again, kept, pairs2, groups2, *choices))[-1]
    assert len(chat) == 4 and len(pairs) == len(groups) == 2 and "docqa-src-2-1" in panel
    assert (
        app.variant(
            g.generation.model,
            g.retrieval.top_k,
            g.factcheck.policy,
            g.factcheck.level,
            g.generation.temperature,
        )
        is p
    )  # the same pipeline
    other = app.variant(g.generation.model, 2, "flag", "strict", g.generation.temperature)
    assert other is not p and other.generator is p.generator  # same model stays loaded
    assert other.settings.retrieval.top_k == 2 and other.settings.factcheck.policy == "flag"
    assert other.settings.factcheck.level == "strict"
    assert app.variant(g.generation.model, 4, "strict", "0.7", 0.0).settings.factcheck.level == 0.7


def test_conversations_are_kept_listed_renamed_and_forgotten():
    def said(question):
        return [{"role": "user", "content": question}, {"role": "assistant", "content": "A."}]

    first = conversations.Conversation("c1", said("How long does the dough rest?"), [], [])
    second = conversations.Conversation("c2", said("Who leads the repair?"), [], [])
    store = conversations.keep({}, first, now=1.0)
    store = conversations.keep(store, second, now=2.0)
    assert conversations.listing(store) == [
        ("Who leads the repair?", "c2"),
        ("How long does the dough rest?", "c1"),
    ]
    assert store["current"] == "c2" and conversations.opened(store, "c1") == first
    store = conversations.renamed(store, "c1", "  Bakery   questions ")
    store = conversations.keep(store, first, now=3.0)  # going on keeps the name given
    assert conversations.listing(store)[0] == ("Bakery questions", "c1")
    store = conversations.renamed(store, "c1", "")
    assert conversations.listing(store)[0] == ("How long does the dough rest?", "c1")
    store = conversations.forgotten(store, "c1")
    assert [i for _, i in conversations.listing(store)] == ["c2"] and store["current"] == ""
    empty = conversations.Conversation("c3", [], [], [])
    assert "c3" not in conversations.keep(store, empty)["items"]  # nothing said: not listed
    assert conversations.opened("not a shelf").chat == []
    many = {}
    for n in range(conversations.MAX_KEPT + 5):
        many = conversations.keep(
            many, conversations.Conversation(f"k{n}", said("q"), [], []), now=n
        )
    assert len(many["items"]) == conversations.MAX_KEPT and "k0" not in many["items"]


def test_the_conversation_on_screen_exports_with_verbatim_quotes(settings, embedder, corpus):
    p = pipe(settings, embedder, corpus, ["The budget is 18,000 euros [1]."])
    app = chat_app(p)
    g = settings
    choices = (g.generation.model, 4, "strict", g.factcheck.level, 0.0)
    with pytest.raises(ValueError, match="nothing to export"):
        app.export([], "md")
    first = "What is the budget for the lighthouse repair?"
    _, chat, _, _ = app.take(first, [], False)
    chat, _, pairs, groups = list(app.respond(first, chat, [], [], *choices))[-1]
    second = "And the repair budget?"
    _, chat, _, _ = app.take(second, chat, False)
    chat, _, pairs, groups = list(app.respond(second, chat, pairs, groups, *choices))[-1]
    text = app.export(pairs, "md")
    assert f"## 1. {first}" in text and "## 2. " in text  # a follow-up as it was searched
    notes = (corpus / "notes.txt").read_text()
    quotes = [line.strip()[2:] for line in text.splitlines() if line.strip()[:2] == "> "]
    assert quotes and all(q in notes for q in quotes)
    # another conversation on the same page: only its own answers are exported
    other = "Who leads the repair?"
    _, chat2, _, _ = app.take(other, [], False)
    _, _, pairs2, _ = list(app.respond(other, chat2, [], [], *choices))[-1]
    text = app.export(pairs2, "html")
    assert other in text and first not in text and text.startswith("<!doctype html>")


def test_the_preview_quotes_the_passage_as_text_without_markdown_escapes():
    """The preview is an HTML block, where Markdown escapes would show as backslashes."""
    from generation.types import Preview, Source
    from index.types import Passage
    from retrieval.types import Hit
    from ui.chat import preview_markdown

    text = "Intro. The field abstain_reason says *why* <b>here</b>\n\nand [1] there."
    passage = Passage(text=text, source="/m/a.md")
    shown = preview_markdown(Preview(Source(1, Hit(passage=passage, score=1.0)), 7, len(text)))
    assert "abstain_reason says *why* &lt;b&gt;here&lt;/b&gt; and [1] there." in shown
    assert "\\" not in shown and "<b>" not in shown
    assert "\n" not in shown  # one line: a blank line would end the HTML block

"""`docqa ui` as a server: the chat in a real browser on the real models and a fixture index
(ask, see the cited answer, click the citation, see the passage, upload a file, keep
screenshots), and the server's safety (loopback by default, login when configured)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parents[1] / "fixtures"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
SCREENSHOTS = Path(os.environ.get("DOCQA_SCREENSHOTS", "test-artifacts"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status(url: str, data: bytes | None = None, opener=None) -> int:
    opener = opener or urllib.request.build_opener()
    try:
        with opener.open(url, data=data, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_for(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"docqa ui exited with {proc.returncode}: "
                f"{proc.stderr.read() if proc.stderr else ''}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout} s")


DOCQA = [sys.executable, "-m", "docqa"]


@pytest.fixture(scope="module")
def index_env(tmp_path_factory) -> dict[str, str]:
    index = tmp_path_factory.mktemp("ui") / "index"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "DOCQA_INDEX": str(index),
    }
    subprocess.run(
        [*DOCQA, "ingest", str(FIXTURES / "corpus")],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return env


@contextlib.contextmanager
def serve(env: dict[str, str], log_dir: Path):
    port = free_port()
    log = (log_dir / f"server-{port}.log").open("w+")
    proc = subprocess.Popen(
        [*DOCQA, "ui", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for(url, proc)
        yield url, port
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.seek(0)
        print(log.read()[-3000:])


@pytest.fixture(scope="module")
def server(index_env, tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("no chromium on this machine (.ci/run installs Debian's chromium package)")
    with serve(index_env, tmp_path_factory.mktemp("ui-log")) as (url, _):
        yield url


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(browser, server):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(server)
    yield page
    page.close()


@pytest.fixture
def fresh(browser, server):
    """A page of its own (its own browser storage): an empty conversation."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(server)
    page.locator("#docqa-question textarea").wait_for(timeout=60_000)
    yield page
    context.close()


def ask(page, question: str) -> None:
    """Send a question and wait until the conversation shows it."""
    asked = page.locator("#docqa-chat .user").count()
    page.locator("#docqa-question textarea").fill(question)
    page.locator("#docqa-ask").click()
    page.wait_for_function(
        "(n) => document.querySelectorAll('#docqa-chat .user').length > n", arg=asked
    )


def answered(page, count: int, timeout: float = 240_000) -> str:
    """Wait until the conversation holds `count` finished answers; the last one's text."""
    page.wait_for_function(
        """(n) => {
          const bots = document.querySelectorAll('#docqa-chat .bot');
          const ask = document.querySelector('#docqa-ask');
          const last = bots[bots.length - 1];
          return bots.length >= n && !last.querySelector('.docqa-stage')
            && !last.innerText.includes('Loading content') && ask && !ask.disabled;
        }""",
        arg=count,
        timeout=timeout,
    )
    return page.locator("#docqa-chat .bot").last.inner_text()


def upload_file(page, path: Path) -> None:
    """Upload a file in the Documents tab and ingest it; the outcome table names it."""
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Documents").click()
    page.locator('#docqa-upload input[type="file"]').set_input_files(str(path))
    page.locator("#docqa-upload").get_by_text(path.name).wait_for(timeout=30_000)
    page.get_by_role("button", name="Ingest uploads").click()
    expect(page.locator("#docqa-outcome")).to_contain_text(path.name, timeout=60_000)


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def test_ask_see_the_cited_answer_and_open_the_passage(page):
    ask(page, "How long does the sourdough rest before baking?")
    # The checked answer, not the preview before it (which cites and quotes the passage too).
    reply = answered(page, 1)
    assert "36" in reply and "Closest passage" not in reply, reply
    cite = page.locator('#docqa-chat .bot a[href^="#docqa-src-"]').last
    n = cite.get_attribute("href").removeprefix("#docqa-src-")
    passage = page.locator(f"#docqa-src-{n} p")
    cite.click()
    passage.wait_for(state="visible", timeout=10_000)
    assert "36 hours" in passage.inner_text()
    assert "bakery.html" in page.locator(f"#docqa-src-{n}").inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "chat-answer.png"), full_page=True)


def test_the_preview_appears_before_the_answer_and_both_are_timed(fresh):
    """Records (does not assert) the seconds from the click until the preview and until the
    checked answer appear in the page: test-artifacts/ui-timings.json, and the test's output."""
    question = "How many berths does the east pontoon have?"
    # The figure is about an answer, not about loading the page: the welcome is shown first.
    fresh.locator("#docqa-chat").get_by_text("indexed").first.wait_for(timeout=60_000)
    fresh.locator("#docqa-question textarea").fill(question)
    start = time.monotonic()
    fresh.locator("#docqa-ask").click()
    fresh.locator("#docqa-chat .bot .docqa-preview").first.wait_for(timeout=60_000)
    preview_s = time.monotonic() - start
    preview = fresh.locator("#docqa-chat .bot .docqa-preview").first.inner_text()
    reply = answered(fresh, 1)
    answer_s = time.monotonic() - start
    assert "Closest passage" in preview and "40 berths" in preview, preview
    assert "40" in reply and "Closest passage" not in reply, reply  # the answer replaced it
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    timings = {
        "question": question,
        "preview_s": round(preview_s, 2),
        "answer_s": round(answer_s, 2),
    }
    (SCREENSHOTS / "ui-timings.json").write_text(json.dumps(timings, indent=2))
    print(f"browser: preview after {preview_s:.2f} s, checked answer after {answer_s:.2f} s")
    assert preview_s < answer_s


def test_a_partial_answer_names_what_is_missing_and_the_settings_show_the_levels(page):
    from playwright.sync_api import expect

    ask(page, "How tall is the Kestrel Bay lighthouse tower, and who designed it?")
    gap = page.locator("#docqa-chat .docqa-gap").last
    gap.wait_for(timeout=180_000)
    assert gap.inner_text() == "The documents do not say: who designed it?"
    assert "31" in page.locator("#docqa-chat").inner_text()
    page.get_by_text("Settings").click()
    levels = page.locator("#docqa-levels")
    expect(levels).to_contain_text("strict", timeout=10_000)
    assert "of unanswerable ones" in levels.inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "chat-partial-answer.png"), full_page=True)


def test_upload_a_file_in_the_documents_tab_and_see_it_indexed(page, tmp_path):
    from playwright.sync_api import expect

    upload = tmp_path / "greenhouse notes.md"
    upload.write_text("# Greenhouse\n\nTomato seedlings are watered every 3 days.\n")
    upload_file(page, upload)
    result = page.locator("#docqa-outcome")
    expect(result).to_contain_text("uploads/greenhouse notes.md", timeout=10_000)
    assert "indexed" in result.inner_text() and "1 chunk" in result.inner_text()
    listed = page.locator("#docqa-documents")
    expect(listed).to_contain_text("uploads/greenhouse notes.md", timeout=10_000)
    assert "bakery.html" in listed.inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "documents-upload.png"), full_page=True)


def test_the_server_binds_loopback_and_asks_for_the_configured_login(index_env, tmp_path):
    env = {**index_env, "DOCQA_UI__USERNAME": "ann", "DOCQA_UI__PASSWORD": "s3cret"}
    with serve(env, tmp_path) as (url, port):
        assert status(url + "config") == 401  # nothing but the login page without it
        assert status(url + "gradio_api/info") == 401
        jar = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        wrong = urllib.parse.urlencode({"username": "ann", "password": "nope"}).encode()
        assert status(url + "login", wrong, jar) == 400
        right = urllib.parse.urlencode({"username": "ann", "password": "s3cret"}).encode()
        assert status(url + "login", right, jar) == 200
        assert status(url + "config", opener=jar) == 200
        outside = [
            a for a in {socket.gethostbyname(socket.gethostname())} if not a.startswith("127.")
        ]
        for address in outside:  # the port is not open on the machine's network address
            with pytest.raises(OSError), socket.create_connection((address, port), timeout=2):
                pass


def test_an_old_answers_citation_opens_its_own_passage(fresh):
    ask(fresh, "How long does the sourdough rest before baking?")
    assert "36" in answered(fresh, 1)
    ask(fresh, "How many berths does the east pontoon have?")
    assert "40" in answered(fresh, 2)
    first, second = (fresh.locator("#docqa-chat .bot").nth(i) for i in (0, 1))
    first.locator("a.docqa-cite").first.click()
    opened = fresh.locator("#docqa-sources .docqa-source.docqa-active p")
    opened.wait_for(state="visible", timeout=10_000)
    assert "36 hours" in opened.inner_text()  # the first answer's passage, not the newest's
    second.locator("a.docqa-cite").first.click()
    fresh.wait_for_timeout(300)
    assert "40 berths" in fresh.locator("#docqa-sources .docqa-source.docqa-active p").inner_text()
    shot(fresh, "chat-old-citation.png")
    # a reload restores the conversation and its sources
    fresh.reload()
    fresh.locator("#docqa-chat .bot").nth(1).wait_for(timeout=30_000)
    restored = fresh.locator("#docqa-chat .bot").first
    assert "36" in restored.inner_text()
    restored.locator("a.docqa-cite").first.click()
    fresh.wait_for_timeout(300)
    assert "36 hours" in fresh.locator("#docqa-sources .docqa-source.docqa-active p").inner_text()
    # clearing forgets everything the model would see: a follow-up is not rewritten into
    # the deleted conversation
    fresh.locator("#docqa-new").click()
    fresh.wait_for_function("!document.querySelector('#docqa-chat .bot')", timeout=10_000)
    ask(fresh, "How long does it rest?")
    assert not answered(fresh, 1).startswith("Answering:")
    fresh.reload()
    fresh.locator("#docqa-chat .bot").first.wait_for(timeout=30_000)
    assert fresh.locator("#docqa-chat .bot").count() == 1


def test_a_second_question_while_busy_is_kept_and_typing_is_left_alone(fresh):
    ask(fresh, "When does the bakery open on Sundays?")
    fresh.locator("#docqa-chat .docqa-stage").first.wait_for(timeout=30_000)
    assert fresh.locator("#docqa-ask").is_disabled()
    box = fresh.locator("#docqa-question textarea")
    box.fill("How many berths does the east pontoon have?")
    box.press("Enter")  # sent while the first is being answered
    fresh.get_by_text("Still answering the last question").first.wait_for(timeout=10_000)
    shot(fresh, "chat-busy.png")
    answered(fresh, 1)
    assert box.input_value() == "How many berths does the east pontoon have?"  # not erased
    assert fresh.locator("#docqa-chat .user").count() == 1  # and not silently queued or lost
    fresh.locator("#docqa-ask").click()
    assert "40" in answered(fresh, 2)


def test_stop_ends_the_answer_frees_the_model_and_retry_answers_again(fresh):
    ask(fresh, "How many nautical miles is the Kestrel Bay lighthouse visible for?")
    stop = fresh.locator("#docqa-stop")
    stop.wait_for(state="visible", timeout=30_000)
    stop.click()
    fresh.get_by_text("Stopped").first.wait_for(timeout=60_000)
    answered(fresh, 1, timeout=60_000)
    assert not fresh.locator("#docqa-stop").is_visible()
    fresh.locator("#docqa-chat").get_by_role("button", name="Retry").last.click()
    fresh.wait_for_function(
        "!document.querySelector('#docqa-chat').innerText.includes('Stopped')", timeout=30_000
    )
    assert "22" in answered(fresh, 1)  # the model answers again after a stop
    assert fresh.locator("#docqa-chat .user").count() == 1  # the same question, once


def _contrast(page, selector: str) -> float:
    """WCAG contrast ratio between an element's text colour and its (first opaque) background."""
    return page.evaluate(
        """(sel) => {
          const el = document.querySelector(sel);
          const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
          const lum = ([r, g, b]) => {
            const f = (v) => {
              v /= 255;
              return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
            };
            return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
          };
          let bg = el, c;
          while (bg) {
            c = rgb(getComputedStyle(bg).backgroundColor);
            if (c.length < 4 || c[3] > 0.5) break;
            bg = bg.parentElement;
          }
          const fg = lum(rgb(getComputedStyle(el).color)), back = lum(c || [255, 255, 255]);
          return (Math.max(fg, back) + 0.05) / (Math.min(fg, back) + 0.05);
        }""",
        selector,
    )


def test_the_opened_passage_reads_in_dark_mode_and_the_page_fits_a_phone(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, color_scheme="dark")
    page = context.new_page()
    page.goto(server + "?__theme=dark")
    ask(page, "How long does the sourdough rest before baking?")
    answered(page, 1)
    page.locator("#docqa-chat a.docqa-cite").first.click()
    active = "#docqa-sources .docqa-source.docqa-active p"
    page.locator(active).wait_for(state="visible", timeout=10_000)
    assert _contrast(page, active) >= 4.5
    assert _contrast(page, "#docqa-sources .docqa-source.docqa-active mark") >= 4.5
    shot(page, "chat-dark.png")
    context.close()
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = phone.new_page()
    page.goto(server)
    page.locator("#docqa-question textarea").wait_for(timeout=60_000)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    box = page.locator("#docqa-question textarea").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    shot(page, "chat-phone.png")
    phone.close()


def test_the_first_screen_says_what_is_indexed_and_an_answer_copies_with_its_sources(
    browser, server
):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.goto(server)
    welcome = page.locator("#docqa-chat").get_by_text("indexed document")
    welcome.wait_for(timeout=60_000)
    assert "bakery.html" in page.locator("#docqa-chat").inner_text()
    ask(page, "How long does the sourdough rest before baking?")
    answered(page, 1)
    page.locator("#docqa-chat a.docqa-copy").last.click()
    page.get_by_text("Copied").wait_for(timeout=10_000)
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "<a" not in copied and "36 hours" in copied and "[1]" in copied
    assert "Sources:\n[1] Moulin Street Bakery · bakery.html" in copied
    context.close()


def test_remove_asks_first_and_deletes_the_uploaded_copy(page, tmp_path):
    from playwright.sync_api import expect

    upload = tmp_path / "ferry times.md"
    upload.write_text("# Ferry\n\nThe island ferry leaves at 9:15 every morning.\n")
    upload_file(page, upload)
    listed = page.locator("#docqa-documents")
    expect(listed).to_contain_text("uploads/ferry times.md", timeout=60_000)
    stored = (
        next(line for line in listed.inner_text().splitlines() if "uploads/ferry times.md" in line)
        .split("\t")[0]
        .strip()
    )
    assert Path(stored).is_file()
    chooser = page.get_by_label("Remove a document")
    chooser.fill(stored)
    chooser.press("Enter")
    page.once("dialog", lambda dialog: dialog.dismiss())  # "Remove …?" — no
    page.locator("#docqa-remove").click()
    expect(page.get_by_text("Nothing removed.")).to_be_visible(timeout=10_000)
    assert "ferry times.md" in listed.inner_text()
    page.once("dialog", lambda dialog: dialog.accept())  # yes
    page.locator("#docqa-remove").click()
    expect(page.get_by_text("Removed 1 file(s)")).to_be_visible(timeout=30_000)
    expect(listed).not_to_contain_text("ferry times.md", timeout=10_000)
    assert not Path(stored).exists()  # the uploaded copy went with it


def test_conversations_are_kept_reopened_renamed_and_deleted(fresh):
    from playwright.sync_api import expect

    ask(fresh, "How long does the sourdough rest before baking?")
    answered(fresh, 1)
    fresh.locator("#docqa-new").click()
    fresh.wait_for_function("!document.querySelector('#docqa-chat .bot')", timeout=10_000)
    ask(fresh, "How many berths does the east pontoon have?")
    answered(fresh, 1)
    fresh.locator("#docqa-history").get_by_text("Conversations").click()
    shelf = fresh.locator("#docqa-shelf input")
    shelf.click()
    options = fresh.get_by_role("option")
    expect(options).to_have_count(2, timeout=10_000)
    listed = [options.nth(i).inner_text().replace("✓", "").strip() for i in range(2)]
    assert listed[0].startswith("How many berths"), listed  # the newest first
    options.filter(has_text="sourdough").click()
    fresh.wait_for_function(
        "document.querySelector('#docqa-chat').innerText.includes('36')", timeout=10_000
    )
    assert "berths" not in fresh.locator("#docqa-chat").inner_text()
    fresh.locator("#docqa-name textarea").fill("Bakery")
    fresh.locator("#docqa-rename").click()
    expect(shelf).to_have_value("Bakery", timeout=10_000)
    fresh.reload()  # the reopened, renamed conversation is the one a reload shows
    fresh.locator("#docqa-chat .bot").first.wait_for(timeout=30_000)
    assert "36" in fresh.locator("#docqa-chat").inner_text()
    fresh.locator("#docqa-history").get_by_text("Conversations").click()
    fresh.once("dialog", lambda dialog: dialog.accept())
    fresh.locator("#docqa-delete").click()
    fresh.wait_for_function("!document.querySelector('#docqa-chat .bot')", timeout=10_000)
    shelf.click()
    expect(fresh.get_by_role("option")).to_have_count(1, timeout=10_000)
    assert "berths" in fresh.get_by_role("option").first.inner_text()
    shot(fresh, "chat-conversations.png")


def test_a_name_on_a_many_topic_pdf_page_is_answered_from_the_page_shown(page, milton_pdf):
    """ "Who was Margaret Hale?" over an uploaded 3-page PDF: the page that names her is the
    first source, and the answer comes from it instead of "I don't know" next to it."""

    upload_file(page, milton_pdf)
    page.get_by_role("tab", name="Chat").click()
    page.locator("#docqa-new").click()
    page.wait_for_function("!document.querySelector('#docqa-chat .bot')", timeout=10_000)
    ask(page, "Who was Margaret Hale?")
    reply = answered(page, 1)
    assert "don't know" not in reply and ("daughter" in reply or "clergyman" in reply), reply
    page.locator("#docqa-chat .bot").last.locator("a.docqa-cite").first.click()
    opened = page.locator("#docqa-sources .docqa-source.docqa-active")
    opened.wait_for(timeout=10_000)
    assert "page 3" in opened.inner_text() and "Margaret Hale" in opened.inner_text()
    shot(page, "chat-pdf-name.png")

"""`docqa ui` as a server: the chat in a real browser on the real models and a fixture index
(ask, see the cited answer, click the citation, see the passage, upload a file, keep
screenshots), and the server's safety (loopback by default, login when configured)."""

from __future__ import annotations

import contextlib
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
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server)
        yield page
        browser.close()


def ask(page, question: str) -> None:
    page.locator("#docqa-question textarea").fill(question)
    page.locator("#docqa-ask").click()


def test_ask_see_the_cited_answer_and_open_the_passage(page):
    ask(page, "How long does the sourdough rest before baking?")
    cite = page.locator('#docqa-chat a[href^="#docqa-src-"]').first
    cite.wait_for(timeout=180_000)
    reply = page.locator("#docqa-chat").inner_text()
    assert "36" in reply, reply
    n = cite.get_attribute("href").removeprefix("#docqa-src-")
    passage = page.locator(f"#docqa-src-{n} p")
    cite.click()
    passage.wait_for(state="visible", timeout=10_000)
    assert "36 hours" in passage.inner_text()
    assert "bakery.html" in page.locator(f"#docqa-src-{n}").inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "chat-answer.png"), full_page=True)


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
    page.get_by_role("tab", name="Documents").click()
    page.locator('#docqa-upload input[type="file"]').set_input_files(str(upload))
    page.locator("#docqa-upload").get_by_text("greenhouse notes.md").wait_for(timeout=30_000)
    page.get_by_role("button", name="Ingest uploads").click()
    result = page.locator("#docqa-outcome")
    expect(result).to_contain_text("uploads/greenhouse notes.md", timeout=60_000)
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

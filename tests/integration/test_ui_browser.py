"""The chat in a real browser: start `docqa ui` on the real models and a fixture index, ask,
see the answer and its citation, click the citation, see the passage, keep a screenshot."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parents[1] / "fixtures"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update"]
SCREENSHOTS = Path(os.environ.get("DOCQA_SCREENSHOTS", "test-artifacts"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"docqa ui exited with {proc.returncode}: "
                                 f"{proc.stderr.read() if proc.stderr else ''}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout} s")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("no chromium on this machine (.ci/run installs Debian's chromium package)")
    index = tmp_path_factory.mktemp("ui") / "index"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "GRADIO_ANALYTICS_ENABLED": "False", "DOCQA_INDEX": str(index)}
    docqa = [sys.executable, "-m", "docqa"]
    subprocess.run([*docqa, "ingest", str(FIXTURES / "corpus")], env=env, check=True,
                   capture_output=True, timeout=300)
    port = free_port()
    log = (tmp_path_factory.mktemp("ui-log") / "server.log").open("w+")
    proc = subprocess.Popen([*docqa, "ui", "--port", str(port)], env=env, stdout=log,
                            stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.seek(0)
        print(log.read()[-3000:])


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server)
        yield page
        browser.close()


def test_ask_see_the_cited_answer_and_open_the_passage(page):
    page.locator("#docqa-question textarea").fill(
        "How long does the sourdough rest before baking?")
    page.locator("#docqa-ask").click()
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

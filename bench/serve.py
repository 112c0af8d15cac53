"""What the HTTP API costs on top of the library, and how it holds a burst.

    .venv/bin/python bench/serve.py [--index DIR] [--questions FILE] [--limit N] [--ask]

Over an existing index (default: a fresh one of docqa's own `docs/`), with the real embedder,
in one process: `docqa serve`'s app on a loopback port, and the same `Hub` called directly.
Interleaved question by question, so load from elsewhere falls on both alike:

- search: `POST /api/search` against `Hub.search` (the question embedding, hybrid retrieval);
- with `--ask`, the answer model too: `POST /v1/chat/completions` (whole, not streamed) through
  the `openai` package against `Hub.ask` on a second pipeline of the same settings with its own
  model (one model asked twice would answer the second time from its caches), so the
  difference is HTTP, JSON and the client;
- a burst: 200 concurrent searches, how many are answered and refused (503), and the wall time.

It prints p50/p95 per path and the ratio of the API's p50 to the direct call's.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import httpx  # noqa: E402

from docqa.config import Settings  # noqa: E402
from docqa.pipeline import build_pipeline  # noqa: E402
from docqa.service.hub import Hub  # noqa: E402
from docqa.service.server import build_app  # noqa: E402
from eval.dataset import load_questions  # noqa: E402
from eval.metrics import percentile  # noqa: E402


def _serve(app):
    import threading

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _row(name: str, api: list[float], direct: list[float], unit: float, label: str) -> str:
    a50, d50 = percentile(api, 50), percentile(direct, 50)
    return (
        f"{name:<8} API p50 {a50 * unit:8.2f} {label}  p95 {percentile(api, 95) * unit:8.2f}  |  "
        f"direct p50 {d50 * unit:8.2f}  p95 {percentile(direct, 95) * unit:8.2f}  |  "
        f"API / direct {a50 / d50:5.2f}×  (+{(a50 - d50) * 1000:.1f} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, help="an existing index (default: docs/)")
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "data" / "docs_qa.jsonl")
    parser.add_argument("--limit", type=int, default=15)
    parser.add_argument("--ask", action="store_true", help="answers too (loads the GGUF model)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        index = args.index or Path(tmp) / "index"
        settings = Settings.load(
            env={},
            overrides={"index_dir": str(index), "collections_dir": str(Path(tmp) / "c")},
        )
        settings = settings.model_copy(
            update={"serve": settings.serve.model_copy(update={"max_waiting": 64})}
        )
        pipeline = build_pipeline(settings)
        if args.index is None:
            pipeline.ingest([ROOT / "docs"])
        hub = Hub(pipeline, max_waiting=64)
        server, url = _serve(build_app(hub, chat=False, mcp=False))
        questions = [q.question for q in load_questions(args.questions)][: args.limit]
        client = httpx.Client(base_url=url, timeout=600)
        hub.search("default", "warm up", 5)  # the embedder loads once, outside the figures
        api, direct = [], []
        for q in questions:
            api.append(_timed(lambda q=q: client.post("/api/search", json={"query": q, "k": 5})))
            direct.append(_timed(lambda q=q: hub.search("default", q, 5)))
        print(f"{len(questions)} questions from {args.questions}, index {index}")
        print(_row("search", api, direct, 1000, "ms"))

        if args.ask:
            import openai

            oa = openai.OpenAI(base_url=f"{url}/v1", api_key="-", max_retries=0, timeout=600)
            # A second pipeline with its own answer model for the direct calls: asked the
            # same question twice, one model would answer the second time from its caches
            # (the probes' scores, llama.cpp's evaluated prompt).
            alone = build_pipeline(settings)
            other = Hub(alone, max_waiting=64)
            for h in (hub, other):
                h.ask("default", "warm up the answer model?")
            api, direct = [], []
            for q in questions:
                messages = [{"role": "user", "content": q}]
                api.append(
                    _timed(
                        lambda m=messages: oa.chat.completions.create(model="default", messages=m)
                    )
                )
                direct.append(_timed(lambda q=q: other.ask("default", q)))
            print(_row("answer", api, direct, 1, "s "))
            other.close()
            alone.close()

        def one(i: int) -> int:
            query = questions[i % len(questions)]
            with httpx.Client(base_url=url, timeout=600) as c:
                return c.post("/api/search", json={"query": query}).status_code

        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(max_workers=200) as pool:
            codes = list(pool.map(one, range(200)))
        wall = time.perf_counter() - start
        print(
            f"burst    200 concurrent searches: {codes.count(200)} answered, "
            f"{codes.count(503)} refused (503), {len(codes) - codes.count(200) - codes.count(503)} "
            f"other, in {wall:.1f} s"
        )
        server.should_exit = True
        hub.close()
        pipeline.close()


if __name__ == "__main__":
    main()

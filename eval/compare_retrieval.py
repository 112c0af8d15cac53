"""Compare two `docqa eval retrieval` runs on the same data set, query by query.

Two back-ends, two settings or two embedders scored on the same judged queries: the question is
whether their figures differ by more than the choice of queries explains. For every method and
metric this prints both means, the mean paired difference (B − A) and its 95 % bootstrap
interval over the queries; "same" where the interval holds 0.

    python -m eval.compare_retrieval RUN_A/summary.json RUN_B/summary.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from eval.metrics import paired_bootstrap

METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr")


def compare(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (method, metric) both runs scored, over the queries both judged."""
    rows_a = {r["method"]: r for r in a["rows"]}
    rows_b = {r["method"]: r for r in b["rows"]}
    out = []
    for method in (m for m in rows_a if m in rows_b):
        qa, qb = rows_a[method].get("per_query"), rows_b[method].get("per_query")
        if not qa or not qb:
            raise ValueError(
                "a summary.json without per-query figures: rerun `docqa eval "
                "retrieval --out` with this docqa"
            )
        queries = sorted(set(qa) & set(qb))
        for metric in METRICS:
            if metric not in qa[queries[0]]:
                continue
            xs = [qa[q][metric] for q in queries]
            ys = [qb[q][metric] for q in queries]
            result = paired_bootstrap(xs, ys)
            assert result is not None
            diff, low, high = result
            changed = sum(x != y for x, y in zip(xs, ys, strict=True))
            out.append(
                {
                    "method": method,
                    "metric": metric,
                    "a": sum(xs) / len(xs),
                    "b": sum(ys) / len(ys),
                    "diff": diff,
                    "low": low,
                    "high": high,
                    "queries": len(queries),
                    "changed": changed,
                    "same": low <= 0 <= high,
                }
            )
    return out


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| method | metric | A | B | B − A | 95 % interval | queries changed | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['metric']} | {r['a']:.3f} | {r['b']:.3f} | "
            f"{r['diff']:+.3f} | [{r['low']:+.3f}, {r['high']:+.3f}] | "
            f"{r['changed']}/{r['queries']} | {'same' if r['same'] else 'differs'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eval.compare_retrieval",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("a", type=Path, help="summary.json of run A")
    parser.add_argument("b", type=Path, help="summary.json of run B")
    args = parser.parse_args(argv)
    try:
        rows = compare(*(json.loads(p.read_text(encoding="utf-8")) for p in (args.a, args.b)))
    except (OSError, ValueError, KeyError) as exc:
        print(f"compare_retrieval: error: {exc}", file=sys.stderr)
        return 1
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

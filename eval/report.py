"""Writing an evaluation's results: a Markdown report, PNG plots, and the raw rows.

The report is meant to be read by a person deciding whether to trust the system, so it puts
the table first, says how each figure was measured, and lists the failures with their answers;
the JSONL beside it has every question's full outcome for anything the report leaves out.
"""

from __future__ import annotations

import dataclasses
import json
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from eval.curve import Point, Tradeoff

QA_COLUMNS = (
    ("system", "system"),
    ("answerable_accuracy", "answerable accuracy"),
    ("abstention_rate_answerable", "abstained on answerable"),
    ("wrong_answer_rate_unanswerable", "wrong answers to unanswerable"),
    ("precision", "precision (right ÷ answered)"),
    ("unsupported_rate_factcheck", "unsupported sentences (fact-check)"),
    ("unsupported_rate_independent", "unsupported sentences (independent)"),
    ("citation_precision", "citation precision"),
    ("retrieval_hit_rate", "retrieval hit@k"),
    ("total_p50_s", "p50 s"),
    ("total_p95_s", "p95 s"),
)


def fmt(value: Any) -> str:
    """Table cell text: rates and seconds to 2 decimals, undefined as an em dash.

    >>> fmt(0.12345), fmt(None), fmt(12), fmt("plain")
    ('0.12', '—', '12', 'plain')
    """
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """
    >>> print(markdown_table([{"a": 0.5, "b": None}], [("a", "A"), ("b", "B")]))
    | A | B |
    |---|---|
    | 0.50 | — |
    """
    lines = ["| " + " | ".join(title for _, title in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row, key) for key, _ in columns) + " |" for row in rows]
    return "\n".join(lines)


def cell(row: Mapping[str, Any], key: str) -> str:
    """A value, with its 95 % interval where the row has one (`key + "_ci"`).

    >>> cell({"a": 0.5, "a_ci": (0.41, 0.6)}, "a"), cell({"a": 0.5}, "a")
    ('0.50 (0.41–0.60)', '0.50')
    """
    interval = row.get(f"{key}_ci")
    if interval is None or row.get(key) is None:
        return fmt(row.get(key))
    return f"{fmt(row[key])} ({interval[0]:.2f}–{interval[1]:.2f})"


def write_jsonl(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )


def write_summary(
    out: Path,
    title: str,
    body: str,
    summary: Any,
    rows: tuple[str, Sequence[Mapping[str, Any]]] | None = None,
) -> Path:
    """The report folder of `eval retrieval` and `eval detect`: report.md, summary.json and,
    optionally, one JSONL of per-item rows (`(file name, rows)`)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    if rows is not None:
        write_jsonl(out / rows[0], rows[1])
    path = out / "report.md"
    path.write_text(f"# {title}\n\n{body}\n", encoding="utf-8")
    return path


def write_qa_report(
    out: Path,
    rows: Sequence[Mapping[str, Any]],
    outcomes: Sequence[Any],
    *,
    title: str,
    context: Mapping[str, str],
    tradeoff: Tradeoff | None = None,
) -> Path:
    """Write report.md, summary.json, outcomes.jsonl and the plots into `out`; with a
    `tradeoff`, the guarded system's precision/coverage curve too (curve.json, a plot)."""
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "outcomes.jsonl", [o.to_dict() for o in outcomes])
    # One shape whatever was run: a reader finds the systems under one key.
    summary = {
        "systems": list(rows),
        "tradeoff": tradeoff_summary(tradeoff) if tradeoff is not None else None,
    }
    if tradeoff is not None:
        write_jsonl(out / "curve.jsonl", [dataclasses.asdict(p) for p in tradeoff.points])
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    plots = [
        plot_accuracy_vs_hallucination(rows, out / "accuracy_vs_hallucination.png"),
        plot_latency(rows, out / "latency.png"),
    ]
    if tradeoff is not None:
        plots.append(plot_tradeoff(tradeoff, rows, out / "precision_coverage.png"))
    columns = list(QA_COLUMNS)
    if any(r.get("f1") is not None for r in rows):
        columns[2:2] = [("f1", "F1"), ("exact_match", "EM")]
    stage_columns = [("system", "system")] + [
        (f"{stage}_{p}_s", f"{stage} {p}")
        for stage in ("retrieve", "gate", "answerability", "generate", "verify", "total")
        for p in ("p50", "p95")
    ]
    first = rows[0] if rows else {}
    parts = [
        f"# {title}",
        "",
        "\n".join(f"- **{k}**: {v}" for k, v in context.items()),
        "",
        f"{first.get('questions', 0)} questions per system: {first.get('answerable', 0)} "
        f"answerable, {first.get('unanswerable', 0)} unanswerable.",
        "",
        markdown_table(rows, columns),
        "",
        _HOW,
        "",
        *((tradeoff_markdown(tradeoff), "") if tradeoff is not None else ()),
        "## Latency per stage (seconds)",
        "",
        markdown_table(rows, stage_columns),
        "",
        "## Plots",
        "",
        *(f"![{p.stem}]({p.name})" for p in plots),
        "",
        "## Failures",
        "",
        _failures(outcomes),
    ]
    path = out / "report.md"
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return path


_HOW = """How to read it:
- **answerable accuracy**: answered, and the answer holds an accepted alternative.
- **wrong answers to unanswerable**: answered a question the documents cannot answer — the
  headline hallucination figure; lower is better.
- **unsupported sentences (fact-check)**: shown sentences docqa's support check does not support
  at the configured level; for systems that did not run it, the same check applied afterwards
  without the model judge (plain: against all passages, since it cites none). For `guarded` in
  strict mode this is 0 by construction.
- **unsupported sentences (independent)**: the same sentences judged by a check the guarded
  system did not decide with.
- **citation precision**: citations (answerable questions) whose passage holds an accepted
  answer; — for a system that does not cite.
- **retrieval hit@k**: answerable questions where a passage given to the model holds an
  accepted answer."""


def _failures(outcomes: Sequence[Any]) -> str:
    wrong = [o for o in outcomes if not o.correct]
    if not wrong:
        return "None."
    lines = ["| system | id | expected | answer or reason |", "|---|---|---|---|"]
    for o in wrong:
        said = o.reason if o.abstained else o.answer
        said = textwrap.shorten(" ".join((said or "").split()), 160, placeholder=" …")
        lines.append(
            f"| {o.system} | {o.id} | {'answer' if o.answerable else 'abstain'} | "
            f"{said.replace('|', '/')} |"
        )
    return "\n".join(lines)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_accuracy_vs_hallucination(rows: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """Left: each system as a point (hallucination on x, accuracy on y; up-left is better).
    Right: the three headline rates side by side."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for r in rows:
        x, y = r.get("wrong_answer_rate_unanswerable"), r.get("answerable_accuracy")
        if x is not None and y is not None:
            left.scatter([x], [y], s=60)
            left.annotate(r["system"], (x, y), textcoords="offset points", xytext=(6, 4))
    left.set(
        xlim=(-0.05, 1.05),
        ylim=(-0.05, 1.05),
        xlabel="wrong answers to unanswerable",
        ylabel="answerable accuracy",
        title="accuracy vs hallucination",
    )
    left.grid(alpha=0.3)
    metrics = [
        ("answerable_accuracy", "answerable accuracy"),
        ("wrong_answer_rate_unanswerable", "wrong answers to unanswerable"),
        ("unsupported_rate_independent", "unsupported sentences (independent)"),
    ]
    width = 0.8 / max(len(rows), 1)
    for i, r in enumerate(rows):
        xs = [j + i * width for j in range(len(metrics))]
        right.bar(xs, [r.get(k) or 0.0 for k, _ in metrics], width, label=r["system"])
    right.set_xticks(
        [j + width * (len(rows) - 1) / 2 for j in range(len(metrics))],
        [textwrap.fill(t, 16) for _, t in metrics],
    )
    right.set(ylim=(0, 1.05), title="rates per system")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_latency(rows: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """Median seconds per stage, stacked, with the p95 of the total marked."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.8 + 0.7 * max(len(rows), 1)))
    names = [r["system"] for r in rows]
    left = [0.0] * len(rows)
    for stage in ("retrieve", "generate", "verify"):
        values = [r.get(f"{stage}_p50_s") or 0.0 for r in rows]
        ax.barh(names, values, left=left, label=f"{stage} (p50)")
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.scatter(
        [r.get("total_p95_s") or 0.0 for r in rows],
        names,
        marker="|",
        s=300,
        color="black",
        label="total p95",
        zorder=3,
    )
    ax.set(xlabel="seconds per question", title="latency per stage")
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def tradeoff_summary(t: Tradeoff) -> dict[str, Any]:
    return {
        "area": t.area,
        "best_f1": dataclasses.asdict(t.best_f1),
        "best_right": dataclasses.asdict(t.best_right),
        "levels": {
            name: {"point": dataclasses.asdict(p), "intervals": t.intervals[name]}
            for name, p in t.levels.items()
        },
    }


def _interval(value: tuple[float, float, float] | None) -> str:
    return "—" if value is None else f"{value[0]:.2f} ({value[1]:.2f}–{value[2]:.2f})"


def tradeoff_markdown(t: Tradeoff) -> str:
    """The curve's summary: its area, SQuAD 2.0's best thresholds, each level with intervals,
    and the curve at every tenth of the threshold range."""
    lines = [
        "## Precision and coverage at every threshold (guarded)",
        "",
        "The guarded system recorded every signal, so its answers are replayed at every "
        "threshold: it shows an answer when the question's answerability is at least the "
        "threshold, and of it the sentences whose probability of being a right answer "
        "(answerability × support) is at least the threshold. Precision is right answers ÷ "
        "answers; coverage is answered ÷ answerable questions.",
        "",
        f"- area under the precision/coverage curve: {fmt(t.area)}",
        f"- best threshold by F1 (SQuAD 2.0's official rule: mean token F1, 1 for a right "
        f"abstention): {t.best_f1.threshold:.3f}, F1 {t.best_f1.squad_f1:.3f}",
        f"- best threshold by right answers and right abstentions: "
        f"{t.best_right.threshold:.3f}, {t.best_right.squad_right:.3f}",
        "",
        "| level | threshold | precision | coverage | answerable accuracy | wrong answers to "
        "unanswerable |",
        "|---|---|---|---|---|---|",
    ]
    for name, p in t.levels.items():
        iv = t.intervals[name]
        lines.append(
            f"| {name} | {p.threshold:.3f} | {_interval(iv['precision'])} | "
            f"{_interval(iv['coverage'])} | {_interval(iv['answerable_accuracy'])} | "
            f"{_interval(iv['wrong_unanswerable'])} |"
        )
    lines += [
        "",
        "| threshold | answered | precision | coverage | answerable accuracy | "
        "wrong answers to unanswerable | F1 (SQuAD 2.0) |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in _tenths(t.points):
        lines.append(
            f"| {p.threshold:.3f} | {p.answered} | {fmt(p.precision)} | "
            f"{fmt(p.coverage)} | {fmt(p.answerable_accuracy)} | "
            f"{fmt(p.wrong_unanswerable)} | {p.squad_f1:.3f} |"
        )
    return "\n".join(lines)


def _tenths(points: Sequence[Point]) -> list[Point]:
    """The last point at or below each tenth of the threshold range."""
    out: list[Point] = []
    for tenth in range(11):
        below = [p for p in points if p.threshold <= tenth / 10 + 1e-9]
        if below and below[-1] not in out:
            out.append(below[-1])
    return out


def plot_tradeoff(t: Tradeoff, rows: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """Precision against coverage for every threshold, the levels marked, and the other
    systems as points."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    curve = sorted(
        (p.coverage, p.precision)
        for p in t.points
        if p.coverage is not None and p.precision is not None
    )
    ax.plot(
        [c for c, _ in curve],
        [p for _, p in curve],
        color="tab:blue",
        label=f"guarded, every threshold (area {fmt(t.area)})",
    )
    for name, p in t.levels.items():
        if p.coverage is not None and p.precision is not None:
            ax.scatter([p.coverage], [p.precision], color="tab:blue", zorder=3)
            ax.annotate(
                f"{name} ({p.threshold:.2f})",
                (p.coverage, p.precision),
                textcoords="offset points",
                xytext=(6, 4),
                fontsize="small",
            )
    for r in rows:
        if r["system"] == "guarded":
            continue
        answered = r.get("abstention_rate_answerable")
        if answered is None or r.get("precision") is None:
            continue
        ax.scatter([1 - answered], [r["precision"]], marker="s", zorder=3)
        ax.annotate(
            r["system"],
            (1 - answered, r["precision"]),
            textcoords="offset points",
            xytext=(6, -10),
            fontsize="small",
        )
    ax.set(
        xlim=(0, 1.02),
        ylim=(0, 1.02),
        xlabel="coverage (answered ÷ answerable)",
        ylabel="precision (right ÷ answered)",
        title="precision against coverage",
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

"""One table of every benchmark's headline numbers: measure, ours, baseline, ratio, goal, met?

Each ``bench_*.py`` writes its rows with :func:`write_rows` to
``benchmarks/out/<topic>.rows.json`` (next to its full raw numbers); this script
prints them all. Scripts that write no rows of their own but leave a known raw file
(``recording.json``) get rows derived from it here.

    python benchmarks/summary.py [--markdown]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out"
COLUMNS = ("topic", "measure", "ours", "baseline", "ratio", "goal", "met?")


def row(measure: str, ours: float, *, unit: str = "s", baseline: float | None = None,
        baseline_label: str = "", goal: str = "", met: bool | None = None, note: str = "") -> dict[str, Any]:
    """One summary row; ``ratio`` = ours / baseline (None without a baseline)."""
    ratio = None if baseline in (None, 0) else ours / baseline
    return {"measure": measure, "ours": ours, "unit": unit, "baseline": baseline,
            "baseline_label": baseline_label, "ratio": ratio, "goal": goal, "met": met, "note": note}


def write_rows(topic: str, rows: list[dict[str, Any]]) -> Path:
    """Write ``rows`` (from :func:`row`) as ``out/<topic>.rows.json``; return the path."""
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{topic}.rows.json"
    path.write_text(json.dumps({"topic": topic, "rows": rows}, indent=1))
    return path


def _recording_rows(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows from bench_recording.py's raw numbers (goals of issue 15, target 4)."""
    rows = []
    epoch = raw.get("per_epoch", {})
    plain = epoch.get("no callback", {}).get("median_s")
    rec = epoch.get("ActivationRecorder", {})
    if plain and rec:
        ratio = rec["ratio"]
        rows.append(row("per-epoch recording, fit time (digits MLP, 20 epochs)", rec["median_s"], baseline=plain,
                        baseline_label="fit without callbacks", goal="ratio <= 1.02", met=ratio <= 1.02))
    batch = raw.get("per_batch", {})
    if batch:
        speedup = batch["speedup_capture"]
        rows.append(row("per-batch capture, per snapshot", batch["ours_ms_per_snapshot"], unit="ms",
                        baseline=batch["reference_ms_per_snapshot"], baseline_label="checkpoint + reload",
                        goal=">= 30x faster", met=speedup >= 30))
    return rows


def collect(out: Path = OUT) -> list[tuple[str, dict[str, Any]]]:
    """Every row found in ``out``, as (topic, row), topics in file-name order."""
    found: list[tuple[str, dict[str, Any]]] = []
    topics = set()
    for path in sorted(out.glob("*.rows.json")):
        data = json.loads(path.read_text())
        topics.add(data["topic"])
        found += [(data["topic"], r) for r in data["rows"]]
    raw = out / "recording.json"
    if "recording" not in topics and raw.exists():
        found += [("recording", r) for r in _recording_rows(json.loads(raw.read_text()))]
    return found


def _number(value: float | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    text = f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{text} {unit}".strip()


def _met(value: bool | None) -> str:
    return "—" if value is None else ("yes" if value else "NO")


def table(rows: list[tuple[str, dict[str, Any]]], markdown: bool = False) -> str:
    """The summary as plain text (aligned columns) or a Markdown table."""
    cells = [(topic, r["measure"], _number(r["ours"], r["unit"]),
              _number(r["baseline"], r["unit"]) + (f" ({r['baseline_label']})" if r.get("baseline_label") else ""),
              "—" if r["ratio"] is None else f"{r['ratio']:.3g}", r["goal"] or "—", _met(r["met"]))
             for topic, r in rows]
    if markdown:
        lines = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
        lines += ["| " + " | ".join(c) + " |" for c in cells]
        return "\n".join(lines)
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(COLUMNS)]
    fmt = "  ".join(f"{{:{w}}}" for w in widths)
    lines = [fmt.format(*COLUMNS), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*c) for c in cells]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    rows = collect()
    if not rows:
        print(f"no benchmark rows in {OUT}: run the bench_*.py scripts first (make bench)")
        return
    print(table(rows, markdown=args.markdown))
    missed = sum(r["met"] is False for _, r in rows)
    print(f"\n{len(rows)} measures, {sum(r['met'] is True for _, r in rows)} goals met, {missed} missed "
          f"(raw numbers and each script's full output: {OUT})")


if __name__ == "__main__":
    main()

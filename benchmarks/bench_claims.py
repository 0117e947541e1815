"""Cost of the verdicts: ``claim_summary`` for 1 run (with its bootstrap) and for 10 runs.

Synthetic runs of the digits study's size (31 snapshots x 500 probe samples x 128
neurons, 10 classes) written once into a temporary folder. Baseline, measured in the
same process: reading every activation of the run(s) once (``Run.read`` of all
snapshots) — the floor any analysis of the whole run pays. Reported: seconds (median
of ``--repeats``) and the ratio to the baseline.

    python benchmarks/bench_claims.py [--repeats 3] [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def synthetic_run(path: Path, seed: int, s: int = 31, n: int = 500, neurons: int = 128, k: int = 10):
    from actconf.testing import write_synthetic_run

    rng = np.random.default_rng(seed)
    labels = np.arange(n) % k
    proto = rng.random((k, neurons))
    t = np.linspace(0, 1, s)[:, None, None]
    logits = rng.normal(size=(s, n, k)) * (0.5 + 3 * t)
    logits[:, np.arange(n), labels] += 3 * t[..., 0]
    acts = np.maximum(0, 0.2 + t * proto[labels][None] + 0.3 * rng.normal(size=(s, n, neurons)))
    return write_synthetic_run(path, activations={"hidden_1": acts.astype(np.float32)}, labels=labels,
                               logits=logits)


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    from actconf.analysis import claim_summary

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = [synthetic_run(Path(tmp) / f"seed{i}", i) for i in range(args.runs)]
        claim_summary(runs[0], n_boot=50)  # warm imports (scipy, pandas) outside the timing
        rows = []
        for label, subset in (("1 run", runs[:1]), (f"{args.runs} runs", runs)):
            read = median_time(lambda sub=subset: [r.read("activations/hidden_1") for r in sub], args.repeats)
            ours = median_time(lambda sub=subset: claim_summary(sub if len(sub) > 1 else sub[0]), args.repeats)
            rows.append({"measure": f"claim_summary, {label}", "ours_s": ours, "baseline_s": read,
                         "baseline": "read every activation once", "ratio": ours / read})
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "claims.json").write_text(json.dumps(rows, indent=1))
    for r in rows:
        print(f"{r['measure']:28s} {r['ours_s']:7.2f} s   baseline ({r['baseline']}) {r['baseline_s']:6.3f} s"
              f"   ratio {r['ratio']:6.1f}")


if __name__ == "__main__":
    main()

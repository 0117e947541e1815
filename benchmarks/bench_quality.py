"""Speed of the layout quality measures (results: benchmarks/README.md, "Layout quality").

Profiles: contrastive class NAPs (10 groups) of a 128-unit ReLU MLP trained on
scikit-learn's digits (as in ``bench_layout.py``), laid out by the SOM. Measured in
one process, best of ``--repeats``:

* ``layout_quality(quality="masked")`` (actconf's measure, the default);
* ``layout_quality(quality="paper")``: the authors' measure, one reused Agg figure;
  its first call in a process (creating the figure) is timed separately;
* baseline in the same run: the same paper measure computed the direct way, one
  pyplot figure per group saved with ``savefig(bbox_inches="tight")`` as PNG and
  decoded with Pillow (what a straightforward port of the authors' code does;
  theirs also wrote and rasterised a PDF per group) -- ours / baseline ratio;
* the two UMAP-based methods: ``method="umap"`` (+ refine) and ``method="umap_pso"``
  (warm process), and the authors' 1000-step simulation alone.

    python benchmarks/bench_quality.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from actconf.layout import compute_layout, layout_quality, warm_up  # noqa: E402
from bench_layout import best, mlp_profiles  # noqa: E402


def direct_figures(maps: np.ndarray, limit: float) -> list[np.ndarray]:
    """The authors' figures through pyplot + savefig(PNG) + Pillow, one new figure per group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    out = []
    for m in maps:
        fig, ax = plt.subplots(figsize=(2, 1.9))
        ax.imshow(m[::-1], cmap="bwr", clim=(-limit, limit), interpolation="antialiased",
                  interpolation_stage="data")
        ax.set_axis_off()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=200, bbox_inches="tight", pad_inches=0.02)
        plt.close(fig)
        out.append(np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")))
    return out


def direct_paper_quality(positions: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """The paper measure with :func:`direct_figures` (the same Pillow steps as actconf's)."""
    from actconf.layout._paper_quality import image_errors
    from actconf.render import TopoRenderer

    maps = TopoRenderer(positions, resolution=100).render(values)
    errors = [image_errors(rgb) for rgb in direct_figures(maps, float(np.abs(values).max()))]
    return (float(np.trapezoid(np.mean([e[0] for e in errors], 0))),
            float(np.trapezoid(np.mean([e[1] for e in errors], 0))))


def interleaved(fns: dict, repeats: int) -> dict[str, tuple[float, object]]:
    """Best time and result of each function, alternating between them in every round (fair under load)."""
    best_t = dict.fromkeys(fns, float("inf"))
    results: dict[str, object] = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            results[name] = fn()
            best_t[name] = min(best_t[name], time.perf_counter() - t)
    return {name: (best_t[name], results[name]) for name in fns}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    prof = mlp_profiles(128)
    lay = compute_layout(prof, method="som", seed=0)
    print(f"profiles {prof.shape}, layout: som")

    t = time.perf_counter()
    first = layout_quality(lay, prof, quality="paper")
    first_call = time.perf_counter() - t
    from actconf.layout._paper_quality import colour_limit, paper_images
    from actconf.layout._quality import render_maps

    maps, limit = render_maps(lay.positions, prof.T, 100), colour_limit(prof.T)
    res = interleaved({
        "masked": lambda: layout_quality(lay, prof),
        "paper": lambda: layout_quality(lay, prof, quality="paper"),
        "direct": lambda: direct_paper_quality(lay.positions, prof.T),
        "figures": lambda: paper_images(maps, limit),
        "direct figures": lambda: direct_figures(maps, limit),
    }, args.repeats)
    (masked, _), (paper, q), (direct, ref) = res["masked"], res["paper"], res["direct"]
    assert np.allclose([q["paper_resize_auc"], q["paper_blur_auc"]], ref, rtol=1e-12), (q, ref)
    assert first["paper_blur_auc"] == q["paper_blur_auc"]
    figs, direct_figs = res["figures"][0], res["direct figures"][0]
    print(f"layout_quality masked          {masked:7.3f} s")
    print(f"layout_quality paper (warm)    {paper:7.3f} s   ({paper / 10 * 1000:.0f} ms per group)")
    print(f"layout_quality paper (first)   {first_call:7.3f} s")
    print(f"direct pyplot+PNG baseline     {direct:7.3f} s   ratio ours/baseline {paper / direct:.2f}")
    print(f"  drawing the 10 figures: ours {figs:.3f} s, pyplot+PNG {direct_figs:.3f} s, "
          f"ratio {figs / direct_figs:.2f}")

    warm_up()
    umap, _ = best(lambda: compute_layout(prof, method="umap", seed=0), args.repeats)
    pso, _ = best(lambda: compute_layout(prof, method="umap_pso", seed=0), args.repeats)
    from actconf.layout._pso import authors_pso

    sim, _ = best(lambda: authors_pso(lay.positions), args.repeats)
    print(f"method='umap' (+ refine)       {umap:7.3f} s")
    print(f"method='umap_pso'              {pso:7.3f} s   (simulation alone {sim:.3f} s)")


if __name__ == "__main__":
    main()

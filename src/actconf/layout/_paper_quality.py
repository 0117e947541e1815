"""The TAM authors' smoothness measure as their code computes it: ``quality="paper"``.

Re-implemented from a reading of the authors' public code (valeriekrug/ANN-topomaps,
``src/topomap_class.py`` and ``src/evaluate_topomaps.py``). Each group's map is
drawn as the figure they saved: a 2 x 1.9 inch matplotlib figure, the map (the
linear interpolation on a 100 x 100 grid over the layout's bounding box, blank
outside the convex hull) shown with ``imshow`` in ``'bwr'`` with limits
``±max|value|`` over all groups, axes off, cut to the image plus 0.02 inch and
rasterised at 200 dpi. The result is an RGB image of about 300 x 300 pixels in
which the blank pixels are *white* -- the colour of the value 0. Each image is then

* down-scaled to 55, 50, ..., 10 px square and up-scaled back to its size with
  Pillow's bicubic resampling (the default of ``Image.resize``), and
* blurred with Pillow's ``GaussianBlur`` of radius 2, 4, ..., 20 px,

and compared with the original by the mean squared error over all pixels and the
three channels of the 8-bit values. Errors are averaged over groups; each curve
is summarised by its area over the 10 steps (trapezoidal rule, unit spacing).

Two deliberate differences from their code:

* They wrote each figure as a PDF and rasterised it with poppler
  (``pdf2image.convert_from_path``, 200 dpi). Here the figure is drawn by
  matplotlib's Agg renderer at 200 dpi, exactly as ``savefig(..., dpi=200,
  bbox_inches="tight", pad_inches=0.02)`` would write it as PNG (the image is
  interpolated with ``interpolation="antialiased"``, ``interpolation_stage="data"``,
  matplotlib's defaults when the paper was written). Rasterisers differ in how
  they smooth the ~3x enlarged 100-pixel map by a fraction of a grey level.
* They took the difference of two ``uint8`` arrays, which wraps around modulo
  256 (a difference of 16 squares to 256, i.e. 0; a difference of -1 becomes
  255 and squares to 1). By default errors are computed in a wide integer type;
  ``wraparound=True`` reproduces their arithmetic, to reproduce their numbers.

One figure per map size is created on first use and reused for every map (only
the image data and colour limits change between draws): drawing a map costs a
few milliseconds, about a sixth of a new pyplot figure saved as PNG; the 20
resizes and 10 blurs of its ~300 x 300 pixels cost ten times as much
(benchmarks/README.md, "Layout quality").
"""

from __future__ import annotations

import threading

import numpy as np

#: Down-scaled sizes (px) and Gaussian blur radii (px) of the authors' evaluation.
PAPER_SIZES: tuple[int, ...] = tuple(range(55, 9, -5))
PAPER_RADII: tuple[int, ...] = tuple(range(2, 21, 2))
#: The authors' per-group figure: size (inches), resolution (dpi), padding of the cut (inches), colormap.
PAPER_FIGSIZE: tuple[float, float] = (2.0, 1.9)
PAPER_DPI = 200
PAPER_PAD = 0.02
PAPER_CMAP = "bwr"

_FIGURES: dict[int, PaperFigure] = {}
_FIGURES_LOCK = threading.Lock()


class PaperFigure:
    """An Agg figure that draws a (resolution x resolution) map as the authors' saved figure.

    The authors' figure is laid out once (default subplot parameters, the image at
    equal aspect, axes off) to find where the image lands and the tight box around
    it; the figure used for drawing has exactly that box's size, with the axes at
    the same place, so :meth:`rgb` gives the pixels ``savefig(bbox_inches="tight",
    pad_inches=0.02, dpi=200)`` writes. Use it under :attr:`lock`.
    """

    def __init__(self, resolution: int):
        from matplotlib import style
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.lock = threading.Lock()
        with style.context("default"):  # the authors' (default) settings, whatever the user's style
            ref = Figure(figsize=PAPER_FIGSIZE, dpi=PAPER_DPI)
            ax = ref.subplots()
            _show(ax, resolution)
            canvas = FigureCanvasAgg(ref)
            canvas.draw()
            box = ref.get_tightbbox(canvas.get_renderer()).padded(PAPER_PAD)
            p = ax.get_position()
            (fw, fh), (bw, bh) = PAPER_FIGSIZE, (box.width, box.height)
            fig = Figure(figsize=(bw, bh), dpi=PAPER_DPI)
            axes = fig.add_axes(((p.x0 * fw - box.x0) / bw, (p.y0 * fh - box.y0) / bh,
                                 p.width * fw / bw, p.height * fh / bh))
            self.image = _show(axes, resolution)
            self.canvas = FigureCanvasAgg(fig)

    def rgb(self, image: np.ndarray, limit: float) -> np.ndarray:
        """The figure of ``image`` (row 0 at the top; NaN blank) as an (H, W, 3) ``uint8`` array."""
        self.image.set_data(image)
        self.image.set_clim(-limit, limit)
        self.canvas.draw()
        return np.array(self.canvas.buffer_rgba())[..., :3]


def _show(ax, resolution: int):
    """The authors' ``imshow`` of a map on ``ax``, axes off; returns the image artist."""
    image = ax.imshow(np.zeros((resolution, resolution)), cmap=PAPER_CMAP, vmin=-1.0, vmax=1.0,
                      interpolation="antialiased", interpolation_stage="data")
    ax.set_axis_off()
    return image


def paper_figure(resolution: int) -> PaperFigure:
    """The process's one :class:`PaperFigure` for maps of ``resolution`` pixels (created on first use)."""
    with _FIGURES_LOCK:
        if resolution not in _FIGURES:
            _FIGURES[resolution] = PaperFigure(resolution)
        return _FIGURES[resolution]


def colour_limit(values: np.ndarray) -> float:
    """The authors' colour limit: ``max|value|`` over the neuron values of all maps (1 if all are 0)."""
    finite = np.abs(values[np.isfinite(values)])
    top = float(finite.max()) if finite.size else 0.0
    return top if top > 0 else 1.0


def paper_images(maps: np.ndarray, limit: float) -> np.ndarray:
    """The RGB figures (G, H', W', 3) of maps (G, H, W) as rendered by ``TopoRenderer``.

    ``TopoRenderer`` rows run upwards (row 0 is the lowest ``y``); the authors'
    image has the largest ``y`` on top, so rows are flipped. Colours span
    ``±limit`` (:func:`colour_limit` of the neuron values).
    """
    fig = paper_figure(int(maps.shape[-1]))
    with fig.lock:
        return np.stack([fig.rgb(m[::-1], limit) for m in maps])


def squared_errors(original: np.ndarray, changed: np.ndarray, *, wraparound: bool = False) -> np.ndarray:
    """Mean squared error of each of ``changed`` (K, H, W, 3) against ``original`` (H, W, 3), ``uint8``.

    ``wraparound=True`` computes as the authors' code did, in ``uint8``: the
    difference and its square are taken modulo 256.
    """
    k = len(changed)
    if wraparound:
        return np.square(original[None] - changed).reshape(k, -1).mean(axis=1)
    diff = np.subtract(changed, original[None], dtype=np.int16).reshape(k, -1)  # exact: |diff| <= 255
    return np.einsum("ij,ij->i", diff, diff, dtype=np.int64) / diff.shape[1]


def image_errors(rgb: np.ndarray, *, wraparound: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The resize and blur error curves of one RGB figure (H, W, 3) ``uint8``."""
    from PIL import Image, ImageFilter

    img = Image.fromarray(np.ascontiguousarray(rgb))
    bicubic = Image.Resampling.BICUBIC
    resized = np.stack([np.asarray(img.resize((s, s), bicubic).resize(img.size, bicubic)) for s in PAPER_SIZES])
    blurred = np.stack([np.asarray(img.filter(ImageFilter.GaussianBlur(r))) for r in PAPER_RADII])
    return (squared_errors(rgb, resized, wraparound=wraparound),
            squared_errors(rgb, blurred, wraparound=wraparound))


def paper_curves(maps: np.ndarray, values: np.ndarray, *,
                 wraparound: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The authors' error curves of maps (G, H, W) (NaN outside the hull), averaged over maps.

    ``values`` (G, n) are the neuron values the maps interpolate; they set the
    colour limits. Maps without a single drawn pixel (every value NaN) are left
    out, as by the masked measure. Returns ``(sizes, resize_errors, radii, blur_errors)``.
    """
    sizes, radii = np.array(PAPER_SIZES), np.array(PAPER_RADII)
    valid = np.isfinite(maps).reshape(len(maps), -1).any(axis=1)
    if not valid.any():
        return sizes, np.full(len(sizes), np.nan), radii, np.full(len(radii), np.nan)
    errors = [image_errors(rgb, wraparound=wraparound) for rgb in paper_images(maps[valid], colour_limit(values))]
    resize_err = np.mean([e[0] for e in errors], axis=0)
    blur_err = np.mean([e[1] for e in errors], axis=0)
    return sizes, resize_err, radii, blur_err

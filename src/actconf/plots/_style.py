"""How maps look: :class:`MapStyle` (the rarely changed options of the map figures) and colour limits.

:func:`~actconf.plots.plot_map`, :func:`~actconf.plots.plot_map_grid` and
:func:`~actconf.animate.animate_maps` take the options a reader changes often as
keywords and everything about the look in one ``style=MapStyle(...)``. Fields left
at ``None`` take the function's own default (e.g. contour lines: 6 on a single map,
none in a grid).
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import check_float, check_int, check_option, param_error

__all__ = ["MapStyle"]

DEFAULT_CMAP = "RdBu_r"
_CALLER = "MapStyle()"


@dataclass(frozen=True)
class MapStyle:
    """The look of topographic maps (checked when made).

    Parameters
    ----------
    vlim : None, float or (float, float), default=None
        Colour limits. None: symmetric ``±max|value|`` over what is drawn (zero is
        white); a number ``m``: ``±m``; a pair: ``(vmin, vmax)``.
    share : {"all", "row"}, default="all"
        Grids: one colour scale for all maps (comparable) or one per row.
    cmap : str, optional
        A matplotlib colormap name. Default: ``"RdBu_r"`` (diverging: red positive,
        blue negative); a grid of non-negative values with ``vlim=None`` uses
        ``"Reds"`` from 0.
    contours : int, optional
        Contour lines per map at equally spaced levels between the colour limits
        (0: none). Default: 6 on a single map, 0 in grids and animations.
    markers : bool, optional
        Mark the neuron positions. Default: True on a single map, False in grids.
    method : {"linear", "cubic", "nearest"}, default="linear"
        Interpolation of :class:`~actconf.render.TopoRenderer` (ignored when a
        TopoRenderer is passed as the layout).
    mask : {"hull", "circle"} or None, default="hull"
        Which pixels are drawn (ignored for a TopoRenderer, as ``method``).
    smooth : int, optional
        Draw every neuron's value as the mean over itself and its ``smooth`` nearest
        neighbours in the layout (0: the values themselves). Default: 0 up to 512
        neurons, 8 above, where single neurons' noise would draw as speckle (ignored
        for a TopoRenderer, as ``method``).
    panel_size : float, optional
        Inches per map (default 3.6 for a single map, 1.5 in grids).
    dpi : int, optional
        Dots per inch of new figures (default: matplotlib's; 80 for animations).

    Examples
    --------
    >>> from actconf.plots import MapStyle
    >>> style = MapStyle(vlim=1.0, contours=4, markers=True)
    >>> style.with_defaults(contours=0, panel_size=1.5).panel_size  # None fields take defaults
    1.5
    """

    vlim: Any = None
    share: str = "all"
    cmap: str | None = None
    contours: int | None = None
    markers: bool | None = None
    method: str = "linear"
    mask: str | None = "hull"
    smooth: int | None = None
    panel_size: float | None = None
    dpi: int | None = None

    def __post_init__(self) -> None:
        _check_vlim(self.vlim)
        check_option("share", self.share, ("all", "row"), _CALLER)
        if self.cmap is not None:
            _check_cmap(self.cmap)
        check_int("contours", self.contours, _CALLER, min_value=0, allow_none=True)
        if self.markers is not None and not isinstance(self.markers, bool | np.bool_):
            raise param_error("markers", _CALLER, "True, False or None", self.markers)
        check_option("method", self.method, ("linear", "cubic", "nearest"), _CALLER)
        if self.mask is not None:
            check_option("mask", self.mask, ("hull", "circle"), _CALLER)
        check_int("smooth", self.smooth, _CALLER, min_value=0, allow_none=True)
        check_float("panel_size", self.panel_size, _CALLER, min_value=0.3, max_value=10, allow_none=True)
        check_int("dpi", self.dpi, _CALLER, min_value=20, max_value=600, allow_none=True)

    def with_defaults(self, **defaults: Any) -> MapStyle:
        """A copy whose ``None`` fields among ``defaults`` take the given values."""
        missing = {k: v for k, v in defaults.items() if getattr(self, k) is None}
        return dataclasses.replace(self, **missing) if missing else self


def _check_vlim(vlim: Any) -> None:
    if vlim is None:
        return
    if isinstance(vlim, int | float | np.integer | np.floating) and not isinstance(vlim, bool):
        check_float("vlim", float(vlim), _CALLER, min_value=0, min_inclusive=False)
        return
    try:
        lo, hi = (float(v) for v in vlim)
    except (TypeError, ValueError):
        lo = hi = np.nan
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise param_error("vlim", _CALLER, "None (symmetric around 0), a positive number m (limits -m..m) "
                          "or a pair (vmin, vmax) with vmin < vmax", vlim)


def _check_cmap(cmap: Any) -> None:
    from matplotlib import colormaps

    if not isinstance(cmap, str) or cmap not in colormaps:
        raise param_error("cmap", _CALLER, "the name of a matplotlib colormap (e.g. 'RdBu_r', 'viridis')", cmap)


def check_style(style: Any, caller: str) -> MapStyle:
    """``style`` as a MapStyle (None: the defaults)."""
    if style is None:
        return MapStyle()
    if not isinstance(style, MapStyle):
        raise param_error("style", caller, "None or an actconf.plots.MapStyle", type(style).__name__,
                          "E.g. style=MapStyle(vlim=1.0, contours=4).")
    return style


def style_with_aliases(style: Any, aliases: dict[str, Any], caller: str, accepted: tuple[str, ...]) -> MapStyle:
    """Merge deprecated styling keywords (``contours=4``) into ``style``, with a DeprecationWarning.

    Keywords outside ``accepted`` raise the TypeError Python raises for unknown
    keywords.
    """
    style = check_style(style, caller)
    unknown = [k for k in aliases if k not in accepted]
    if unknown:
        raise TypeError(f"{caller} got an unexpected keyword argument {unknown[0]!r}")
    if not aliases:
        return style
    given = ", ".join(f"{k}={v!r}" for k, v in aliases.items())
    names = ", ".join(f"{k}=" for k in aliases)
    warnings.warn(f"{caller}: the keyword{'s' if len(aliases) > 1 else ''} {names} "
                  f"{'are' if len(aliases) > 1 else 'is'} deprecated; pass style=MapStyle({given}) instead.",
                  DeprecationWarning, stacklevel=3)
    return dataclasses.replace(style, **aliases)


# ---------------------------------------------------------------------------- colour limits
def symmetric_limits(values: Any) -> tuple[float, float]:
    """``(-m, m)`` with ``m = max |value|`` over the finite values (1 if there are none)."""
    arr = np.asarray(values, dtype=float)
    finite = arr[np.isfinite(arr)]
    m = float(np.max(np.abs(finite))) if finite.size else 0.0
    if m <= 0:
        m = 1.0
    return -m, m


def color_limits(vlim: Any, data: Any) -> tuple[float, float]:
    """The ``(vmin, vmax)`` that ``vlim`` (checked by :class:`MapStyle`) means for ``data``."""
    if vlim is None:
        return symmetric_limits(data)
    if np.ndim(vlim) == 0:
        return -float(vlim), float(vlim)
    lo, hi = (float(v) for v in vlim)
    return lo, hi


def grid_limits(values: np.ndarray, style: MapStyle) -> np.ndarray:
    """Colour limits per row ``(R, 2)`` for values ``(F, R, C, n)`` (``style.vlim``, ``style.share``)."""
    r = values.shape[1]
    if style.share == "row" and style.vlim is None:
        return np.array([symmetric_limits(values[:, i]) for i in range(r)])
    lo, hi = color_limits(style.vlim, values)
    return np.tile([lo, hi], (r, 1))

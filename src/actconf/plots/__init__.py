"""Figures (matplotlib/seaborn). Every function returns a matplotlib Figure and never calls ``plt.show()``.

Functions that draw one Axes take ``ax=`` (draw there), functions that draw several
take ``fig=`` (an empty Figure to fill); without them a new figure is made outside
pyplot's registry.

=====================  =====================================================================
module                 owns
=====================  =====================================================================
``_maps``              :func:`plot_map`, :func:`plot_map_grid` (topographic activation maps)
``_style``             :class:`MapStyle` (the look of maps), colour limits
``_panels``            pivoting NAPs into frames x rows x columns of maps (no drawing)
``_grid_engine``       :class:`Blitter` and :class:`MapGridFigure` (draw once, swap pixels)
``_mapaxes``           drawing one map into one Axes (underlay, outline, image, markers)
``_figure``            :func:`new_figure` and the ``ax=``/``fig=`` convention
``_explorer``          the static parts of the explorer's figures (:mod:`actconf.widgets`)
``_stats``             statistics figures (correlations, bins, confidence, calibration)
``_claims``            the paper's claim: every statement over training with baseline and verdict
``_layouts``           layout figures (method comparison, one map under several layouts)
``_run``               learning curves, :func:`pick_snapshots`
=====================  =====================================================================

Besides the public names in ``__all__``, this package exports a named internal API
for :mod:`actconf.widgets` and :mod:`actconf.animate` (not for users; it may change):
``new_figure``, ``Blitter``, ``MapGridFigure``, ``build_panels``, ``check_panels_fit``,
``grid_limits``, ``grid_colours`` (the colour convention of map grids), ``style_with_aliases``, ``map_renderer``, ``drawn_values``, ``draw_map_axes``, ``draw_map_image``,
``draw_markers`` and the explorer figures (``curve_figure``, ``correlation_figure``, ``map_mosaic_figure``, ``correlation_frames``,
``CorrelationSeries``, ``baseline_and_control``, ``sample_colors``, ``correlation_text``).
"""

# named internal API: re-exported with "as" (see the module docstring), not in __all__
from ._claims import *  # noqa: F403
from ._claims import __all__ as _claims_all
from ._explorer import CONTROLLED as CONTROLLED
from ._explorer import UNTRAINED as UNTRAINED
from ._explorer import CorrelationSeries as CorrelationSeries
from ._explorer import baseline_and_control as baseline_and_control
from ._explorer import correlation_figure as correlation_figure
from ._explorer import correlation_frames as correlation_frames
from ._explorer import correlation_text as correlation_text
from ._explorer import curve_figure as curve_figure
from ._explorer import map_mosaic_figure as map_mosaic_figure
from ._explorer import sample_colors as sample_colors
from ._figure import new_figure as new_figure
from ._grid_engine import Blitter as Blitter
from ._grid_engine import MapGridFigure as MapGridFigure
from ._layouts import *  # noqa: F403
from ._layouts import __all__ as _layouts_all
from ._mapaxes import draw_map_axes as draw_map_axes
from ._mapaxes import draw_map_image as draw_map_image
from ._mapaxes import draw_markers as draw_markers
from ._mapaxes import drawn_values as drawn_values
from ._mapaxes import map_renderer as map_renderer
from ._maps import *  # noqa: F403
from ._maps import __all__ as _maps_all
from ._maps import grid_colours as grid_colours
from ._panels import build_panels as build_panels
from ._panels import check_panels_fit as check_panels_fit
from ._run import *  # noqa: F403
from ._run import __all__ as _run_all
from ._stats import *  # noqa: F403
from ._stats import __all__ as _stats_all
from ._style import MapStyle
from ._style import grid_limits as grid_limits
from ._style import style_with_aliases as style_with_aliases

__all__ = ["MapStyle", *_claims_all, *_layouts_all, *_maps_all, *_run_all, *_stats_all]

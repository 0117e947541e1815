"""Figures (matplotlib/seaborn). Every function returns a matplotlib Figure and never calls ``plt.show()``.

Maps (topographic activation maps) live in ``_maps``; statistics plots
(correlations, strength/distinctness, confidence, calibration) in ``_stats``;
layout figures (method comparison, one map under several layouts) in ``_layouts``;
learning curves in ``_run``.
"""

from ._layouts import *  # noqa: F403
from ._layouts import __all__ as _layouts_all
from ._maps import *  # noqa: F403
from ._maps import __all__ as _maps_all
from ._run import *  # noqa: F403
from ._run import __all__ as _run_all
from ._stats import *  # noqa: F403
from ._stats import __all__ as _stats_all

__all__ = [*_layouts_all, *_maps_all, *_run_all, *_stats_all]

"""A self-contained HTML report of a run: training, confidence, layout, maps, statistics.

:func:`build_report` reads a run (and its saved layout, or computes one for the
report without saving it), draws every figure with :mod:`actconf.plots`, and
writes ``report/report.html`` inside the run directory with all images embedded
(one file to mail or archive), next to the figures as PNG files and the animation
as a GIF.

The subpackage owns:

- :mod:`~actconf.report.build`: :func:`build_report` (checks, atomic writing);
- :mod:`~actconf.report.context`: :class:`ReportContext`, what every section builder takes;
- :mod:`~actconf.report.sections`: one builder per section, each returning a :class:`Section`;
- :mod:`~actconf.report.page`: the page's blocks and their rendering with the Jinja2
  template ``actconf/templates/report.html.j2`` (stylesheet ``report.css``).
"""

from __future__ import annotations

from .build import build_report
from .context import ReportContext as ReportContext
from .page import Section as Section

__all__ = ["build_report"]

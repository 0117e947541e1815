"""The one value every section builder of the report takes: :class:`ReportContext`."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from .page import Figure, save_figure

#: Confidence measures drawn in the calibration figure (label -> measure), each if the run has it
#: (temperature scaling needs logits, MC dropout recorded passes).
CALIBRATION_MEASURES = {"max softmax (paper)": "max_softmax", "temperature-scaled": "temperature",
                        "MC dropout": "mc_dropout"}


@dataclass
class ReportContext:
    """Everything a section builder needs, validated by :func:`~actconf.report.build_report`.

    Attributes
    ----------
    run : Run
    layer : str
        The layer whose maps are drawn (statistics cover every layer).
    layout : Layout
        The layout of ``layer``; ``layout.saved_as`` names it in the run when it was
        loaded from there.
    measure : str
        Confidence measure for groupings and statistics.
    seed : int
    folder : Path
        The report folder being written (figures go to ``folder / "figures"``).
    compare : bool
        Include the layout-method comparison.
    layout_given : bool
        The caller passed ``layout`` (it was neither loaded nor computed here).
    replicates : list of Run
        Runs of the same configuration with other seeds; the findings test the claim
        across ``[run, *replicates]`` (the run is the unit of replication).
    """

    run: Any
    layer: str
    layout: Any
    measure: str
    seed: int
    folder: Path
    compare: bool = True
    layout_given: bool = False
    replicates: list[Any] = field(default_factory=list)

    @property
    def figures(self) -> Path:
        """Folder of the PNG files (created on first use)."""
        path = self.folder / "figures"
        path.mkdir(exist_ok=True)
        return path

    def figure(self, fig: Any, filename: str, caption: str) -> Figure:
        """Save ``fig`` as ``figures/<filename>`` and return it as an embedded figure."""
        return save_figure(fig, self.figures / filename, caption)

    @property
    def study(self) -> dict[str, Any]:
        """The study configuration recorded with the run (empty for runs not made by ``actconf run``)."""
        return self.run.manifest.get("config", {}).get("study", {})

    @property
    def final_label(self) -> str:
        """Label of the last snapshot ("epoch 3")."""
        return str(self.run.snapshots["label"].iloc[-1])

    @property
    def layout_origin(self) -> str:
        """Where the layout came from, in words."""
        if self.layout_given:
            return "given"
        if self.layout.saved_as is not None:
            return f"loaded from the run, saved as '{self.layout.saved_as}'"
        return "computed for this report, not saved into the run"

    @cached_property
    def calibrations(self) -> dict[str, Any]:
        """Calibration over training per confidence measure (label -> DataFrame)."""
        from ..confidence import available_measures, calibration

        available = available_measures(self.run)
        return {label: calibration(self.run, measure=m)
                for label, m in CALIBRATION_MEASURES.items() if m in available}

    @property
    def runs(self) -> list[Any]:
        """The run and its replicates: the runs the findings are about."""
        return [self.run, *self.replicates]

    @cached_property
    def claims(self) -> Any:
        """The paper's claim, part by part, with verdicts (:func:`actconf.analysis.claim_summary`)."""
        from ..analysis import claim_summary

        return claim_summary(self.runs, measure=self.measure, seed=self.seed, n_boot=500)

    @cached_property
    def correlations(self) -> Any:
        """Sample-level activity–confidence correlation of every layer (:func:`actconf.analysis.activity_confidence`).

        Computed once for the statistics section and the correlation slider: its bootstrap
        uses the same resamples for every layer, so one layer's rows are what a call for that
        layer alone gives.
        """
        from ..analysis import activity_confidence

        return activity_confidence(self.run, measure=self.measure, seed=self.seed, n_boot=500)

    def layer_correlations(self, layer: str) -> Any:
        """The rows of :attr:`correlations` of one layer (index from 0, the table's attrs kept)."""
        table = self.correlations
        rows = table[table["layer"] == layer].reset_index(drop=True)
        rows.attrs.update(table.attrs)
        return rows

    @cached_property
    def trajectories(self) -> Any:
        """Every statement's statistic over training (:func:`actconf.analysis.statement_trajectories`)."""
        from ..analysis import statement_trajectories

        return statement_trajectories(self.runs, measure=self.measure, seed=self.seed)

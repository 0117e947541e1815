"""Activity–confidence statistics over training, as tidy pandas DataFrames.

Three levels of analysis, following the paper's claim that "activity becomes stronger
and more distinct both with training time and with confidence":

* **Samples** — :func:`activity_confidence`: per snapshot (and layer), the Spearman rank
  correlation between each probe sample's confidence and its layer activity (mean
  activation, L2 norm or fraction of active units), with a seeded bootstrap confidence
  interval. :func:`neuron_correlation` gives every neuron's own Spearman correlation
  with confidence (a map per snapshot).
* **Confidence bins** — :func:`bin_statistics`: per snapshot × confidence bin, the
  *strength* of the bin's NAP (mean ``|NAP|`` over neurons, and the mean activation)
  and its *distinctness* (mean pairwise cosine distance between the class NAPs inside
  the bin).
* **Trends and claims** — :func:`trend_tests` asks whether strength and distinctness
  rise with training time (within each confidence bin) and with confidence (within
  each snapshot); :func:`claim_summary` turns that into one table that says, per claim,
  whether the data support it, with the numbers.

Spearman correlations are computed by ranking once and correlating the standardised
ranks with matrix products, so hundreds of snapshots × thousands of samples are cheap.

Modules of this package: ``_spearman`` (rank correlation, p-values and the bootstrap
engine), ``_common`` (argument checks and reading shared by the others), ``_samples``
(sample level), ``_bins`` (confidence bins), ``_claims`` (trends and claims). Every
statistic that reads activations is a dask graph over blocks of the run
(:mod:`actconf._dask`): memory is bounded by a block, and the active scheduler (threads,
or a ``dask.distributed`` Client) computes it; nothing is module-level state.
"""

from __future__ import annotations

from ._bins import bin_statistics, trend_tests
from ._claims import STATEMENTS, claim_summary, statement_trajectories
from ._claims import check_runs as check_runs  # internal API (report, study)
from ._claims import one_run_note as one_run_note  # internal API (report, notebooks)
from ._common import ACTIVITIES
from ._inference import (
    across_runs,
    cv_distinctness,
    drift_test,
    format_p,
    paired_bootstrap_ci,
    partial_spearman,
    sign_flip_pvalue,
    verdict,
)
from ._samples import activity_confidence, neuron_correlation, sample_activity
from ._spearman import spearman

__all__ = [
    "ACTIVITIES",
    "STATEMENTS",
    "across_runs",
    "activity_confidence",
    "bin_statistics",
    "claim_summary",
    "cv_distinctness",
    "drift_test",
    "format_p",
    "neuron_correlation",
    "paired_bootstrap_ci",
    "partial_spearman",
    "sample_activity",
    "sign_flip_pvalue",
    "spearman",
    "statement_trajectories",
    "trend_tests",
    "verdict",
]

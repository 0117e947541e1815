"""What every section writer of the replication shares: :class:`Context`.

The configuration, the output folders, the figure writer, the progress printer, and
the tables the sections collect for the plain-words summary (``claims``: every
statement's verdict of every configuration, layer and measure; ``findings``: each
part's sentences; ``facts``: structured results for the overview of what is
reproduced).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .config import ReplicateConfig
from .markdown import Figures
from .plan import Paths

__all__ = ["Context", "dataset_title", "model_title"]

_DATASET_TITLES = {"digits": "digits", "fashion_mnist": "Fashion-MNIST", "mnist": "MNIST", "cifar10": "CIFAR-10"}
_MODEL_TITLES = {"mlp": "MLP (128)", "mlp2": "2-layer MLP (128, 128)", "cnn": "CNN"}


def dataset_title(name: str) -> str:
    return _DATASET_TITLES.get(name, str(name))


def model_title(label: str) -> str:
    return _MODEL_TITLES.get(label, label)


@dataclass
class Context:
    """Shared state of one document build."""

    config: ReplicateConfig
    paths: Paths
    figures: Figures
    say: Callable[[str], None] = print
    claims: list[Any] = field(default_factory=list)
    findings: dict[str, list[str]] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    def note(self, part: str, sentence: str) -> None:
        """Add a sentence to ``part``'s plain-words findings."""
        self.findings.setdefault(part, []).append(sentence)

    def runs(self, part: str, dataset: str, label: str) -> list[Any]:
        """The runs of one configuration's seeds (as configured), in seed order."""
        from ..store import open_run

        spec = self.config.training if part == "training" else self.config.model_spec(label)
        first = self.config.seed
        return [open_run(self.paths.seed_run(part, dataset, label, s)) for s in range(first, first + spec.seeds)]

"""What an import tells its caller: the refusal of a bad file, the counts of what it
changed, and its progress.

Separate because the caller (the CLI, its progress printer, the summary) needs these
and nothing of how the file is read or merged; the reading and merging modules both
fill them in. ``describe`` renders a refusal in the reader's language from the catalog
(``core/messages/importing.toml``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.errors import DomainError
from core.messages import render

KINDS = ("companies", "contracts", "keys", "support_ids", "support_id_keys", "contacts", "articles")


class ImportRejected(DomainError):
    """Raised when the file is wrong at ``path``; nothing of the file was written.

    ``reason`` is a catalog id (``import.reason.*``) rendered with the other params.
    """

    def __init__(self, path: str, reason: str, **params: Any) -> None:
        super().__init__("import.rejected", path=path, reason=reason, **params)
        self.path = path
        self.reason = reason


def describe(error: ImportRejected, locale: str) -> str:
    """``contracts[12].ends_on: not a date`` in the reader's language."""
    params = {k: v for k, v in error.params.items() if k not in ("path", "reason")}
    return render("import.rejected", locale, path=error.path, reason=render(error.reason, locale, **params))


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


@dataclass
class ImportReport:
    counts: dict[str, Counts] = field(default_factory=lambda: {kind: Counts() for kind in KINDS})
    rows: int = 0
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return any(c.created or c.updated for c in self.counts.values())


@dataclass(frozen=True)
class Progress:
    """Where the import is: ``phase`` is companies | contracts | support_ids while the
    file is read, then writing; ``done`` estimates the fraction of the whole import."""

    phase: str
    rows: int
    done: float


ProgressCallback = Callable[[Progress], None]

# Share of the total time spent reading and staging (measured with bench/scale.py);
# the rest is the merge, reported step by step.
READ_SHARE = 0.7
MERGE_STEPS = 7


def total_line(report: ImportReport) -> Sequence[tuple[str, Counts]]:
    return [(kind, report.counts[kind]) for kind in KINDS]

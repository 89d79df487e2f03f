"""One error hierarchy for the whole package.

Every message names what was wrong where: file, row, field, value and what was expected,
e.g. ``towers.csv row 17: height_m=-5, must be > 0``.  ``app`` maps these classes to HTTP
codes in one table and the CLI maps them to exit codes; core code never raises HTTP errors.
"""

from __future__ import annotations


class LomsongError(Exception):
    """Base class of every error lomsong raises on purpose."""


class InvalidInputError(LomsongError, ValueError):
    """User input (a file, a flag, a request) is not acceptable.

    ``problems`` holds every problem found, one line each, so a whole file can be rejected
    with all of its faults listed at once rather than one per try.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = list(problems) if problems else [message]
        super().__init__(message)

    @classmethod
    def from_problems(cls, source: str, problems: list[str], limit: int = 20) -> InvalidInputError:
        shown = problems[:limit]
        more = len(problems) - len(shown)
        head = f"{source}: {len(problems)} problem(s)"
        body = "\n  ".join(shown)
        tail = f"\n  ... and {more} more" if more > 0 else ""
        return cls(f"{head}:\n  {body}{tail}", problems)


class DemReadError(LomsongError, OSError):
    """A DEM could not be read, or is unusable (no CRS, no valid cells...)."""


class OutputExistsError(LomsongError, FileExistsError):
    """An output exists and ``--overwrite`` was not given."""


class NotFoundError(LomsongError, LookupError):
    """A requested object (village, job, version) does not exist."""

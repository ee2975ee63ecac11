"""Per-object outcomes: what one ingestion call did with each object event, never one verdict per batch.

Every job's ingestion returns one :class:`Outcome` per event, in order. ``retry`` is the only outcome that
makes the trigger redeliver the event (SQS) or the backfill retry it; everything else is final and, for
objects the job keeps a ledger of, written there with its reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from vitrine.errors import Unavailable

logger = logging.getLogger(__name__)


class Verdict(StrEnum):
    """Outcomes every job shares; each job adds its own final statuses (indexed, classified, ...)."""

    SKIPPED = "skipped"
    """Nothing to do: a duplicate or stale event, or an object that no longer exists."""
    RETRY = "retry"
    """A transient failure (a model, the index or the database down, a timeout): deliver the event again."""


@dataclass(frozen=True)
class Outcome:
    """What happened to one event: a :class:`Verdict` or a job's own status, and why."""

    key: str
    status: str
    reason: str = ""

    @property
    def retry(self) -> bool:
        return self.status == Verdict.RETRY


def failure_reason(error: BaseException) -> str:
    """A one-line reason for an operator: the domain error's message, else the exception's type and text."""
    message = getattr(error, "message", "")
    if message:
        return message
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def failure(key: str, error: Exception) -> Outcome:
    """The outcome of a failure while handling one object that is not the object's fault: ``retry``.

    A dependency that is down or slow (``Unavailable``, ``TimeoutError``, a dropped connection) is the usual
    cause and is expected; anything else (a bug) is logged with its trace, retried, and after the queue's
    receive limit lands in the dead-letter queue with its reason for an operator. Never lost.
    """
    if not isinstance(error, Unavailable | OSError | TimeoutError):
        logger.warning("unexpected error while handling %s", key, exc_info=error)
    return retry(key, failure_reason(error))


def retry(key: str, reason: str) -> Outcome:
    return Outcome(key, Verdict.RETRY, reason)


def skipped(key: str, reason: str) -> Outcome:
    return Outcome(key, Verdict.SKIPPED, reason)

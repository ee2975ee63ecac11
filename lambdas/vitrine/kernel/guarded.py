"""Run a job's ingestion over object events under the event guard: claim, ingest, complete or release.

Both triggers of a job (the SQS queue and the backfill) go through here, so a live event and a backfill of
the same object never both pay for the models, and every claim taken is settled on every path: completed
when the object's outcome is final, released when it is to be retried or anything failed, so a redelivery
(or a DLQ redrive) processes it. Claims carry the invocation's remaining time, so a crashed invocation's
claims expire with it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

from vitrine.kernel.events import ObjectEvent
from vitrine.kernel.outcomes import Outcome, failure_reason, retry, skipped
from vitrine.kernel.ports import EventGuard

Ingest = Callable[[Sequence[ObjectEvent]], list[Outcome]]


def ingest_guarded(
    events: Sequence[ObjectEvent],
    ingest: Ingest,
    guard: EventGuard | None,
    remaining_ms: Callable[[], int] | None = None,
) -> list[Outcome]:
    """One outcome per event, in order; ``done`` events are skipped, ``busy`` ones retried later."""
    if guard is None:
        return ingest(events)
    outcomes: dict[int, Outcome] = {}
    owned: list[int] = []
    for position, event in enumerate(events):
        try:
            claim = guard.claim(event, remaining_ms() if remaining_ms else None)
        except Exception as error:  # the guard's store is down: this event waits for a redelivery
            outcomes[position] = retry(event.key, f"event guard: {failure_reason(error)}")
            continue
        if claim == "new":
            owned.append(position)
        elif claim == "done":
            outcomes[position] = skipped(event.key, "already processed (event guard)")
        else:
            outcomes[position] = retry(event.key, "being processed by another invocation")
    settled: set[int] = set()
    try:
        results = ingest([events[p] for p in owned])
        for position, outcome in zip(owned, results, strict=True):
            outcomes[position] = outcome
            if not outcome.retry:
                guard.complete(events[position])
                settled.add(position)
    finally:
        for position in owned:
            if position not in settled:
                reason = outcomes[position].reason if position in outcomes else "invocation failed"
                _release(guard, events[position], reason)
                outcomes.setdefault(position, retry(events[position].key, reason))
    return [outcomes[p] for p in range(len(events))]


def _release(guard: EventGuard, event: ObjectEvent, reason: str) -> None:
    """Best effort: a claim that cannot be released still expires with the invocation's remaining time."""
    with contextlib.suppress(Exception):  # the expiry is the fallback; the outcome already says retry
        guard.release(event, reason)

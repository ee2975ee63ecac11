"""Lambda entry point for hotel classification: ``hotels/`` S3 events from SQS, and backfill batches.

``handler`` serves both triggers of the job, told apart by the event's shape (an SQS event has ``Records``,
a Distributed Map batch ``Items`` and ``BatchInput``), so the live and the backfill function deploy one
handler and differ only in their trigger.

SQS (:func:`from_queue`): the S3 → SQS → Lambda path, with partial batch responses. Every S3 event of the
SQS batch goes through the classification together (one batched request in-process, bounded concurrent
requests to vLLM) under the event guard; Powertools' batch processor then fails only the messages that are
malformed or whose objects are to be retried. Rejected objects (not an image, a bomb, a photo the model
refuses) do not fail their message: they are recorded with their reason.

Backfill (:func:`backfill`): a Step Functions Distributed Map over the ``hotels/`` listing sends batches of
existing objects here; they go through the same per-object code (a listing has no sequencer: the ETag makes
an already classified object a no-op).

Neither scores covers: classification marks each changed hotel, and ``handlers.hotels_cover`` sweeps the
marks on a schedule (debounced: ten new photos of a hotel are one scoring run).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

from handlers.object_events import ObjectEventTrigger
from vitrine.hotels.classify import HotelVerdict
from vitrine.kernel.outcomes import Verdict

logger = Logger(service="vitrine-hotels-classify")
tracer = Tracer(service="vitrine-hotels-classify")
metrics = Metrics(namespace="Vitrine", service="vitrine-hotels-classify")
hotels = ObjectEventTrigger(
    lambda app: app.hotel_classification.ingest,
    logger=logger,
    metrics=metrics,
    metric_prefix="Hotels",
    routine={HotelVerdict.CLASSIFIED, HotelVerdict.HOTEL, Verdict.SKIPPED},
    final_statuses=[*HotelVerdict, Verdict.SKIPPED],
)
verdicts = hotels.verdicts


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "Items" in event and "BatchInput" in event:
        return hotels.backfill(event, context)
    return hotels.from_queue(event, context)

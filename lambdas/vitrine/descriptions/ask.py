"""A shopper's free question about a product's photo ("is it cotton?"), answered by the attribute model.

The question goes, as it is, to the same endpoint and the same photo the attributes are read from. It is
public, so it is bounded (length), rate-limited per client, and refused politely — a sentence a shopper can
act on — when it is empty or too long, or when the product has no photo yet.

The per-client limit here is per process (a warm Lambda, the local server): it keeps one client from
monopolising an instance. The service-wide limit on AWS is API Gateway's throttling and WAF's rate rule.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from vitrine.catalog.ports import Catalog
from vitrine.descriptions.describe import MAX_PHOTOS_CONSIDERED, best_photo
from vitrine.descriptions.normalise import CANNOT_TELL
from vitrine.errors import BadInput, NotFound, Unavailable
from vitrine.kernel.ports import ObjectStore
from vitrine.models.attribute_reader import AttributeReader

NO_ANSWER = "The photo does not show that clearly enough to say."


class TooManyQuestions(Unavailable):
    """One client asked more than its share: answer later (HTTP 429 with Retry-After)."""

    status_code = 429


@dataclass(frozen=True)
class PhotoAnswer:
    question: str
    answer: str
    image_key: str
    model: str


class RateLimiter:
    """At most ``limit`` calls per client in any ``window_s`` seconds (a sliding window); thread-safe, and
    bounded in memory: the least recently seen clients are forgotten beyond ``max_clients``."""

    def __init__(
        self,
        limit: int,
        window_s: float = 60.0,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_clients = max_clients
        self.clock = clock
        self._calls: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def wait_s(self, client: str) -> float:
        """0 and the call counted when ``client`` may go on; else the seconds until it may (not counted)."""
        now = self.clock()
        with self._lock:
            calls = self._calls.pop(client, None) or deque()
            while calls and now - calls[0] >= self.window_s:
                calls.popleft()
            self._calls[client] = calls
            while len(self._calls) > self.max_clients:
                self._calls.popitem(last=False)
            if len(calls) >= self.limit:
                return max(0.0, self.window_s - (now - calls[0]))
            calls.append(now)
            return 0.0


class PhotoQuestions:
    """Answers shoppers' questions about a product's photo, within the limits."""

    def __init__(
        self,
        store: ObjectStore,
        catalog: Catalog,
        reader: AttributeReader,
        *,
        max_chars: int,
        limiter: RateLimiter,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.reader = reader
        self.max_chars = max_chars
        self.limiter = limiter

    def check(self, question: str) -> str:
        """The question to ask, or :class:`BadInput` with a polite sentence."""
        text = " ".join(question.split())
        if not text:
            raise BadInput("Please type a question about the product, for example “What is the fabric?”.")
        if len(text) > self.max_chars:
            raise BadInput(
                f"That question is a little long: please keep it under {self.max_chars} characters."
            )
        return text

    def ask(self, code: str, question: str, client: str) -> PhotoAnswer:
        """The model's answer about ``code``'s photo. :class:`BadInput` (a polite refusal),
        :class:`NotFound`, :class:`TooManyQuestions` or :class:`Unavailable` otherwise."""
        text = self.check(question)
        product = self.catalog.get_products([code]).get(code)
        if product is None:
            raise NotFound(f"There is no product {code}.")
        wait = self.limiter.wait_s(client or "anonymous")
        if wait > 0:
            seconds = max(1, round(wait))
            raise TooManyQuestions(
                f"You have asked a lot of questions in a short time. Please wait {seconds} seconds and ask again.",
                retry_after_s=seconds,
            )
        photo = best_photo(self.catalog.list_images(product_code=code, limit=MAX_PHOTOS_CONSIDERED))
        if photo is None:
            raise NotFound("This product has no photo to ask about yet.")
        answer = self.reader.answer(self.store.get(photo.key), text).strip()
        if not answer or " ".join(answer.casefold().split()) in CANNOT_TELL:
            answer = NO_ANSWER
        return PhotoAnswer(question=text, answer=answer, image_key=photo.key, model=self.reader.name)

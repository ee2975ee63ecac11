"""The attribute model's client (BLIP-2, ``model_code/blip2_attributes``): one photo and its questions in, one
answer per question out, in one request.

The endpoint takes ``{"image": b64, "questions": [...], "max_new_tokens": n}`` and answers
``{"answers": [...]}`` in question order; it wraps each question as ``Question: <question> Answer:`` (the
prompt the Flan-T5 checkpoints and our LoRA training use) and answers them all in one ``generate`` call,
so a product's attributes cost one request whatever their number. A shopper's free question goes the
same way, as a list of one.
"""

from __future__ import annotations

from collections.abc import Sequence

from vitrine.errors import BadInput, Unavailable
from vitrine.kernel.ports import ModelEndpoint
from vitrine.models.invoke import b64, expect_list, invoke_json

MAX_QUESTIONS = 32
"""Questions per request (the handler's batch limit)."""
MAX_QUESTION_CHARS = 500
"""The handler's limit on one question."""
DEFAULT_MAX_NEW_TOKENS = 20


class AttributeReader:
    """Asks the attribute model questions about one photo; answers are the model's own words."""

    def __init__(self, endpoint: ModelEndpoint, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS) -> None:
        self.endpoint = endpoint
        self.name = endpoint.name
        self.max_new_tokens = max_new_tokens

    def ask(self, image: bytes, questions: Sequence[str]) -> list[str]:
        """One answer per question, in order, from one request. :class:`~vitrine.errors.BadInput` when the
        endpoint refuses the photo or a question; :class:`~vitrine.errors.Unavailable` when it is down or
        answers without one string per question."""
        if not questions:
            return []
        if len(questions) > MAX_QUESTIONS:
            raise BadInput(f"{len(questions)} questions about one photo; at most {MAX_QUESTIONS} per request")
        for question in questions:
            if not question.strip() or len(question) > MAX_QUESTION_CHARS:
                raise BadInput(f"a question must have 1 to {MAX_QUESTION_CHARS} characters")
        answer = invoke_json(
            self.endpoint,
            {"image": b64(image), "questions": list(questions), "max_new_tokens": self.max_new_tokens},
        )
        answers = expect_list(answer, "answers", self.endpoint, len(questions))
        if not all(isinstance(text, str) for text in answers):
            raise Unavailable(f"model {self.name} answered something that is not text")
        return [text.strip() for text in answers]

    def answer(self, image: bytes, question: str) -> str:
        """The model's answer to one free question about the photo."""
        return self.ask(image, [question])[0]

"""The catalog's image tagger on the chat VLM (the llava endpoint), in the local and the SageMaker profile.

It sends the shared :data:`~vitrine.catalog.tagging.TAG_PROMPT` and validates with
:func:`~vitrine.catalog.tagging.parse_tags`, exactly like the Bedrock tagger, so switching tagger never
changes what counts as a valid answer. An answer that is not a chat completion gives invalid tags with the
reason, and the image is kept.
"""

from __future__ import annotations

from collections.abc import Sequence

from vitrine.catalog.domain import ImageTags
from vitrine.catalog.tagging import TAG_PROMPT, parse_tags
from vitrine.models.chat_vlm import ChatAnswer, ChatQuestion, ChatVlm

MAX_TOKENS = 200
"""The tag JSON is under 150 tokens; the cap stops a rambling model early."""


def _tags(answer: ChatAnswer) -> ImageTags:
    return parse_tags(answer.text) if answer.ok else ImageTags(valid=False, reason=answer.error)


class ModelTagger:
    """:class:`~vitrine.catalog.ports.ImageTagger` over a :class:`~vitrine.models.chat_vlm.ChatVlm`."""

    def __init__(self, vlm: ChatVlm) -> None:
        self._vlm = vlm
        self.name = f"model:{vlm.name}"

    def tag(self, image: bytes, content_type: str) -> ImageTags:
        return _tags(self._vlm.ask(ChatQuestion(image, content_type, TAG_PROMPT), MAX_TOKENS))

    def tag_many(self, images: Sequence[tuple[bytes, str]]) -> list[ImageTags]:
        questions = [ChatQuestion(image, kind, TAG_PROMPT) for image, kind in images]
        return [_tags(answer) for answer in self._vlm.ask_many(questions, MAX_TOKENS)]

"""A word-level tokenizer for dual encoders built here (from scratch in training, tiny for tests), offline.

Published CLIP/SigLIP checkpoints bring their own BPE/SentencePiece tokenizer; a model trained from scratch on
a shop's product texts needs one too, and a word per token is what short product texts want: every colour,
pattern and category word gets its own id. Texts are lower-cased and split on spaces and punctuation
(``polka-dot`` → ``polka`` ``-`` ``dot``); each is framed ``<s> ... </s>``, and the model pools at ``</s>``
(CLIP's ``eos_token_id``; SigLIP pools the last position, which max-length padding makes fixed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
SPECIALS = [PAD, UNK, BOS, EOS]
"""Ids 0..3 (EOS is 3: CLIP treats ``eos_token_id == 2`` as a legacy checkpoint and pools elsewhere)."""

_WORD = re.compile(r"\w+|[^\w\s]")


def words_of(texts: Iterable[str]) -> list[str]:
    """The distinct words of ``texts`` as the tokenizer splits them, sorted."""
    return sorted({word for text in texts for word in _WORD.findall(text.lower())})


def word_tokenizer(words: Iterable[str], max_length: int) -> Any:
    """A fast tokenizer whose vocabulary is :data:`SPECIALS` + ``words`` (unknown words → ``<unk>``)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(SPECIALS)}
    for word in sorted(set(words)):
        vocab.setdefault(word.lower(), len(vocab))
    core = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    core.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A {EOS}", special_tokens=[(BOS, vocab[BOS]), (EOS, vocab[EOS])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token=PAD,
        unk_token=UNK,
        bos_token=BOS,
        eos_token=EOS,
        model_max_length=max_length,
    )


def special_ids() -> dict[str, int]:
    """The text config's token ids for :func:`word_tokenizer`'s vocabulary."""
    return {"pad_token_id": 0, "bos_token_id": 2, "eos_token_id": 3}

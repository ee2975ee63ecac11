"""What the tiny builders share: offline tokenizers, the seeded construction, the size of a tiny stack.

Every builder must make the same model on every run and machine (tests compare answers), without a model
hub; the transformers 5 pitfalls met on the way (a tokenizer keyword that is silently ignored) are handled
here once.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SEED = 0

TINY_LAYERS = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}
"""Width, depth and heads of the tiny vision, Q-Former and text stacks: real multi-head attention over
more than one layer, at a size that builds and runs in milliseconds on CPU."""


def word_tokenizer(words: Iterable[str], specials: list[str], **options: str) -> Any:
    """A lower-casing word-level fast tokenizer over ``specials`` + ``words``.

    ``options`` go to the tokenizer (``unk_token``, ``eos_token``, ``padding_side`` ...); specials not named
    there become additional special tokens, so decoding with ``skip_special_tokens`` drops them. For the
    generative models (LLaVA, BLIP-2): it works offline and decodes back to words.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(specials)}
    for word in sorted(set(words) | set(".,:;?!'\"{}[]()")):
        vocab.setdefault(word, len(vocab))
    core = Tokenizer(models.WordLevel(vocab, unk_token=options.get("unk_token", specials[0])))
    core.normalizer = normalizers.Lowercase()
    # Punctuation stands alone, except a hyphen inside a word: "polka-dot" is one word (it would otherwise
    # decode as "polka - dot", the answer a shopper reads).
    inside_hyphen_kept = Regex(r"[^\w-]|(?<!\w)-|-(?!\w)")
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(inside_hyphen_kept, behavior="isolated")]
    )
    core.decoder = decoders.WordPiece(prefix="##")
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, **options)
    extra = [token for token in specials if token not in options.values()]
    tokenizer.add_special_tokens({"additional_special_tokens": extra})
    return tokenizer


def bert_tokenizer(tokens: list[str]) -> Any:
    """A ``BertTokenizer`` whose vocabulary is ``tokens``, id = position (for the BERT text encoders).

    The vocabulary file is written to a temporary folder: the tokenizer's own ``save_pretrained`` writes
    the ``vocab.txt`` a model folder keeps. It is passed as ``vocab=``, because transformers 5 silently
    ignores ``vocab_file=`` and every word becomes [UNK].
    """
    from transformers import BertTokenizer

    with tempfile.TemporaryDirectory() as folder:
        vocab = Path(folder) / "vocab.txt"
        vocab.write_text("\n".join(tokens) + "\n")
        return BertTokenizer(vocab=str(vocab))


@contextmanager
def seeded(seed: int = SEED) -> Iterator[None]:
    """Random initialisation inside the block is seeded, and torch's global generator is left as it was."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def save_model(out_dir: Path, model: Any, processor: Any) -> None:
    """Weights, config and processor into ``out_dir``: the folder ``model_fn`` loads with ``from_pretrained``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)

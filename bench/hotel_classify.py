"""Hotel classification throughput: bounded concurrent requests against one at a time, same endpoint client.

The SageMaker LLaVA endpoint runs vLLM's rolling batch: requests that arrive together are decoded together,
so the classification client sends up to ``concurrency`` single chat requests at once
(:class:`vitrine.models.chat_vlm.ChatVlm` with ``batch_requests=False``, as in the cloud profile). Here
the endpoint is the real ``model_code/llava`` handler in-process behind :class:`RollingBatchEndpoint`, a
stand-in for vLLM's scheduler: it gathers the requests in flight (up to ``--max-batch``, waiting at most
``--window-ms`` for company) into one ``{"requests": [...]}`` call. Both runs classify the same photos
through the same :class:`~vitrine.hotels.classify.PhotoClassifier` (the published prompt, the label
parser) and the same endpoint; only the client's concurrency differs. The ratio is meaningful on any machine;
the absolute photos/s are this machine's (CPU, a small random LLaVA-NeXT: its answers mean nothing).

Last line: ``concurrency_speedup=<x>``.

Run: ``.venv/bin/python bench/hotel_classify.py [--images N] [--concurrency N] [--rounds N]``
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import Future
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lambdas"))
sys.path.insert(0, str(REPO / "model_code"))

from vitrine.adapters.local.inprocess_endpoint import InProcessEndpoint  # noqa: E402
from vitrine.hotels.classify import PhotoClassifier  # noqa: E402
from vitrine.hotels.labels import load_labels  # noqa: E402
from vitrine.models.chat_vlm import ChatVlm  # noqa: E402


class RollingBatchEndpoint:
    """A ModelEndpoint that batches the single chat requests in flight, as vLLM's rolling batch does."""

    def __init__(self, inner: InProcessEndpoint, max_batch: int, window_s: float) -> None:
        self.name = inner.name
        self.inner = inner
        self.max_batch = max_batch
        self.window_s = window_s
        self.batches: list[int] = []
        self._queue: queue.Queue[tuple[dict, Future[bytes]]] = queue.Queue()
        threading.Thread(target=self._serve, daemon=True).start()

    def invoke(self, body: bytes, content_type: str, accept: str = "application/json") -> bytes:
        done: Future[bytes] = Future()
        self._queue.put((json.loads(body), done))
        return done.result()

    def _serve(self) -> None:
        while True:
            batch = [self._queue.get()]
            deadline = time.perf_counter() + self.window_s
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get(timeout=max(0.0, deadline - time.perf_counter())))
                except queue.Empty:
                    break
            self.batches.append(len(batch))
            try:
                raw = self.inner.invoke(
                    json.dumps({"requests": [r for r, _ in batch]}).encode(), "application/json"
                )
                responses = json.loads(raw)["responses"]
                for (_, done), response in zip(batch, responses, strict=True):
                    done.set_result(json.dumps(response).encode())
            except Exception as error:  # every caller of the batch sees the model's failure
                for _, done in batch:
                    done.set_exception(error)


def small_llava(folder: Path) -> str:
    """A random LLaVA-NeXT a little larger than the tests' tiny one (more compute per token), built offline."""
    import torch
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaNextConfig, LlavaNextForConditionalGeneration

    from vitrine_dev.modelkit.tiny import llava as tiny

    tiny.build(folder)  # processor, tokenizer and chat template of the tiny model
    config = LlavaNextConfig.from_pretrained(folder)
    vision = CLIPVisionConfig(
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=4,
        num_attention_heads=4,
        image_size=tiny.IMAGE_SIZE,
        patch_size=tiny.PATCH_SIZE,
        projection_dim=128,
    )
    text = LlamaConfig(
        hidden_size=256,
        intermediate_size=768,
        num_hidden_layers=6,
        num_attention_heads=8,
        num_key_value_heads=4,
        vocab_size=config.text_config.vocab_size,
        max_position_embeddings=1024,
        bos_token_id=config.text_config.bos_token_id,
        eos_token_id=config.text_config.eos_token_id,
        pad_token_id=config.text_config.pad_token_id,
    )
    bigger = LlavaNextConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=config.image_token_index,
        image_grid_pinpoints=config.image_grid_pinpoints,
        vision_feature_layer=-1,
    )
    torch.manual_seed(0)
    model = LlavaNextForConditionalGeneration(bigger).eval()
    model.generation_config.pad_token_id = text.pad_token_id
    model.generation_config.eos_token_id = text.eos_token_id
    model.save_pretrained(folder)
    return "random LLaVA-NeXT (CLIP 4x128, Llama 6x256)"


def photos(count: int) -> list[tuple[bytes, str]]:
    """Synthetic hotel photos (the demo's scenes), as the pipeline hands them to the classifier."""
    import numpy as np

    from vitrine_dev.demo_hotels import SCENES, render

    labels = list(SCENES)
    return [(render(labels[i % len(labels)], np.random.default_rng(i)), "image/jpeg") for i in range(count)]


def run(classifier: PhotoClassifier, images: list[tuple[bytes, str]]) -> tuple[float, Counter[str]]:
    started = time.perf_counter()
    results = classifier.classify_many(images)
    elapsed = time.perf_counter() - started
    return len(images) / elapsed, Counter(result.label for result in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=16, help="photos per run (default 16)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds; the best of each (default 3)"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    parser.add_argument("--max-batch", type=int, default=8, help="the endpoint's batch limit (default 8)")
    parser.add_argument("--window-ms", type=float, default=5.0, help="how long a batch waits for company")
    args = parser.parse_args()
    labels = load_labels()
    images = photos(args.images)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "llava"
        folder.mkdir()
        weights = small_llava(folder)
        endpoint = RollingBatchEndpoint(
            InProcessEndpoint("llava", REPO / "model_code", str(folder)),
            args.max_batch,
            args.window_ms / 1000,
        )
        one = PhotoClassifier(ChatVlm(endpoint, batch_requests=False, concurrency=1), labels)
        many = PhotoClassifier(ChatVlm(endpoint, batch_requests=False, concurrency=args.concurrency), labels)
        run(many, images[: args.max_batch])  # warm-up: load the model, first batches
        rates: dict[str, list[float]] = {"one": [], "many": []}
        batches: dict[str, list[int]] = {"one": [], "many": []}
        labelled: Counter[str] = Counter()
        for round_ in range(args.rounds):  # interleaved, so a busy neighbour slows both alike
            for mode in ("one", "many") if round_ % 2 == 0 else ("many", "one"):
                endpoint.batches.clear()
                rate, labelled = run(one if mode == "one" else many, images)
                rates[mode].append(rate)
                batches[mode] += endpoint.batches
        single, concurrent = max(rates["one"]), max(rates["many"])
        single_batches, concurrent_batches = batches["one"], batches["many"]
    print(f"{len(images)} synthetic hotel photos (320x240 JPEG); {weights}; torch on CPU; one process")
    print(f"prompt: the published fill-in-the-blank question over {len(labels.labels)} labels, max_tokens 24")
    print(f"best of {args.rounds} interleaved rounds per client (the machine may be shared)")
    print(f"{'client':<28} {'photos/s':>9} {'mean batch at the endpoint':>28}")
    print(f"{'one at a time':<28} {single:>9.2f} {sum(single_batches) / len(single_batches):>28.1f}")
    print(
        f"{f'{args.concurrency} in flight (bounded)':<28} {concurrent:>9.2f} "
        f"{sum(concurrent_batches) / len(concurrent_batches):>28.1f}"
    )
    print(f"labels (random weights): {dict(labelled.most_common(4))}")
    print(f"concurrency_speedup={concurrent / single:.2f}")


if __name__ == "__main__":
    main()

"""The embedding grader: cosine similarity of answer and reference through `/v1/embeddings`.

The client is the same OpenAI-compatible client as every other request. Texts go in batches, and
each distinct text is embedded once per `Embedder` (the references and the teacher's answers are
compared with every model's answers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

if TYPE_CHECKING:
    import openai

BATCH = 256
"""Texts per request: well under OpenAI's 2,048 inputs (and 300k tokens) per embeddings request."""


class Embedder:
    """Embeddings of texts from one model, cached in memory by text."""

    def __init__(self, client: "openai.OpenAI", model: str, batch: int = BATCH) -> None:
        self.client, self.model, self.batch = client, model, batch
        self._cache: dict[str, np.ndarray] = {}
        self.requests = 0

    def embed(self, texts: Iterable[str]) -> dict[str, np.ndarray]:
        """Unit vectors of `texts`, asking the provider only for texts not seen before."""
        wanted = list(dict.fromkeys(texts))
        todo = [t for t in wanted if t not in self._cache]
        for start in range(0, len(todo), self.batch):
            chunk = todo[start:start + self.batch]
            # An empty string is refused by the API; one space embeds as "nothing said".
            response = self.client.embeddings.create(model=self.model, input=[t or " " for t in chunk])
            self.requests += 1
            for item in sorted(response.data, key=lambda d: d.index):
                vector = np.asarray(item.embedding, dtype=np.float64)
                norm = np.linalg.norm(vector)
                self._cache[chunk[item.index]] = vector / norm if norm else vector
        return {t: self._cache[t] for t in wanted}


def cosine_scores(embedder: Embedder, answers: Sequence[str | None], references: Sequence[str]) -> list[float]:
    """Cosine of each answer with its reference, negatives as 0 (scores live in [0, 1]); a missing
    answer scores 0 and is not sent."""
    vectors = embedder.embed([*(a for a in answers if a is not None), *references])
    scores = []
    for answer, reference in zip(answers, references):
        if answer is None:
            scores.append(0.0)
            continue
        cos = float(np.dot(vectors[answer], vectors[reference]))
        scores.append(min(1.0, max(0.0, cos)))
    return scores

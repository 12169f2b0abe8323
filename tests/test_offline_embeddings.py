"""The offline provider's `/v1/embeddings`, through the real SDK."""

from __future__ import annotations

import numpy as np
import openai
import pytest

from distill_tui.offline import billing
from distill_tui.offline.embeddings import embed
from tests.conftest_offline import client_for, provider  # noqa: F401 - a fixture


def _cos(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_similar_texts_have_a_higher_cosine_than_unrelated_ones(provider):
    client = client_for(provider)
    texts = ["Pair the Riesling with spicy Thai food.", "Riesling pairs well with spicy Thai dishes.",
             "The invoice total is due within thirty days."]
    response = client.embeddings.create(model="text-embedding-3-small", input=texts)  # the SDK asks for base64
    vectors = [d.embedding for d in sorted(response.data, key=lambda d: d.index)]
    assert [len(v) for v in vectors] == [1536] * 3
    assert _cos(vectors[0], vectors[1]) > 0.5 > 0.2 > _cos(vectors[0], vectors[2])
    assert response.usage.prompt_tokens == response.usage.total_tokens == sum(
        len(billing.encoding("text-embedding-3-small").encode_ordinary(t)) for t in texts)


def test_float_and_base64_give_the_same_unit_vector_and_a_string_input_works(provider):
    client = client_for(provider)
    as_float = client.embeddings.create(model="offline-embedding", input="Sancerre is in the Loire Valley.",
                                        encoding_format="float", dimensions=64)
    as_base64 = client.embeddings.create(model="offline-embedding", input=["Sancerre is in the Loire Valley."],
                                         dimensions=64)
    a, b = np.asarray(as_float.data[0].embedding), np.asarray(as_base64.data[0].embedding)
    assert a.shape == (64,) and np.allclose(a, b, atol=1e-6)
    assert np.linalg.norm(a) == pytest.approx(1.0, abs=1e-5)
    assert np.allclose(embed("Sancerre is in the Loire Valley.", 64), a, atol=1e-6)  # deterministic


def test_token_id_inputs_are_embedded_as_their_text(provider):
    client = client_for(provider)
    ids = billing.encoding("text-embedding-3-small").encode_ordinary("dry Riesling")
    by_ids = client.embeddings.create(model="text-embedding-3-small", input=[ids], encoding_format="float")
    by_text = client.embeddings.create(model="text-embedding-3-small", input="dry Riesling", encoding_format="float")
    assert by_ids.usage.prompt_tokens == len(ids)
    assert np.allclose(by_ids.data[0].embedding, by_text.data[0].embedding)


@pytest.mark.parametrize(("kwargs", "status", "words"), [
    ({"model": "text-embedding-3-small", "input": ""}, 400, "'$.input' is invalid"),
    ({"model": "text-embedding-3-small", "input": []}, 400, "'$.input' is invalid"),
    ({"model": "text-embedding-ada-002", "input": "x", "dimensions": 8}, 400, "does not support specifying dimensions"),
    ({"model": "no-such-embedder", "input": "x"}, 404, "does not exist"),
])
def test_requests_openai_refuses_are_refused(provider, kwargs, status, words):
    client = client_for(provider, max_retries=0)
    with pytest.raises(openai.APIStatusError) as caught:
        client.embeddings.create(encoding_format="float", **kwargs)
    assert caught.value.status_code == status and words in caught.value.message


def test_embedding_usage_is_counted_in_the_providers_stats(provider):
    before = provider.app.stats_snapshot()
    client_for(provider).embeddings.create(model="text-embedding-3-small", input=["a b c", "d"])
    after = provider.app.stats_snapshot()
    assert after["embedding_requests"] == before["embedding_requests"] + 1
    assert after["embedding_tokens"] - before["embedding_tokens"] == 4

"""`POST /v1/embeddings`: a small, real, local text embedding in OpenAI's response shape.

The vector of a text is its hashed feature counts: character 3- to 5-grams of the normalised text
(lower case, single spaces, padded) and its words, each hashed (BLAKE2b) to a dimension and a sign,
weighted by 1 + log(count), then L2-normalised. Texts sharing words and word pieces get a high
cosine, unrelated texts one near 0, and the same text the same vector on every run and machine.

The request is read as OpenAI reads it: `input` a string, a list of strings, a list of token ids or
a list of such lists; `encoding_format` "float" or "base64" (little-endian float32, what the SDK asks
for by default and decodes); `dimensions` for the text-embedding-3 models. `usage` counts the input
tokens with the provider's own encoder (`billing`), as embeddings are billed.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from collections import Counter
from typing import Any

import numpy as np

from distill_tui.offline import billing
from distill_tui.offline.common import ApiError

# model -> (default dimensions, whether `dimensions` may be set)
MODELS = {
    "text-embedding-3-small": (1536, True),
    "text-embedding-3-large": (3072, True),
    "text-embedding-ada-002": (1536, False),
    "offline-embedding": (256, True),
}
MAX_INPUTS = 2048
MAX_INPUT_TOKENS = 8192
_SPACE_RE = re.compile(r"\s+")
_WORD_RE = re.compile(r"\w+")
_INVALID_INPUT = "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."


def _grams(text: str) -> Counter[str]:
    norm = " " + _SPACE_RE.sub(" ", text.lower()).strip() + " "
    grams: Counter[str] = Counter()
    for n in (3, 4, 5):
        grams.update(norm[i:i + n] for i in range(max(0, len(norm) - n + 1)))
    grams.update("w:" + w for w in _WORD_RE.findall(norm))
    return grams


def embed(text: str, dimensions: int) -> np.ndarray:
    """The unit vector of `text` in `dimensions` dimensions (a zero vector for text without grams)."""
    vector = np.zeros(dimensions, dtype=np.float64)
    for gram, count in _grams(text).items():
        digest = hashlib.blake2b(gram.encode("utf-8"), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        vector[value % dimensions] += (1.0 if value >> 63 else -1.0) * (1.0 + math.log(count))
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


def _inputs(value: Any, enc: Any) -> list[tuple[str, int]]:
    """(text, tokens) of each input; token-id inputs are decoded with the model's encoding."""
    if isinstance(value, str):
        items: list[Any] = [value]
    elif isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        items = [value]
    elif isinstance(value, list) and value:
        items = value
    else:
        raise ApiError(400, _INVALID_INPUT, param="input")
    if len(items) > MAX_INPUTS:
        raise ApiError(400, f"Invalid 'input': maximum number of inputs is {MAX_INPUTS}, got {len(items)}.",
                       param="input")
    out = []
    for item in items:
        if isinstance(item, str) and item:
            tokens = len(enc.encode_ordinary(item))
            text = item
        elif isinstance(item, list) and item and all(isinstance(t, int) and not isinstance(t, bool) for t in item):
            try:
                text = enc.decode(item)
            except (KeyError, ValueError, IndexError):
                raise ApiError(400, _INVALID_INPUT, param="input") from None
            tokens = len(item)
        else:
            raise ApiError(400, _INVALID_INPUT, param="input")
        if tokens > MAX_INPUT_TOKENS:
            raise ApiError(400, f"This model's maximum context length is {MAX_INPUT_TOKENS} tokens, however you "
                           f"requested {tokens} tokens in your input. Please reduce your input.", param="input")
        out.append((text, tokens))
    return out


def create(body: Any) -> dict[str, Any]:
    """Answer an embeddings request (raises ApiError as OpenAI would refuse it)."""
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "Missing required parameter: 'model'.", param="model", code="missing_required_parameter")
    if "input" not in body:
        raise ApiError(400, "Missing required parameter: 'input'.", param="input", code="missing_required_parameter")
    unknown = sorted(set(body) - {"model", "input", "encoding_format", "dimensions", "user"})
    if unknown:
        raise ApiError(400, f"Unrecognized request argument supplied: {unknown[0]}", param=unknown[0])
    if model not in MODELS:
        raise ApiError(404, f"The model `{model}` does not exist or you do not have access to it.",
                       code="model_not_found")
    size, flexible = MODELS[model]
    dimensions = body.get("dimensions")
    if dimensions is not None:
        if not flexible:
            raise ApiError(400, "This model does not support specifying dimensions.", param="dimensions")
        if not isinstance(dimensions, int) or isinstance(dimensions, bool) or not 1 <= dimensions <= size:
            raise ApiError(400, f"Invalid 'dimensions': expected an integer between 1 and {size}.", param="dimensions")
        size = dimensions
    encoding_format = body.get("encoding_format") or "float"
    if encoding_format not in ("float", "base64"):
        raise ApiError(400, f"Invalid value for 'encoding_format': '{encoding_format}'. Supported values are: "
                       "'float' and 'base64'.", param="encoding_format")
    inputs = _inputs(body["input"], billing.encoding(model))
    data = []
    for index, (text, _) in enumerate(inputs):
        vector = embed(text, size)
        embedding: Any = (base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
                          if encoding_format == "base64" else [round(float(x), 8) for x in vector])
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    tokens = sum(t for _, t in inputs)
    return {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

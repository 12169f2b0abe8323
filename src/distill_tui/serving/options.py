"""What a light server serves and where it listens."""

from __future__ import annotations

from dataclasses import dataclass, field

CONSTRAINED_NOTE = "constrained to the labels by likelihood"
"""How the light server makes structured answers valid (shown beside the served models' rows)."""


@dataclass
class ServeOptions:
    """A light server's models and address.

    Attributes:
        base: a local model folder or a Hugging Face model id already in the local cache; it is served
            under the name `base_name` (default: `base` as written).
        adapters: served name → folder of a PEFT adapter trained on `base`, or of a full model
            (a merged adapter, a full fine-tune), which is then loaded on its own.
        device: "auto" (CUDA, then Apple MPS, then CPU), "cuda", "mps" or "cpu".
        max_tokens: the answer length when a request names none.
    """

    base: str
    base_name: str | None = None
    adapters: dict[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    port: int = 0
    device: str = "auto"
    max_tokens: int = 256

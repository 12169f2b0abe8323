"""Keep API keys out of everything the program prints or stores.

Text leaving the program (error lines, stored failure texts, job errors and events, exports of
error text) passes through `redact`. It hides the keys this process actually uses (`remember`, and
the usual key variables of the environment) wherever they appear, and anything shaped like a key
(`sk-…`, `sk-proj-…`, `hf_…`, a `Bearer` token, a long random token) even if it is not ours: a key
pasted into the wrong spec key is still a key.
"""

from __future__ import annotations

import os
import re
import threading

REDACTED = "[redacted]"

KEY_VARIABLES = ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
"""Environment variables whose values are keys wherever they appear."""

_MIN_SECRET = 8
"""Shorter values (a placeholder such as "offline" or "none") would hide ordinary words."""

_KEY_SHAPES = re.compile(
    r"(?P<prefix>\bBearer\s+|\b(?:sk|rk)-(?:proj-|svcacct-|admin-)?|\b(?:gsk|hf|r8)_|\b(?:xai|pplx|nvapi)-)"
    r"(?P<secret>[A-Za-z0-9_\-.~+/=]{7,}[A-Za-z0-9_\-~+/=])"
    r"|(?P<token>(?<![A-Za-z0-9_\-])[A-Za-z0-9_\-]{32,}(?![A-Za-z0-9_\-]))"
)
_ID_PREFIX = re.compile(r"[a-z]{2,12}(?:_[a-z]{2,12})?[-_]")
"""Provider ids ("batch_…", "chatcmpl-…", "ftjob-…") are long and random too, but people need them."""

_lock = threading.Lock()
_secrets: set[str] = set()


def remember(secret: str | None) -> None:
    """Hide `secret` (a key this process sends) from every later `redact`."""
    if secret and len(secret) >= _MIN_SECRET:
        with _lock:
            _secrets.add(secret)


def _known() -> list[str]:
    with _lock:
        known = set(_secrets)
    known.update(v for v in (os.environ.get(name) for name in KEY_VARIABLES) if v and len(v) >= _MIN_SECRET)
    return sorted(known, key=len, reverse=True)  # a key containing another is hidden whole


def _looks_random(token: str) -> bool:
    """A long token with upper case, lower case and digits: a key, not a hash, id or model name."""
    return (any(c.isupper() for c in token) and any(c.islower() for c in token)
            and any(c.isdigit() for c in token))


def _shape(match: re.Match[str]) -> str:
    if match.group("token") is not None:
        token = match.group("token")
        return REDACTED if _looks_random(token) and not _ID_PREFIX.match(token) else token
    return match.group("prefix") + REDACTED


def redact(text: str) -> str:
    """`text` with every known key and anything shaped like a key replaced by "[redacted]"."""
    if not text:
        return text
    for secret in _known():
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _KEY_SHAPES.sub(_shape, text)


def looks_like_key(value: str) -> bool:
    """Whether `value` holds a key: a known one, one shaped like a key, or is a long random token."""
    if any(secret in value for secret in _known()):
        return True
    for match in _KEY_SHAPES.finditer(value):
        if match.group("token") is None or (match.group(0) == value.strip() and _shape(match) == REDACTED):
            return True
    return False


def redact_value(value: object) -> object:
    """`redact` for a string, a list or a dict's strings (job events, error objects); others as they are."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    return value

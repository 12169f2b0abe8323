"""One clear line, and an exit code, for each way an API call can fail."""

from __future__ import annotations

from typing import Any

from distill_tui.core.common.redact import redact


class BadResponse(Exception):
    """A 200 whose body is not the object asked for (not JSON, cut off, no `choices`): a fault
    of one attempt, retried like a 5xx."""


def one_line(text: Any, limit: int = 300) -> str:
    """Provider text as one line: whitespace folded, at most `limit` characters (… when cut)."""
    folded = " ".join(str(text).split())
    return folded if len(folded) <= limit else folded[: limit - 1] + "…"


def error_body(exc: Any) -> dict[str, Any]:
    """The `error` object of an API error's body (or the body itself), {} when there is none."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return inner
    return {}


def error_code(exc: BaseException) -> str | None:
    """The API's error code (`insufficient_quota`, `training_not_available`, …), if any."""
    return getattr(exc, "code", None) or error_body(exc).get("code")


def is_fatal(exc: BaseException) -> bool:
    """Errors that no retry fixes and that stop a whole run at once."""
    import openai

    if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError)):
        return True
    if isinstance(exc, openai.RateLimitError) and error_code(exc) == "insufficient_quota":
        return True
    if isinstance(exc, openai.BadRequestError):
        return True
    return False


def is_retryable(exc: BaseException) -> bool:
    import openai

    if isinstance(exc, BadResponse):
        return True

    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError)):
        return True
    if isinstance(exc, openai.RateLimitError):
        return error_code(exc) != "insufficient_quota"
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409) or exc.status_code >= 500
    return False


def _sent_no_key(exc: BaseException) -> bool:
    """Whether the failed request went through a client `make_client` built with no key set."""
    from distill_tui.core.provider.clients import sent_without_key

    request = getattr(exc, "request", None)
    return request is not None and sent_without_key(str(request.url))


def explain(exc: BaseException) -> tuple[str, int] | None:
    """A one-line message and exit code for an `openai` error; None for anything else."""
    try:
        import openai
    except ImportError:  # pragma: no cover
        return None
    if not isinstance(exc, openai.OpenAIError):
        return None
    inner = error_body(exc)
    detail = inner.get("message") or getattr(exc, "message", None) or str(exc)
    detail = redact(" ".join(str(detail).split())[:300])  # some proxies echo the key they refused
    code = error_code(exc)
    if isinstance(exc, openai.AuthenticationError):
        if _sent_no_key(exc):
            return ("the provider wants an API key (401) and none is set: set OPENAI_API_KEY "
                    "(or the variable named by [provider] api_key_env)"), 2
        return f"the provider refused the API key (401): {detail}", 2
    if isinstance(exc, openai.PermissionDeniedError):
        if code == "training_not_available":
            return f"fine-tuning is closed for this organisation (403 training_not_available): {detail}", 1
        return f"permission denied (403): {detail}", 1
    if isinstance(exc, openai.NotFoundError):
        return f"not found (404): {detail}", 2
    if isinstance(exc, openai.RateLimitError):
        if code == "insufficient_quota":
            return f"out of quota (429 insufficient_quota): {detail}", 1
        return f"rate limited (429): {detail}", 1
    if isinstance(exc, openai.BadRequestError):
        param = redact(str(inner.get("param") or ""))
        return f"bad request (400{', ' + str(param) if param else ''}): {detail}", 2
    if isinstance(exc, openai.APITimeoutError):
        return "the provider did not answer in time", 1
    if isinstance(exc, openai.APIConnectionError):
        return f"cannot reach the provider: {detail}", 1
    if isinstance(exc, openai.APIStatusError):
        return f"provider error ({exc.status_code}): {detail}", 1
    return f"{type(exc).__name__}: {detail}", 1


def describe(exc: BaseException) -> tuple[str, int]:
    """One line and an exit code for any exception: a user's mistake or failed work as it says,
    an API error explained, anything else named by its type (whitespace folded, so one line)."""
    from distill_tui.core.common.errors import UserError, WorkFailed

    if isinstance(exc, (UserError, WorkFailed)):
        return str(exc), exc.exit_code
    if isinstance(exc, BadResponse):
        return redact(one_line(exc)), 1
    explained = explain(exc)
    if explained is not None:
        return explained
    return redact(f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"), 1

"""Curation filters: what narrows the list of teacher answers, and the CLI's `--filter KEY=VALUE`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Iterable

from distill_tui.core.errors import UserError


@dataclass(frozen=True)
class Filters:
    """Conditions that narrow the list; all given conditions must hold."""

    agrees: str | None = None  # "yes", "no" or "unknown" (no gold label)
    valid: bool | None = None
    labels: tuple[str, ...] = ()  # gold labels
    answers: tuple[str, ...] = ()  # teacher labels
    finish: tuple[str, ...] = ()
    status: str | None = None
    source: str | None = None
    min_tokens: int | None = None
    max_tokens: int | None = None
    text: str = ""
    dups: bool | None = None  # only rows whose prompt occurs more than once (or only once)

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "Filters":
        data = dict(data or {})
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        for key in ("labels", "answers", "finish"):
            if key in known:
                known[key] = tuple(known[key] or ())
        return cls(**known)

    @property
    def active(self) -> bool:
        return self != Filters()

    def describe(self) -> str:
        """A short one-line summary, e.g. `agrees=yes label=Merlot text='oak'`."""
        parts = []
        if self.agrees:
            parts.append(f"agrees={self.agrees}")
        if self.valid is not None:
            parts.append("valid=yes" if self.valid else "invalid")
        for name, values in (("label", self.labels), ("answer", self.answers), ("finish", self.finish)):
            if values:
                parts.append(f"{name}={','.join(values)}")
        for name in ("status", "source"):
            if getattr(self, name):
                parts.append(f"{name}={getattr(self, name)}")
        if self.min_tokens is not None or self.max_tokens is not None:
            parts.append(f"tokens={self.min_tokens or ''}..{self.max_tokens or ''}")
        if self.dups is not None:
            parts.append("dups" if self.dups else "unique")
        if self.text:
            parts.append(f"text={self.text!r}")
        return " ".join(parts) or "none"


_YES, _NO = ("yes", "y", "true", "1", "on"), ("no", "n", "false", "0", "off")
FILTER_KEYS = ("agrees", "valid", "label", "answer", "finish", "status", "source", "tokens", "text", "dup",
               "dedupe", "cap")


def _bool(key: str, value: str) -> bool:
    if value.lower() in _YES:
        return True
    if value.lower() in _NO:
        return False
    raise UserError(f"--filter {key}={value}: use yes or no")


def parse_filters(expressions: Iterable[str], base: Filters | None = None) -> tuple[Filters, dict[str, Any]]:
    """Parse `key=value` filter expressions (the CLI's `--filter`).

    Keys: agrees=yes|no|unknown, valid=yes|no, label=A,B (gold), answer=A,B (teacher), finish=stop,
    status=ok|failed, source=generated|imported, tokens=MIN..MAX, text=WORDS, dup=yes|no; and two
    actions applied to what matches: dedupe=yes, cap=N (per teacher label).

    Returns:
        The filters and the actions (`{"dedupe": bool, "cap": int | None}`).

    Raises:
        UserError: naming the expression that cannot be read.
    """
    f = base or Filters()
    actions: dict[str, Any] = {"dedupe": False, "cap": None}
    for expr in expressions:
        key, sep, value = expr.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep or key not in FILTER_KEYS:
            raise UserError(f"--filter {expr!r}: expected KEY=VALUE with KEY one of {', '.join(FILTER_KEYS)}")
        items = tuple(v.strip() for v in value.split(",") if v.strip())
        if key == "agrees":
            if value.lower() not in ("yes", "no", "unknown"):
                raise UserError(f"--filter {expr}: agrees takes yes, no or unknown")
            f = replace(f, agrees=value.lower())
        elif key == "valid":
            f = replace(f, valid=_bool(key, value))
        elif key in ("label", "answer", "finish"):
            name = {"label": "labels", "answer": "answers", "finish": "finish"}[key]
            f = replace(f, **{name: getattr(f, name) + items})
        elif key in ("status", "source"):
            f = replace(f, **{key: value})
        elif key == "tokens":
            low, dots, high = value.partition("..")
            try:
                f = replace(f, min_tokens=int(low) if low else None,
                            max_tokens=(int(high) if high else None) if dots else (int(low) if low else None))
            except ValueError:
                raise UserError(f"--filter {expr}: tokens takes MIN..MAX, e.g. tokens=10..500") from None
        elif key == "text":
            f = replace(f, text=value)
        elif key == "dup":
            f = replace(f, dups=_bool(key, value))
        elif key == "dedupe":
            actions["dedupe"] = _bool(key, value)
        elif key == "cap":
            try:
                actions["cap"] = int(value)
            except ValueError:
                raise UserError(f"--filter {expr}: cap takes a number of examples per label") from None
            if actions["cap"] < 1:
                raise UserError(f"--filter {expr}: cap must be at least 1")
    return f, actions



"""The served models: a base model, PEFT adapters on it chosen by name, full models beside it; answering
chat messages with transformers `generate`, or by scoring each allowed answer (constrained output)."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distill_tui.serving.options import ServeOptions


DEFAULT_TEMPLATE_KWARGS = {"enable_thinking": False}
"""A distilled student answers at once, as its training lines did: templates that can think (Qwen3) are
rendered with thinking off, which is also how they render a finished assistant turn. A request's
`chat_template_kwargs` (vLLM's name) overrides it; templates without the variable ignore it."""


class ServeError(Exception):
    """A request the served models cannot answer: an HTTP status and one line for the client."""

    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param


class LoadError(Exception):
    """A model or adapter folder that cannot be loaded (one line naming it)."""


@dataclass
class Answer:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


def enum_choices(response_format: Any) -> tuple[str, list[str]] | None:
    """(answer field, allowed values) when `response_format` is a json_schema for an object whose one
    property is a string enum (a classification answer); None for no response format or plain text.

    Raises:
        ServeError: a response format this server cannot guarantee (another schema shape, json_object).
    """
    if not response_format or response_format.get("type") in (None, "text"):
        return None
    if response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
        props = schema.get("properties") or {}
        if schema.get("type") == "object" and len(props) == 1:
            (name, prop), = props.items()
            values = prop.get("enum") if isinstance(prop, dict) else None
            if isinstance(values, list) and values and all(isinstance(v, str) for v in values):
                return name, list(dict.fromkeys(values))
    raise ServeError(400, "this light server constrains only a json_schema whose one property is a string enum "
                          "(a classification answer); serve the model with vLLM for other structured outputs",
                     code="unsupported_response_format", param="response_format")


def pick_device(wanted: str) -> str:
    import torch

    if wanted != "auto":
        return wanted
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def _is_adapter(folder: str) -> bool:
    return (Path(folder).expanduser() / "adapter_config.json").is_file()


class ModelPool:
    """Every served name → a model (with the adapter to enable, or None for the bare model) and its
    tokenizer. One request runs at a time: adapters are switched on the one shared model."""

    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        self.base_name = options.base_name or options.base
        self._lock = threading.Lock()
        self.device = pick_device(options.device)
        base_model, self.tokenizer = self._load_full(options.base)
        self._entries: dict[str, tuple[Any, Any, str | None]] = {self.base_name: (base_model, self.tokenizer, None)}
        peft_model = None
        self._peft: Any = None  # the base model wrapped with the adapters, once there is one
        for number, (name, folder) in enumerate(options.adapters.items()):
            if name in self._entries:
                raise LoadError(f"{name}: served twice (the base model and an adapter share the name)")
            if _is_adapter(folder):
                # PEFT names modules after the adapter, and a module name cannot hold a dot: served
                # names are often paths (~/.local/...), so the adapter gets a plain name of its own.
                inner = f"adapter_{number}"
                peft_model = self._peft = self._add_adapter(peft_model, base_model, inner, folder)
                self._entries[name] = (peft_model, self.tokenizer, inner)
            else:
                model, tokenizer = self._load_full(folder)
                self._entries[name] = (model, tokenizer, None)
        if peft_model is not None:
            # The base name now answers through the PEFT wrapper with every adapter disabled.
            self._entries[self.base_name] = (peft_model, self.tokenizer, None)

    @property
    def names(self) -> list[str]:
        return list(self._entries)

    def _load_full(self, source: str) -> tuple[Any, Any]:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(source, local_files_only=True, dtype="auto")
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise LoadError(f"{source}: not a model folder or a cached Hugging Face model ({first})") from None
        if not getattr(tokenizer, "chat_template", None):
            raise LoadError(f"{source}: the tokenizer has no chat template")
        return model.to(self.device).eval(), tokenizer

    def _add_adapter(self, peft_model: Any, base_model: Any, name: str, folder: str) -> Any:
        from peft import PeftModel

        try:
            if peft_model is None:
                return PeftModel.from_pretrained(base_model, folder, adapter_name=name).eval()
            peft_model.load_adapter(folder, adapter_name=name)
            return peft_model
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise LoadError(f"{folder}: not a LoRA adapter of {self.options.base} ({first})") from None

    def _entry(self, name: str) -> tuple[Any, Any, str | None]:
        entry = self._entries.get(name)
        if entry is None:
            raise ServeError(404, f"The model `{name}` does not exist or you do not have access to it.",
                             code="model_not_found", param="model")
        return entry

    def answer(self, name: str, messages: Sequence[dict[str, Any]], *, max_tokens: int | None,
               temperature: float | None, response_format: Any,
               template_kwargs: dict[str, Any] | None = None) -> Answer:
        """Answer `messages` with the model served as `name` (see `enum_choices` for response formats).

        `template_kwargs` go to the chat template over `DEFAULT_TEMPLATE_KWARGS`."""
        import torch

        model, tokenizer, adapter = self._entry(name)
        choices = enum_choices(response_format)
        prompt = self._prompt_ids(tokenizer, messages, {**DEFAULT_TEMPLATE_KWARGS, **(template_kwargs or {})})
        with self._lock, torch.inference_mode():
            if model is self._peft:
                if adapter is not None:
                    model.set_adapter(adapter)
                    return self._run(model, tokenizer, prompt, choices, max_tokens, temperature)
                with model.disable_adapter():
                    return self._run(model, tokenizer, prompt, choices, max_tokens, temperature)
            return self._run(model, tokenizer, prompt, choices, max_tokens, temperature)

    @staticmethod
    def _prompt_ids(tokenizer: Any, messages: Sequence[dict[str, Any]], kwargs: dict[str, Any]) -> list[int]:
        try:
            text = tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True,
                                                 **kwargs)
        except Exception as exc:  # noqa: BLE001 - a template error is the request's fault
            raise ServeError(400, f"the model's chat template cannot render these messages ({exc})",
                             param="messages") from None
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])

    def _run(self, model: Any, tokenizer: Any, prompt: list[int], choices: tuple[str, list[str]] | None,
             max_tokens: int | None, temperature: float | None) -> Answer:
        if choices is not None:
            return self._likeliest(model, tokenizer, prompt, *choices)
        return self._generate(model, tokenizer, prompt, max_tokens or self.options.max_tokens, temperature)

    def _generate(self, model: Any, tokenizer: Any, prompt: list[int], max_tokens: int,
                  temperature: float | None) -> Answer:
        import torch

        ids = torch.tensor([prompt], device=self.device)
        sample = bool(temperature)
        kwargs: dict[str, Any] = {"do_sample": sample, "max_new_tokens": max_tokens,
                                  "pad_token_id": tokenizer.pad_token_id or tokenizer.eos_token_id}
        if sample:
            kwargs["temperature"] = float(temperature or 1.0)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)  # greedy: no sampling knobs warned about
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kwargs)[0][len(prompt):].tolist()
        stops = _stop_ids(model, tokenizer)
        finish = "length"
        for index, token in enumerate(out):
            if token in stops:
                out, finish = out[: index + 1], "stop"
                break
        text = tokenizer.decode([t for t in out if t not in stops], skip_special_tokens=True)
        return Answer(text, len(prompt), len(out), finish)

    def _likeliest(self, model: Any, tokenizer: Any, prompt: list[int], field: str, values: list[str]) -> Answer:
        """Score `{"field": value}` + end of turn for every allowed value in one batch; return the likeliest."""
        import torch

        end = tokenizer.eos_token_id
        texts = [json.dumps({field: value}, ensure_ascii=False) for value in values]
        completions = [list(tokenizer(t, add_special_tokens=False)["input_ids"]) + ([end] if end is not None else [])
                       for t in texts]
        width = len(prompt) + max(len(c) for c in completions)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        rows = [prompt + c + [pad] * (width - len(prompt) - len(c)) for c in completions]
        mask = [[1] * (len(prompt) + len(c)) + [0] * (width - len(prompt) - len(c)) for c in completions]
        ids = torch.tensor(rows, device=self.device)
        logits = model(input_ids=ids, attention_mask=torch.tensor(mask, device=self.device)).logits.float()
        logprobs = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
        scores = [float(logprobs[i, len(prompt) - 1: len(prompt) - 1 + len(c)].sum())
                  for i, c in enumerate(completions)]
        best = max(range(len(values)), key=scores.__getitem__)
        return Answer(texts[best], len(prompt), len(completions[best]), "stop")


def _stop_ids(model: Any, tokenizer: Any) -> set[int]:
    stops = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    found = set(stops if isinstance(stops, list) else [stops] if stops is not None else [])
    if tokenizer.eos_token_id is not None:
        found.add(tokenizer.eos_token_id)
    return found

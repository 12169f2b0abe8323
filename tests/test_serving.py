"""The light server: a tiny model and a LoRA adapter made here, asked through the real `openai` SDK."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")
pytest.importorskip("peft")

import openai

from distill_tui.core.task.prompts import response_format
from distill_tui.serving import ServeOptions, start_server
from distill_tui.serving.models import LoadError
from tests.tiny_model import build_tiny_model

LABELS = ["pinot noir", "chardonnay", "merlot", "syrah"]
MESSAGES = [{"role": "system", "content": "answer with one label"},
            {"role": "user", "content": "a dry red wine with tannin from france"}]


def make_adapter(base: str, folder: str, seed: int = 1) -> str:
    """A LoRA adapter with random (non-zero) weights, so the adapter's answers differ from the base's."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base)
    config = LoraConfig(r=4, lora_alpha=64, target_modules="all-linear", init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("serve")
    base = str(build_tiny_model(root / "base"))
    adapter = make_adapter(base, str(root / "adapter"))
    second = make_adapter(base, str(root / "second"), seed=2)
    options = ServeOptions(base=base, adapters={"distilled": adapter, "second": second}, max_tokens=8)
    with start_server(options) as server:
        yield server, base, {"distilled": adapter, "second": second}


def likelihood(model_dir: str, adapter: str | None, label: str) -> float:
    """log P(the JSON answer + end of turn | prompt), computed here one sequence at a time."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    if adapter:
        model = PeftModel.from_pretrained(model, adapter)
    prompt = tok(tok.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True),
                 add_special_tokens=False)["input_ids"]
    answer = tok(json.dumps({"answer": label}), add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    ids = torch.tensor([prompt + answer])
    with torch.no_grad():
        logp = torch.log_softmax(model.eval()(input_ids=ids).logits[0, :-1], -1)
    return sum(float(logp[len(prompt) - 1 + i, t]) for i, t in enumerate(answer))


def test_both_names_answer_chat_completions_with_usage_from_the_tokenizer(served) -> None:
    from transformers import AutoTokenizer

    server, base, _ = served
    client = openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0)
    assert {m.id for m in client.models.list()} == {base, "distilled", "second"}
    tok = AutoTokenizer.from_pretrained(base)
    prompt_tokens = len(tok(tok.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True),
                            add_special_tokens=False)["input_ids"])
    texts = {}
    for name in (base, "distilled"):
        reply = client.chat.completions.create(model=name, messages=MESSAGES, max_completion_tokens=5)
        assert reply.model == name
        assert reply.usage.prompt_tokens == prompt_tokens
        assert reply.usage.total_tokens == prompt_tokens + reply.usage.completion_tokens
        assert 1 <= reply.usage.completion_tokens <= 5
        assert reply.choices[0].finish_reason in ("stop", "length")
        if reply.choices[0].finish_reason == "length":
            assert reply.usage.completion_tokens == 5
        texts[name] = reply.choices[0].message.content
    again = client.chat.completions.create(model=base, messages=MESSAGES, max_completion_tokens=5)
    assert again.choices[0].message.content == texts[base]  # greedy by default
    assert texts[base] != texts["distilled"]  # the adapter is applied for its name only


@pytest.mark.parametrize("adapter_name", [None, "distilled", "second"])
def test_an_enum_schema_gets_the_likeliest_label_as_valid_json(served, adapter_name: str | None) -> None:
    server, base, adapters = served
    client = openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0)
    reply = client.chat.completions.create(model=adapter_name or base, messages=MESSAGES,
                                           response_format=response_format("answer", LABELS))
    answer = json.loads(reply.choices[0].message.content)
    scores = {label: likelihood(base, adapters.get(adapter_name), label) for label in LABELS}
    assert answer == {"answer": max(scores, key=scores.get)}
    assert reply.choices[0].finish_reason == "stop"


def test_bad_requests_get_openai_errors(served) -> None:
    server, base, _ = served
    client = openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0)
    with pytest.raises(openai.NotFoundError, match="nope"):
        client.chat.completions.create(model="nope", messages=MESSAGES)
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {
        "type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}}}}
    with pytest.raises(openai.BadRequestError, match="vLLM"):
        client.chat.completions.create(model=base, messages=MESSAGES, response_format=schema)


def test_a_full_model_is_served_beside_the_base_without_adapters(tmp_path) -> None:
    """A merged (or fully fine-tuned) student is a model of its own, not an adapter."""
    base = str(build_tiny_model(tmp_path / "base"))
    merged = str(build_tiny_model(tmp_path / "merged", seed=3))
    with start_server(ServeOptions(base=base, adapters={merged: merged})) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0)
        for name in (base, merged):
            reply = client.chat.completions.create(model=name, messages=MESSAGES,
                                                   response_format=response_format("answer", LABELS))
            assert json.loads(reply.choices[0].message.content)["answer"] in LABELS


def test_a_folder_that_is_not_a_model_is_one_line(tmp_path) -> None:
    with pytest.raises(LoadError, match="not a model folder") as info:
        start_server(ServeOptions(base=str(tmp_path)))
    assert "\n" not in str(info.value)


def test_run_on_its_own_a_folder_that_is_not_a_model_is_one_line_and_exit_2(tmp_path, capsys) -> None:
    from distill_tui.serving.__main__ import main

    assert main([str(tmp_path), "--adapter", f"distilled={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("distill-tui serving: error: ") and "not a model folder" in err and err.count("\n") == 1


def test_a_template_that_can_think_is_rendered_with_thinking_off_unless_asked(tmp_path) -> None:
    """Like Qwen3's: the trained student's lines were rendered with an empty think block."""
    from transformers import AutoTokenizer

    from tests.tiny_model import CHAT_TEMPLATE

    base = build_tiny_model(tmp_path / "base")
    tok = AutoTokenizer.from_pretrained(base)
    tok.chat_template = CHAT_TEMPLATE.replace(
        "<|assistant|>\n{% endif %}", "<|assistant|>\n{% if enable_thinking is defined and not enable_thinking %}"
        "<|end|><|end|><|end|>{% endif %}{% endif %}")
    tok.save_pretrained(base)
    with start_server(ServeOptions(base=str(base))) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0)
        off = client.chat.completions.create(model=str(base), messages=MESSAGES, max_completion_tokens=1)
        on = client.chat.completions.create(model=str(base), messages=MESSAGES, max_completion_tokens=1,
                                            extra_body={"chat_template_kwargs": {"enable_thinking": True}})
    assert off.usage.prompt_tokens == on.usage.prompt_tokens + 3

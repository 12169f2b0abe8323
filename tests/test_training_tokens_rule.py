"""What a fine-tuning job bills as trained tokens: the messages of each example, no reply priming.

The estimate (core/cost/tokens.py), the export report (core/curate/validate.py) and the offline
provider's own bill (offline/billing.py) must give the same figure, pinned here by hand: the issue-13
question was whether to add the cookbook data-prep notebook's 3 reply-priming tokens per example
(source of the decision: tokens.TRAINING_REPLY_PRIMING).
"""

from __future__ import annotations

import io
import json
import time

from distill_tui.core.cost import tokens
from distill_tui.core.curate.validate import validate_examples
from distill_tui.offline import billing
from tests.conftest_offline import client_for, running

MODEL = "gpt-4o-mini"
# The example of amitness.com/notes/openai-finetuning-cost, where the count matched the dashboard.
LINE = [
    {"role": "system", "content": "Classify text as positive or negative"},  # 7 tokens (o200k)
    {"role": "user", "content": "cool"},  # 1
    {"role": "assistant", "content": "positive"},  # 1
]
# 3 messages × (3 framing + 1 role token) + 7 + 1 + 1 content tokens; no priming.
PER_EXAMPLE = 21


def test_one_example_bills_its_messages_and_no_reply_priming():
    assert tokens.TRAINING_REPLY_PRIMING == 0
    assert tokens.count_training_line(LINE, MODEL) == PER_EXAMPLE
    assert billing.training_tokens(LINE, MODEL) == PER_EXAMPLE
    # The same messages sent as a request awaiting a reply are primed: 3 more.
    assert tokens.count_chat(LINE, MODEL) == PER_EXAMPLE + 3
    assert billing.prompt_tokens(LINE, MODEL) == PER_EXAMPLE + 3


def test_export_report_and_offline_job_bill_the_same_trained_tokens():
    lines = [{"messages": [LINE[0], {"role": "user", "content": f"cool {i}"},
                           {"role": "assistant", "content": ("positive", "negative")[i % 2]}]} for i in range(12)]
    per_example = [tokens.count_training_line(x["messages"], "offline-student") for x in lines]
    assert set(per_example) == {23}  # "cool 0": 3 tokens ("cool", " ", "0"); "negative": 1
    report = validate_examples(lines, model="offline-student", token_limit=65_536)
    assert report.billed_tokens == sum(per_example) == 12 * 23
    with running() as server:
        sdk = client_for(server)
        text = "\n".join(json.dumps(x) for x in lines).encode()
        uploaded = sdk.files.create(file=("t.jsonl", io.BytesIO(text)), purpose="fine-tune")
        job = sdk.fine_tuning.jobs.create(model="offline-student", training_file=uploaded.id,
                                          method={"type": "supervised",
                                                  "supervised": {"hyperparameters": {"n_epochs": 2}}})
        deadline = time.monotonic() + 60
        while job.status not in ("succeeded", "failed", "cancelled") and time.monotonic() < deadline:
            time.sleep(0.05)
            job = sdk.fine_tuning.jobs.retrieve(job.id)
    assert job.status == "succeeded", job.error
    assert job.trained_tokens == 2 * 12 * 23

"""The Generate screen's `s` and `r` keys: start at once when the run is small beside the budget,
otherwise ask first with what it should cost (`b` always asks; `f` is the 20-row check and never does).

A mixin of `GenerateScreen`, which supplies `running`, `plan`, `workspace`, `go_with_edits` and
`_launch`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from distill_tui.core.run import progress_text as fmt
from distill_tui.tui.widgets.confirm_dialog import ConfirmDialog

if TYPE_CHECKING:
    from distill_tui.core.run.plan import Plan

ASK_ABOVE_SHARE = 0.5
"""With `budget_usd` set, a run whose estimate is above this share of the budget left asks first:
the budget would stop it, but a run that may take most of what is left deserves a look first."""


def spend_question(plan: "Plan | None", budget_usd: float | None, *,
                   only_failed: bool = False) -> tuple[str, str] | None:
    """The title and text of the question to ask before a run, or None to start at once.

    Args:
        plan: the screen's current plan (None while it is being counted).
        budget_usd: the spec's `[generation] budget_usd`.
        only_failed: the run asks only the failed rows (`r`), not every row left (`s`).

    A plan whose requests the provider would all refuse (`Plan.refused`) always asks, saying so.
    """
    question = _spend_question(plan, budget_usd, only_failed)
    if plan is None or not plan.refused or not (plan.failed if only_failed else plan.to_ask):
        return question
    # The provider would refuse every request (the run ends at the first ones): asked even when the
    # spend alone would not be, and said beside the estimate when it is.
    title, body = question or ("Start a run the provider would refuse?", "")
    warnings = "\n".join(f"⚠ {line}" for line in plan.refused)
    return title, f"{body}\n\n{warnings}".strip()


def _spend_question(plan: "Plan | None", budget_usd: float | None, only_failed: bool) -> tuple[str, str] | None:
    if plan is not None:
        rows = plan.failed if only_failed else plan.to_ask
        if rows == 0:
            return None
        cost = None if plan.cost_usd is None else plan.cost_usd * rows / plan.to_ask
        spent = plan.spent_usd
    else:
        rows, cost, spent = None, None, 0.0
    what = "the rows left" if rows is None else f"the {rows:,} {'failed ' if only_failed else ''}rows"
    if budget_usd is None:
        if plan is None:
            estimate = "Its cost is still being estimated."
        elif cost is None:
            estimate = f"The price of {plan.model} is unknown, so its cost cannot be estimated."
        else:
            estimate = f"Estimated cost of {what}: {fmt.money(cost)} (spent so far {fmt.money(spent)})."
        return ("Start without a budget?",
                f"{estimate} No budget_usd is set in [generation], so nothing stops this run before every "
                f"row is asked. With a budget, s asks only when a run would take more than "
                f"{ASK_ABOVE_SHARE:.0%} of what is left of it.")
    if cost is None:
        return None  # unknown price under a budget: the run itself refuses, with the reason
    left = max(0.0, budget_usd - spent)
    if cost <= ASK_ABOVE_SHARE * left:
        return None
    return ("Spend most of the budget left?",
            f"Estimated cost of {what}: {fmt.money(cost)}, more than {ASK_ABOVE_SHARE:.0%} of the budget left "
            f"({fmt.money(left)} of {fmt.money(budget_usd)}). The run stops before it would pass the budget; "
            "answers saved until then are kept.")


class SpendConfirm:
    """`s` and `r`, asking first when `spend_question` has a question; `f` asks only about edits."""

    def action_start(self) -> None:
        self._ask_then_start()

    def action_retry_failed(self) -> None:
        self._ask_then_start(only_failed=True)

    def _start(self, **options: object) -> None:
        """Start without the spend question (`f`), asking only about unsaved edits."""
        if self.running:
            return
        if not self.provider_ready():
            self._launch(options)  # says "no API key…" at once, before any question
            return
        self.go_with_edits("starting the run", lambda: self._launch(options))

    def _ask_then_start(self, **options: object) -> None:
        """Ask about unsaved edits first (the run uses them), then about the spend, then start."""
        if self.running:
            return
        if not self.provider_ready():
            # Started at once to say why in its status line: asking to save edits, or to spend $72,
            # before a run that cannot send a request misleads.
            self._launch(options)
            return
        self.go_with_edits("starting the run", lambda: self._ask_spend(options))

    def _ask_spend(self, options: dict) -> None:
        if self.running:
            return
        question = spend_question(self.plan, self.workspace.spec.generation.budget_usd,
                                  only_failed=bool(options.get("only_failed")))
        if question is None:
            self._launch(options)
            return

        def answered(yes: bool | None) -> None:
            if yes and not self.running:
                self._launch(options)

        title, body = question
        self.app.push_screen(ConfirmDialog(title, body, yes="Start"), answered)

    def provider_ready(self) -> bool:
        """Whether a client of the spec's provider can be made (a key is set, the URL is usable);
        `s`, `r` and `b` skip their questions when not, so the refusal is the first thing said."""
        from distill_tui.core.common.errors import UserError
        from distill_tui.core.provider.clients import is_offline, make_client

        base_url = self.workspace.base_url
        if is_offline(self.workspace.spec, base_url):
            return True  # needs no key, and making its client would start it here, on the UI thread
        try:
            make_client(self.workspace.spec, base_url=base_url)
        except UserError:
            return False
        return True

"""What the Jobs screen's workers post: a followed job's update (coalesced per job), the job list, a
plan ready to confirm, a job to select, and work that failed. Workers never touch widgets."""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.message import Message

from distill_tui.core.store.jobs import JobRecord
from distill_tui.core.train.plan import JobPlan


@dataclass
class JobUpdated(Message):
    """A followed job changed (already saved in the store); pending updates of a job coalesce."""

    job_id: str
    record: JobRecord
    note: str | None = None

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, JobUpdated) and message.job_id == self.job_id


@dataclass
class JobsListed(Message):
    """The store's jobs (updated from the provider's list) and the provider's others."""

    local: list[JobRecord]
    remote: list[JobRecord] = field(default_factory=list)
    note: str | None = None


@dataclass
class PlanReady(Message):
    plan: JobPlan


@dataclass
class JobReady(Message):
    """A job was created, attached, paused, resumed or cancelled: select it (and follow it while it runs)."""

    record: JobRecord


@dataclass
class JobWorkFailed(Message):
    error: Exception
    action: str

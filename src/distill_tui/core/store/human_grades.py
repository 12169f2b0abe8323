"""Grades given by a person to held-out answers, to calibrate graders and judges. `Store` mixes this in.

A grade is keyed by the answer it was given to, (model, row, prompt hash), as an edit is: a changed
prompt makes a new answer, ungraded. It is pass/fail (1 or 0) or a score from 1 to 5; who gave it and
when are kept with it. The `answers` table is never changed.
"""

from __future__ import annotations

import getpass
import time
from dataclasses import asdict, dataclass
from typing import Any

HUMAN_GRADES_SCHEMA = """
CREATE TABLE IF NOT EXISTS human_grades (
    model TEXT NOT NULL,
    row_id INTEGER NOT NULL,
    prompt_hash TEXT NOT NULL,
    scale TEXT NOT NULL,
    grade INTEGER NOT NULL,
    grader TEXT NOT NULL,
    graded_at REAL NOT NULL,
    PRIMARY KEY (model, row_id, prompt_hash)
);
"""

PASS_FAIL, SCORE = "pass_fail", "1-5"
"""A person's scales: pass (1) or fail (0), or a score from 1 (worst) to 5 (best)."""
RANGES = {PASS_FAIL: (0, 1), SCORE: (1, 5)}

Key = tuple[str, int, str]
"""(model, row_id, prompt_hash): the answer a grade was given to."""


def who() -> str:
    """The person grading: the login name (the app runs in their terminal), 'unknown' when there is none."""
    try:
        return getpass.getuser() or "unknown"
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "unknown"


@dataclass(frozen=True)
class HumanGrade:
    """One person's grade of one answer."""

    model: str
    row_id: int
    prompt_hash: str
    scale: str  # PASS_FAIL or SCORE
    grade: int  # 0/1 for PASS_FAIL, 1..5 for SCORE
    grader: str = ""
    graded_at: float = 0.0

    def __post_init__(self) -> None:
        low, high = RANGES.get(self.scale, (None, None))
        if low is None or not isinstance(self.grade, int) or not low <= self.grade <= high:  # type: ignore[operator]
            raise ValueError(f"a {self.scale} grade must be an integer in {RANGES.get(self.scale)}, not {self.grade!r}")

    @property
    def key(self) -> Key:
        return (self.model, self.row_id, self.prompt_hash)

    @property
    def shown(self) -> str:
        """'pass', 'fail' or '4/5'."""
        if self.scale == PASS_FAIL:
            return "pass" if self.grade else "fail"
        return f"{self.grade}/5"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


_COLUMNS = ("model", "row_id", "prompt_hash", "scale", "grade", "grader", "graded_at")


class HumanGradeStore:
    """The `human_grades` table of `Store` (needs its `execute`, `transaction` and `tables`)."""

    def save_human_grade(self, grade: HumanGrade) -> HumanGrade:
        """Insert or replace the grade of an answer (now and by the login name unless given); returns it."""
        saved = HumanGrade(grade.model, grade.row_id, grade.prompt_hash, grade.scale, grade.grade,
                           grade.grader or who(), grade.graded_at or time.time())
        with self.transaction():  # type: ignore[attr-defined]
            self.execute(  # type: ignore[attr-defined]
                f"INSERT OR REPLACE INTO human_grades ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                tuple(getattr(saved, c) for c in _COLUMNS))
        return saved

    def drop_human_grade(self, key: Key) -> None:
        """Forget the grade of an answer (nothing happens when it has none)."""
        with self.transaction():  # type: ignore[attr-defined]
            self.execute("DELETE FROM human_grades WHERE model=? AND row_id=? AND prompt_hash=?", key)  # type: ignore[attr-defined]

    def human_grades(self) -> dict[Key, HumanGrade]:
        """Every grade by the answer it was given to (none in an older workspace opened read-only)."""
        if not self.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='human_grades'"):  # type: ignore[attr-defined]
            return {}
        rows = self.execute(f"SELECT {', '.join(_COLUMNS)} FROM human_grades ORDER BY graded_at, model, row_id")  # type: ignore[attr-defined]
        out = {}
        for r in rows:
            grade = HumanGrade(r[0], int(r[1]), r[2], r[3], int(r[4]), r[5], float(r[6]))
            out[grade.key] = grade
        return out

"""The offline models learn: measured accuracies on the demo task, through the real SDK.

Teacher and base student answer the demo spec's prompts for the French rows (min 5 per label);
the student is fine-tuned on the teacher's answers for a seeded random 70 % and all three are
scored on the other 30 %. `assets/measure_offline_models.py` prints the same numbers.
"""

from __future__ import annotations

from distill_tui.offline.measure import measure
from tests.conftest_offline import running


def test_teacher_beats_student_and_distillation_recovers_most_of_the_gap():
    with running(job_seconds=0.5) as server:
        result = measure(server.base_url)
    print(result.table())
    assert result.rows > 1000 and len(result.labels) >= 8
    assert 0.75 <= result.teacher <= 0.95
    assert 0.35 <= result.student <= 0.65
    assert result.teacher - result.student >= 0.2
    assert result.recovered >= 0.5
    assert result.distilled < result.teacher + 0.05  # the student learns the teacher, it does not beat it
    assert abs(result.teacher_train - result.teacher) < 0.08

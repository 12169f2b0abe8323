"""`estimate` on ~130k rows against a plain `encode_ordinary` loop over the varying prompt text.

Target (DESIGN.md): the whole token count of every stage's prompts at most 1.5x the time of encoding
only the varying text. Both are measured here, in one process, best of 3.

    python benchmarks/bench_estimate.py [ROWS]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import best_of, build_rows, write_spec  # noqa: E402


def measure(rows: int, unique_text: bool) -> None:
    from distill_tui.core.cost import pricing, tokens
    from distill_tui.core.cost.estimate import build_estimate
    from distill_tui.core.task import dataset, prompts
    from distill_tui.core.task.spec import load_spec

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        spec = load_spec(write_spec(folder, build_rows(folder / "rows.csv", rows, unique_text)))
        data = dataset.prepare(spec)
        prices = pricing.load_prices()
        enc = tokens.get_encoding("o200k_base")
        fields = sorted(set(prompts.placeholders(spec.prompt.user)) - {"labels"})
        varying = [
            " ".join(prompts.format_value(v) for v in values)
            for values in data.frame[fields].itertuples(index=False, name=None)
        ]

        def baseline() -> None:
            encode = enc.encode_ordinary
            for text in varying:
                len(encode(text))

        def ours() -> None:
            build_estimate(spec, data, prices)

        build_estimate(spec, data, prices)  # warm the encoders
        base = best_of(3, baseline)
        mine = best_of(3, ours)
        full = best_of(1, lambda: build_estimate(spec, dataset.prepare(load_spec(spec.source)), prices))
    kind = "every description unique" if unique_text else "real rows cycled (descriptions repeat)"
    print(f"rows: {len(data.frame):,}, {kind}; every stage's prompts counted exactly")
    print(f"baseline, encode_ordinary over the varying text only: {base:.2f} s")
    print(f"build_estimate (all stages, exact):                    {mine:.2f} s")
    print(f"ratio: {mine / base:.2f}x  (target <= 1.5x)")
    print(f"with load + filter + split from disk:                   {full:.2f} s ({full / base:.2f}x)")


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 129_971
    measure(rows, unique_text=True)
    print()
    measure(rows, unique_text=False)


if __name__ == "__main__":
    main()

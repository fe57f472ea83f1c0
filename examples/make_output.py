"""Regenerate the README's example output: ``smm-bench compare`` on its defaults.

    python examples/make_output.py

Runs ``smm-bench compare --out examples/output --force`` (the bundled ``smm_ps_mini``, every
default optimiser, 300 evaluations x 5 seeds) and pastes the new ``examples/output/table.md``
into README.md between the ``compare`` markers. Why a command: the README shows a real run's
table and plot, and a retrained scenario or a changed optimiser must not leave an old run on the
front page; ``tests/test_readme.py`` checks that the block is this folder's table and that the
folder's results are what the current code computes.
"""
from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUTPUT = REPO / "examples" / "output"
README = REPO / "README.md"
BEGIN = "<!-- compare:begin (examples/output/table.md) -->"
END = "<!-- compare:end -->"


def main() -> int:
    from smm_bench_plugin.cli import main as smm_bench
    from smm_bench_plugin.docblocks import replace_block

    status = smm_bench(["compare", "--out", str(OUTPUT), "--force"])
    if status:
        return status
    replace_block(README, BEGIN, END, (OUTPUT / "table.md").read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""docs/performance.md's tables are the last ``python -m bench`` output, pasted by the command."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench import report

REPO = Path(__file__).resolve().parent.parent


def _block(text: str) -> str:
    begin = text.index("\n", text.index(report.README_BEGIN)) + 1
    return text[begin:text.index(report.README_END)]


def test_readme_block_is_the_recorded_bench_run():
    results = sorted((REPO / "bench" / "results").glob("*.md"))
    assert results, "no recorded bench run in bench/results"
    block = _block((REPO / "docs" / "performance.md").read_text())
    assert block.strip() in {r.read_text().strip() for r in results}, \
        "docs/performance.md's bench block differs from bench/results/*.md: rerun `python -m bench --doc docs/performance.md`"


def test_update_readme_replaces_only_the_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.README_BEGIN} note -->\nold table\n{report.README_END}\nreading\n")
    report.update_readme(readme, "| new | table |\n")
    assert readme.read_text() == f"intro\n{report.README_BEGIN} note -->\n| new | table |\n{report.README_END}\nreading\n"
    readme.write_text("no markers here\n")
    with pytest.raises(ValueError, match="bench:begin"):
        report.update_readme(readme, "x")

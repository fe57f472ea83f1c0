"""Generated blocks in Markdown documents: text between two marker comments, rewritten by the
command that computes it.

Why: every figure in the README and docs/ comes from a command; the command pastes its own
output between its markers, and a test compares the block with what the command prints, so a
document cannot keep a figure the code no longer produces.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["replace_block"]


def replace_block(document: Path, begin: str, end: str, block: str) -> None:
    """Rewrite ``document`` between the lines ``begin`` and ``end``; refuses one without them."""
    text = document.read_text(encoding="utf-8")
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise ValueError(f"{document} has no '{begin} ... {end}' block to rewrite")
    head = start + len(begin)
    document.write_text(text[:head] + "\n" + block.strip() + "\n" + text[stop:], encoding="utf-8")

"""Reading the files a scenario, an import or a command line is made of.

Every file is opened the same way: only a regular file is read (a FIFO would block forever,
a link to ``/dev/zero`` would never end), its size is bounded before a byte is read, text
must be UTF-8, and every failure names the file. JSON is parsed with two more bounds: a
number literal longer than any float (``1e308`` has 309 digits) is read as the float it
denotes (``inf``) instead of tripping Python's 4,300-digit integer limit, so the value is
refused later by the check that names its parameter; nesting too deep for the parser is a
``ValueError`` naming the source, not a ``RecursionError``.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["NotRegularFileError", "MAX_JSON_BYTES", "MAX_ONNX_BYTES", "MAX_MODEL_TEXT_BYTES", "read_bytes", "sha256_of", "read_text",
           "read_json", "parse_json"]

#: Scenario JSON files (a 95-hyperparameter space is ~15 KB, meta.json ~25 KB).
MAX_JSON_BYTES = 64 << 20
#: An ONNX model is one protobuf message, which cannot exceed 2 GiB.
MAX_ONNX_BYTES = (2 << 30) - 1
#: The authors' LightGBM files (a paper-sized CV ensemble is a few hundred MB of text).
MAX_MODEL_TEXT_BYTES = 4 << 30

#: Longest integer literal read as an int: anything longer is beyond every float bound.
_MAX_INT_DIGITS = 400

class NotRegularFileError(ValueError):
    """The path is a directory, FIFO, device or socket: reading it could block or never end."""


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _describe(mode: int) -> str:
    return next((what for test, what in _KINDS if test(mode)), "not a regular file")


def _chunks(path: str | os.PathLike, limit: int) -> Iterator[bytes]:
    """The contents of regular file ``path`` (symbolic links followed), at most ``limit`` bytes, in chunks.

    Opened non-blocking so that a FIFO is seen (and refused) instead of waiting for a writer;
    the type and size are checked on the opened descriptor, so what is read is what was checked.
    """
    path = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFileError(f"{path}: is {_describe(st.st_mode)}, not a regular file")
        if st.st_size > limit:
            raise ValueError(f"{path}: {st.st_size:,} bytes, more than the {limit:,} allowed for this file")
        size = 0
        while chunk := os.read(fd, min(1 << 20, limit + 1 - size)):
            size += len(chunk)
            if size > limit:  # grew while being read
                raise ValueError(f"{path}: more than the {limit:,} bytes allowed for this file")
            yield chunk
    finally:
        os.close(fd)


def read_bytes(path: str | os.PathLike, limit: int) -> bytes:
    """The bytes of regular file ``path``, at most ``limit`` of them."""
    return b"".join(_chunks(path, limit))


def sha256_of(path: str | os.PathLike, limit: int) -> str:
    """The sha256 of regular file ``path`` (at most ``limit`` bytes), read in 1 MiB chunks."""
    h = hashlib.sha256()
    for chunk in _chunks(path, limit):
        h.update(chunk)
    return h.hexdigest()


def read_text(path: str | os.PathLike, limit: int) -> str:
    """A regular UTF-8 text file; a byte that is not UTF-8 is an error naming the file and offset."""
    data = read_bytes(path, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})") from None


def _int_or_float(literal: str) -> int | float:
    return int(literal) if len(literal) <= _MAX_INT_DIGITS else float(literal)


def parse_json(text: str | bytes, source: str) -> Any:
    """``json.loads`` whose every failure is a ``ValueError`` starting with ``source``."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"{source}: not UTF-8 text (byte 0x{text[e.start]:02x} at offset {e.start})") from None
    try:
        return json.loads(text, parse_int=_int_or_float)
    except json.JSONDecodeError as e:
        raise ValueError(f"{source}: invalid JSON ({e})") from None
    except RecursionError:
        raise ValueError(f"{source}: JSON nested too deeply to parse") from None


def read_json(path: str | os.PathLike, limit: int = MAX_JSON_BYTES) -> Any:
    """A regular UTF-8 JSON file, parsed as :func:`parse_json` does."""
    return parse_json(read_text(path, limit), str(path))

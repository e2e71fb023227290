"""Threshold calibration: the printed threshold sends the requested share."""

from __future__ import annotations

import pytest

from hybridllm.learned.calibrate import calibrate_threshold


@pytest.mark.parametrize("share", [0.0, 0.1, 0.25, 0.5, 0.8, 1.0])
def test_threshold_sends_the_requested_share(share: float) -> None:
    scores = [i / 200 + 0.001 for i in range(200)]
    cal = calibrate_threshold(scores, share)
    assert cal.achieved_share == pytest.approx(share)
    assert sum(s > cal.threshold for s in scores) == round(share * 200)
    assert cal.rule_snippet() == f'when: {{difficulty: ">{cal.text}"}}'


def test_threshold_is_a_short_decimal() -> None:
    cal = calibrate_threshold([0.1, 0.2, 0.65, 0.9], 0.5)
    assert cal.text == "0.2"  # "> 0.2" leaves 0.2 itself on the cheap side
    assert cal.achieved_share == 0.5


def test_ties_at_the_cut_go_to_the_cheap_side() -> None:
    cal = calibrate_threshold([0.9, 0.5, 0.5, 0.5, 0.1], 0.4)
    assert cal.achieved_share == pytest.approx(0.2)


def test_bad_share_and_empty_sample_are_errors() -> None:
    with pytest.raises(ValueError):
        calibrate_threshold([0.5], 1.5)
    with pytest.raises(ValueError):
        calibrate_threshold([], 0.5)

"""APGR and CPT on small examples computed by hand."""

from __future__ import annotations

import random

import pytest

from hybridllm.learned.metrics import apgr, cpt, evaluate_scores, pgr_curve, random_baseline

# gains (strong - weak): [1, 0, 0, 1]; total gain 2
STRONG = [1.0, 1.0, 0.0, 1.0]
WEAK = [0.0, 1.0, 0.0, 0.0]


def test_curve_corners_follow_the_score_order() -> None:
    points = pgr_curve([4.0, 3.0, 2.0, 1.0], STRONG, WEAK)
    assert points == [(0.0, 0.0), (0.25, 0.5), (0.5, 0.5), (0.75, 0.5), (1.0, 1.0)]


def test_apgr_and_cpt_by_hand() -> None:
    # trapezoids: .25*.25 + .25*.5 + .25*.5 + .25*.75 = .0625 + .125 + .125 + .1875
    m = evaluate_scores([4.0, 3.0, 2.0, 1.0], STRONG, WEAK)
    assert m.apgr == pytest.approx(0.5)
    assert m.cpt50 == pytest.approx(0.25)
    # 80% lies on the last segment, from (.75, .5) to (1, 1): .75 + .25 * .3 / .5
    assert m.cpt80 == pytest.approx(0.9)
    assert m.n == 4


def test_ties_take_the_expected_order_so_a_constant_router_is_random() -> None:
    m = evaluate_scores([0.3] * 4, STRONG, WEAK)
    assert m.apgr == pytest.approx(0.5)
    assert m.cpt50 == pytest.approx(0.5)
    assert m.cpt80 == pytest.approx(0.8)


def test_perfect_router_recovers_the_whole_gap_at_the_share_of_helped_prompts() -> None:
    # The oracle scores by gain: both helped prompts first, so PGR is 1 from a share of 1/2 on.
    points = pgr_curve([1.0, 0.0, 0.0, 1.0], STRONG, WEAK)
    assert points[1] == (0.5, 1.0)
    assert apgr(points) == pytest.approx(0.75)  # 1 - (share of helped prompts) / 2
    assert cpt(points, 0.8) == pytest.approx(0.4)


def test_perfect_router_is_one_when_few_prompts_carry_the_gap() -> None:
    n = 1000
    strong = [1.0] + [0.0] * (n - 1)
    weak = [0.0] * n
    m = evaluate_scores(strong, strong, weak)  # the oracle's score is the gain itself
    assert m.apgr == pytest.approx(1.0, abs=1e-3)
    assert m.cpt80 == pytest.approx(0.0008)


def test_worst_router_is_below_random() -> None:
    m = evaluate_scores([1.0, 4.0, 3.0, 2.0], STRONG, WEAK)  # helped prompts last
    assert m.apgr < 0.5


def test_random_order_on_a_shuffled_list_is_close_to_one_half() -> None:
    rng = random.Random(7)
    strong = [float(rng.random() < 0.8) for _ in range(4000)]
    weak = [float(rng.random() < 0.6) for _ in range(4000)]
    scores = [rng.random() for _ in strong]
    assert evaluate_scores(scores, strong, weak).apgr == pytest.approx(0.5, abs=0.05)
    baseline = random_baseline(strong, weak, rounds=20)
    assert baseline.apgr == pytest.approx(0.5, abs=0.02)
    assert baseline.cpt50 == pytest.approx(0.5, abs=0.05)


def test_judge_scores_work_like_correctness() -> None:
    m = evaluate_scores([3.0, 2.0, 1.0], [10.0, 9.0, 9.0], [4.0, 9.0, 9.0])
    assert m.apgr == pytest.approx(1 - 1 / 6)
    assert m.cpt50 == pytest.approx(1 / 6)


def test_no_gap_or_bad_input_is_an_error() -> None:
    with pytest.raises(ValueError, match="not better"):
        evaluate_scores([1.0, 2.0], [1.0, 0.0], [1.0, 0.0])
    with pytest.raises(ValueError, match="equal length"):
        evaluate_scores([1.0], [1.0, 0.0], [0.0, 0.0])

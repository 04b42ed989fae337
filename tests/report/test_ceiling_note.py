"""The leaderboard's caption names the columns on which some variant scores better than real data (the ceiling):
the main job's ring8 gave ns-r1 a w2 of 0.180 and wgan-gp 0.193 against real data's 0.2005 (real samples against
the same reference set), with nothing said, so the column read as a ranking where it measures the estimate's error
at this sample count."""

from jinja2 import Environment

from ganbench.report.sections import leaderboard
from ganbench.report.template import SECTIONS
from ganbench.study.calibration import REAL

from .test_view import GAUSS, HQ_CAL, UNIFORM, _study


def _html(board) -> str:
    return " ".join(Environment(autoescape=True).from_string(SECTIONS["leaderboard"]).render(s=board).split())


def test_a_column_where_variants_beat_real_data_says_it_cannot_tell_them_from_real_data():
    values = {"good": {"high_quality": [0.4, 0.45, 0.5], "w2": [0.18, 0.17, 0.19]},
              "fair": {"high_quality": [0.3, 0.35, 0.32], "w2": [0.19, 0.2, 0.2]},
              "poor": {"high_quality": [0.2, 0.25, 0.22], "w2": [0.3, 0.35, 0.32]}}
    cal = {"w2": {REAL: 0.2, GAUSS: 0.5, UNIFORM: 0.4}, **HQ_CAL}
    board = leaderboard(_study(values, cal, "high_quality"))
    # real data's w2 is 0.2, 0.201, 0.202 on its three seeds (mean 0.201): good (0.18) and fair (0.1967) beat it
    assert board["beyond"] == [("w2", ["fair", "good"])]
    assert ("fair, good score better than real data on w2 (by the mean): real samples are as good as a generator "
            "can be, so that column cannot tell them from real data at this sample count.") in _html(board)
    cal["w2"][REAL] = 0.1  # now every variant is worse than real data: nothing to say
    board = leaderboard(_study(values, cal, "high_quality"))
    assert board["beyond"] == [] and "better than real data" not in _html(board)


"""The protocol table's sampling column for reference rows: the trivial generators draw the protocol's n samples
per study seed; real data is drawn from its held-out split, and a split with fewer rows than n is used whole, the
same rows on every seed (digits' test split: 360 of 1000), so the table must not say it was drawn per seed."""

from ganbench.report.html import _protocols
from ganbench.study.calibration import REAL, TRIVIAL


def _row(row: str, checkpoint: str, n_fake: int, seed: int) -> dict:
    return {"dataset": "digits", "row": row, "checkpoint": checkpoint, "seed": seed, "metric": "fid", "value": 1.0,
            "protocol": {"split": "train" if checkpoint == "final" else "test", "n_real": 1000, "n_fake": n_fake,
                         "extractor": "lenet"}}


def test_a_held_out_split_smaller_than_n_is_used_whole_and_said_so():
    calibration = [_row(name, ckpt, 360 if (name == REAL and ckpt == "final") else 1000, seed)
                   for ckpt in ("final", "best") for name in (REAL, *TRIVIAL) for seed in (0, 1, 2)]
    table = {(p["role"]): p["sampling"] for p in _protocols([], calibration)}
    assert table[f"{REAL} (final protocol)"] == "the whole held-out split (360 rows), the same on every seed"
    assert table[f"{REAL} (best protocol)"] == "one draw per study seed"  # a split of n rows or more: drawn
    assert all(table[f"{name} ({c} protocol)"] == "one draw per study seed" for name in TRIVIAL for c in ("final", "best"))

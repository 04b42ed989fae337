"""The protocol's evaluation-noise note and the leaderboard's units line, on hand-made numbers (test_view's
study builder): collapsed runs are left out of the noise, and feature units name their features."""

from .test_view import HQ_CAL, _study


def test_collapsed_runs_are_left_out_of_the_evaluation_noise():
    from ganbench.report.html import _protocol_notes

    # "dead" s2 collapsed (0 high-quality samples, twice); the others' repeats differ by 0.01 and 0.02
    values = {"good": {"high_quality": [0.4, 0.45, 0.5]}, "dead": {"high_quality": [0.3, 0.2, 0.0]}}
    repeat = {"good": {"high_quality": [0.41, 0.43, 0.51]}, "dead": {"high_quality": [0.31, 0.18, 0.0]}}
    view = _study(values, HQ_CAL, "high_quality", repeat=repeat)
    assert view.collapsed == {"grid25__dead__s2": "no high-quality sample"}
    d2 = [0.01 ** 2, 0.02 ** 2, 0.01 ** 2, 0.01 ** 2, 0.02 ** 2]
    assert abs(view.noise - (sum(d2) / 5 / 2) ** 0.5) < 1e-12  # 5 runs pooled, not 6 (6 gives 0.0112)
    note = next(n for n in _protocol_notes([view], view.runs, view.evals) if "evaluation noise" in n)
    assert "pooled over the 5 final checkpoints" in note and "1 collapsed run left out" in note


def test_feature_units_name_the_features():
    # ring8's "squared feature units" are squared coordinates (the points extractor); digits' are LeNet's
    from ganbench.report.sections import _units

    evals = [{"metric": m, "protocol": {"extractor": x}} for m in ("fid", "kid_mean") for x in ("points",)]
    evals.append({"metric": "reverse_kl", "protocol": {"extractor": "lenet"}})  # not a feature unit: not named
    assert _units(["fid", "reverse_kl"], evals) == (
        "fid in squared feature units (features: points, the samples' own coordinates (vector data)); "
        "reverse_kl in nats")


def test_a_weights_precise_extractor_identity_is_named_by_its_family():
    # digits' protocol names "lenet-digits-v1-<hash>-w<hash>": the units line printed that string
    from ganbench.report.sections import _units

    evals = [{"metric": "fid", "protocol": {"extractor": "lenet-digits-v1-fe43194c4b145d5b-wb3ab0321349a"}},
             {"metric": "fid", "protocol": {"extractor": "stacked-lenet-mnist-v1-0123"}}]  # one family
    assert _units(["fid"], evals) == ("fid in squared feature units (features: lenet, penultimate layer + logits of "
                                      "a LeNet ganbench trains on the dataset (fast))")



def test_kid_is_not_in_squared_feature_units():
    # FID scales with the features' square (twice the features: 4x the FID); KID's cubic kernel (x.y/d + 1)^3
    # has no such scaling (its +1 mixes powers 0 to 3 of x.y), so "fid, kid_mean in squared feature units" was
    # wrong for kid_mean: it is in the kernel's units
    import numpy as np

    from ganbench.metrics.declare import info
    from ganbench.metrics.frechet import fit_gaussian, frechet_distance
    from ganbench.metrics.kid import kid
    from ganbench.report.sections import _units

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 4)), rng.normal(0.5, 1.2, size=(200, 4))
    fid = [frechet_distance(fit_gaussian(c * x), fit_gaussian(c * y)) for c in (1, 2)]
    kids = [kid(c * x, c * y, subset_size=200)["kid_mean"] for c in (1, 2)]
    assert abs(fid[1] / fid[0] - 4) < 1e-9 and abs(kids[1] / kids[0] - 4) > 1
    assert info("fid").unit == "squared feature units" and "squared" not in info("kid_mean").unit
    evals = [{"metric": m, "protocol": {"extractor": "points"}} for m in ("fid", "kid_mean")]
    # the features are said once for neighbouring columns in the same features, not after each
    assert _units(["fid", "kid_mean"], evals) == (
        "fid in squared feature units, kid_mean in units of the cubic kernel of the features (features: points, the "
        "samples' own coordinates (vector data))")
    evals = [{"metric": "fid", "protocol": {"extractor": "points"}},
             {"metric": "kid_mean", "protocol": {"extractor": "lenet-digits-v1-abc"}}]
    assert _units(["fid", "kid_mean"], evals) == (  # other features: each says its own
        "fid in squared feature units (features: points, the samples' own coordinates (vector data)); kid_mean in "
        "units of the cubic kernel of the features (features: lenet, penultimate layer + logits of a LeNet ganbench "
        "trains on the dataset (fast))")

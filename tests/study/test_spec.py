from pathlib import Path

import pytest

from ganbench.errors import UserError
from ganbench.study.spec import StudySpec, expand, load_spec


def test_grid_times_variants_times_datasets_times_seeds():
    spec = StudySpec(
        name="t", base={"steps": 10, "batch_size": 16},
        datasets=["ring8", {"data": "digits", "generator": "dcgan", "discriminator": "dcgan"}],
        grid={"loss": ["ns", "hinge"], "discriminator.norm": ["none", "spectral"]},
        variants={"fast": {"lr_g": 1e-3}, "slow": {"lr_g": 1e-5}}, seeds=[3, 7], budget={"steps": 25},
        eval={"every": 5})
    runs = expand(spec)
    assert len(runs) == 2 * 4 * 2 * 2
    one = next(r for r in runs if r.run_id == "digits__slow+loss=hinge,discriminator.norm=spectral__s7")
    cfg = one.config
    assert cfg["loss"]["name"] == "hinge"
    assert cfg["discriminator"] == {"name": "dcgan", "width": 64, "norm": "spectral", "attention": 0,
                                    "conditioning": "projection", "bias_before_norm": True, "kernel": 4, "stages": 0}
    assert cfg["lr_g"] == 1e-5 and cfg["seed"] == 7 and cfg["steps"] == 25 and cfg["ckpt_every"] == 5
    assert cfg["batch_size"] == 16 and cfg["data"]["name"] == "digits"


def test_defaults_and_seed_count():
    runs = expand(StudySpec(seeds=2))
    assert [r.run_id for r in runs] == ["ring8__base__s0", "ring8__base__s1"]


@pytest.mark.parametrize("spec, message", [
    ({"grid": {"los": ["ns"]}}, "unknown grid key 'los' (did you mean loss"),
    ({"grid": {"discriminator.nrom": ["none"]}}, "unknown grid key 'discriminator.nrom' (did you mean discriminator.norm"),
    ({"variants": {"v": {"stepz": 3}}}, "unknown variant 'v' key 'stepz' (did you mean steps"),
    ({"datasets": [{"generator": "dcgan"}]}, "needs a 'data' key"),
    ({"grid": {"loss": ["ns", "hingee"]}}, "unknown loss 'hingee'"),
    ({"grid": {"loss": []}}, "grid axis 'loss' has no values"),
    ({"grid": {"loss": ["ns", "hinge", "ns"]}}, "grid axis 'loss' lists ns twice; list each value once"),
])
def test_bad_specs_name_the_key(spec, message):
    with pytest.raises(UserError) as exc:
        expand(StudySpec(**spec))
    assert message in str(exc.value)


def test_a_dataset_listed_twice_is_named_with_how_to_vary_it(tmp_path, capsys):
    from ganbench.cli import main

    (tmp_path / "s.yaml").write_text("name: dup\ndatasets: [ring8, {data: {name: ring8, n: 500}}]\n")
    assert main(["study", "run", str(tmp_path / "s.yaml"), "--dir", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert ("'datasets' lists dataset 'ring8' twice (entries 1 and 2); a dataset is named by its data name, so list "
            "it once and put the settings that differ (say data.n or data.path) in 'grid' or 'variants'") in err
    assert "variants distinct names" not in err
    assert len(expand(StudySpec(datasets=["ring8"], grid={"data.n": [500, 1000]}))) == 6  # as the message says


def test_load_spec_rejects_unknown_top_level_keys(tmp_path):
    (tmp_path / "s.yaml").write_text("name: x\nseed: 3\n")
    with pytest.raises(UserError, match="unknown key 'seed'"):
        load_spec(tmp_path / "s.yaml")


def test_quick_preset_expands():
    from pathlib import Path

    spec = load_spec(Path(__file__).parents[2] / "presets" / "quick.yaml")
    runs = expand(spec)
    assert len(runs) == 2 * 6 * 3 and len({r.variant for r in runs}) == 6


def test_mnist_preset_expands():
    from pathlib import Path

    spec = load_spec(Path(__file__).parents[2] / "presets" / "mnist.yaml")
    runs = expand(spec)
    assert len(runs) == 2 * 7 * 5
    cond = next(r for r in runs if r.variant == "cond-projection")
    assert cond.config["conditional"] and cond.config["discriminator"]["norm"] == "spectral"


def test_primary_defaults_per_kind_of_data_and_can_be_chosen_per_dataset():
    datasets = ["ring8", {"data": "digits", "generator": "dcgan", "discriminator": "dcgan"}]
    runs = expand(StudySpec(datasets=datasets, seeds=1))
    assert {r.dataset: r.primary for r in runs} == {"ring8": "high_quality", "digits": "fid"}
    runs = expand(StudySpec(datasets=datasets, seeds=1, eval={"primary": {"ring8": "reverse_kl"}}))
    assert {r.dataset: r.primary for r in runs} == {"ring8": "reverse_kl", "digits": "fid"}
    runs = expand(StudySpec(datasets=datasets, seeds=1, eval={"primary": "precision"}))
    assert {r.primary for r in runs} == {"precision"}


@pytest.mark.parametrize("eval_spec, message", [
    ({"primary": "reverse_kl"}, "eval.primary 'reverse_kl' does not apply to dataset 'digits'; metrics that apply: "
                                "fid, kid_mean, precision"),
    ({"primary": "kid_std"}, "eval.primary 'kid_std' does not apply to dataset 'ring8'"),
    ({"primary": "fid", "metrics": ["prdc"]}, "metrics that apply: precision, recall, density, coverage"),
    ({"primary": {"digitz": "fid"}}, "eval.primary names dataset 'digitz', which the study does not have"),
])
def test_primary_that_does_not_apply_is_refused_with_what_does(eval_spec, message):
    datasets = ["ring8", {"data": "digits", "generator": "dcgan", "discriminator": "dcgan"}]
    with pytest.raises(UserError) as exc:
        expand(StudySpec(datasets=datasets, seeds=1, eval=eval_spec))
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_grid_axis_that_a_variant_also_sets_is_refused():
    """Found by a newcomer: grid {loss: [ns, hinge]} silently replaced a variant's loss: wgan."""
    from ganbench.errors import UserError
    from ganbench.study.spec import StudySpec, expand

    spec = StudySpec(name="x", datasets=["ring8"], grid={"loss": ["ns", "hinge"]},
                     variants={"wgan-gp": {"loss": "wgan", "regularizers": [{"name": "gp"}]}}, seeds=1)
    with pytest.raises(UserError, match="variant 'wgan-gp' sets 'loss', which the grid also varies"):
        expand(spec)
    spec = StudySpec(name="x", datasets=["ring8"], grid={"discriminator.norm": ["none", "spectral"]},
                     variants={"wgan-gp": {"loss": "wgan"}, "hinge": {"loss": "hinge"}}, seeds=1)
    assert len(expand(spec)) == 4


def test_a_variant_override_never_leaks_into_the_dataset_entry_or_later_variants():
    # a dotted key of one variant ('discriminator.norm') used to be written into the dataset's own
    # 'discriminator' mapping, which every later variant then inherited: in the quick preset, digits'
    # wgan-gp, ns-r1 and ns-pac2 trained with hinge-sn's spectral norm
    spec = StudySpec(datasets=[{"data": "digits", "discriminator": {"name": "dcgan", "width": 8}}],
                     variants={"sn": {"discriminator.norm": "spectral"}, "plain": {"loss": "hinge"}}, seeds=1)
    before = spec.model_dump(mode="json")
    norms = {r.variant: r.config["discriminator"]["norm"] for r in expand(spec)}
    assert norms == {"sn": "spectral", "plain": "batch"}
    assert spec.model_dump(mode="json") == before  # expanding twice gives the same runs, and spec.yaml is as written
    quick = {r.run_id: r.config["discriminator"]["norm"] for r in expand(load_spec(Path(__file__).parents[2] / "presets" / "quick.yaml"))
             if r.seed == 0 and r.dataset == "digits"}
    assert quick == {"digits__ns__s0": "batch", "digits__lsgan__s0": "batch", "digits__hinge-sn__s0": "spectral",
                     "digits__wgan-gp__s0": "none", "digits__ns-r1__s0": "batch", "digits__ns-pac2__s0": "batch"}


def test_a_run_directory_name_over_a_file_names_limit_is_refused_naming_the_variant(tmp_path, capsys):
    """Run ids name run directories: a variant (a named one, or long grid values) making one over 255 bytes
    used to let each run start and fail on the file system; it is refused in one line before any work."""
    import yaml
    from PIL import Image

    from ganbench.cli import main

    ok = expand(StudySpec(datasets=["ring8"], variants={"v" * 244: {"loss": "hinge"}}, seeds=[0]))
    assert len(ok[0].run_id) == 255  # ring8__ + 244 + __s0: at the limit, accepted
    spec = {"name": "long", "datasets": ["ring8"], "variants": {"v" * 245: {"loss": "hinge"}}, "seeds": [0]}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    assert main(["study", "run", str(tmp_path / "s.yaml"), "--dir", str(tmp_path / "d"), "--executor", "inprocess",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"variant '{'v' * 57}...' (245 characters)" in err and "256 bytes" in err
    assert not (tmp_path / "d" / "runs").exists()
    folder = tmp_path.joinpath(*["c" * 30] * 9)  # a real folder: the grid's data.path is checked first
    folder.mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(folder / "a.png")
    with pytest.raises(UserError, match=r"dataset 'folder', variant 'data.path=.*\.\.\.' \(\d+ characters\): its run "
                                        r"directory name would be \d+ bytes, over the 255"):
        expand(StudySpec(datasets=[{"data": {"name": "folder", "path": str(folder), "resolution": 8}}],
                         grid={"data.path": [str(folder)]}, seeds=[0]))

"""Member-stacked ensembles: each member equals its single run, writes a single run's directory,
diverges alone, and resumes exactly."""

import copy

import pytest
import torch
from safetensors.torch import load_file

from ganbench.config import make_config
from ganbench.errors import UserError
from ganbench.training import build, loop
from ganbench.training import checkpoint as ckpt

MLP = {"data": {"name": "ring8", "n": 2000}, "generator": {"name": "mlp", "hidden": 32},
       "discriminator": {"name": "mlp", "hidden": 32, "norm": "spectral"}, "batch_size": 32, "steps": 50,
       "log_every": 10, "ckpt_every": 25, "device": "cpu", "loss": "ns", "regularizers": [{"name": "gp"}]}
DCGAN = {"data": "digits", "generator": {"name": "dcgan", "width": 8, "norm": "batch"},
         "discriminator": {"name": "dcgan", "width": 8, "norm": "spectral"}, "batch_size": 16, "steps": 50,
         "log_every": 10, "ckpt_every": 25, "device": "cpu", "n_dis": 2, "regularizers": [{"name": "r1"}],
         "augment": "color,translation,cutout"}
# members differ in seed, learning rates, betas, regularizer weight and EMA decay
MEMBERS = [(0, 2e-4, 0.5, 1.0, 0.999), (1, 1e-4, 0.0, 2.0, 0.99), (2, 3e-4, 0.5, 5.0, 0.999), (3, 2e-4, 0.9, 1.0, 0.9)]


def _cfgs(base, members=MEMBERS, **over):
    out = []
    for seed, lr, b1, w, ema in members:
        t = {**copy.deepcopy(base), **over, "seed": seed, "lr_g": lr, "lr_d": 1.5 * lr, "betas_d": (b1, 0.999),
             "ema": ema}
        if t.get("regularizers"):
            key = {"gp": "weight", "r1": "gamma", "dragan": "weight", "clip": "limit"}[t["regularizers"][0]["name"]]
            t["regularizers"] = [{**t["regularizers"][0], key: w * (0.01 if key == "limit" else 1)}]
        out.append(make_config(t))
    return out


def _final(run_dir):
    last = ckpt.list_checkpoints(run_dir / "checkpoints")[-1]
    return load_file(str(last.with_suffix(".safetensors")))


def _worst_rel(a, b, prefixes=("G.", "D.", "G_ema.")):
    """Largest per-tensor relative difference |a - b| / |b| (L2 norms) over the networks' tensors.

    A parameter whose gradient is zero in exact arithmetic (a bias right before batch norm, D's last
    bias under a relativistic loss) moves by Adam steps driven by rounding noise, in a single run as
    much as in a stack; the tests' configurations have none."""
    assert a.keys() == b.keys()
    worst = 0.0
    for k in a:
        if k.startswith(prefixes) and a[k].is_floating_point():
            scale = b[k].double().norm().clamp_min(1e-30)
            worst = max(worst, ((a[k].double() - b[k].double()).norm() / scale).item())
    return worst


@pytest.fixture
def float64(monkeypatch):
    """Everything in float64: the default dtype, and the training data (datasets are stored as float32)."""
    torch.set_default_dtype(torch.float64)
    original = build.load_dataset

    def load(spec, split="train"):
        data = original(spec, split)
        data.x = data.x.double()
        return data

    monkeypatch.setattr(build, "load_dataset", load)
    yield
    torch.set_default_dtype(torch.float32)


@pytest.mark.parametrize("base", [MLP, DCGAN], ids=["mlp-sn-gp", "dcgan-bn-sn-r1-augment"])
def test_member_equals_single_run_in_float64(tmp_path, float64, base):
    cfgs = _cfgs(base)
    results = loop.train_group(cfgs, [tmp_path / f"e{i}" for i in range(4)], progress=False)
    assert [r.status for r in results] == ["done"] * 4
    for i in (1, 3):
        loop.train(cfgs[i], tmp_path / f"s{i}", progress=False)
        a, b = _final(tmp_path / f"e{i}"), _final(tmp_path / f"s{i}")
        # weights, BN statistics, SN power-iteration vectors and EMA shadows, per member
        assert _worst_rel(a, b) < 1e-10
        assert any(".running_mean" in k for k in a) == (base is DCGAN)
        assert any("._u" in k for k in a) and any(k.startswith("G_ema.") for k in a)
        # the member's directory is a single run's: same files, same config, same log steps
        assert (tmp_path / f"e{i}" / "config.yaml").read_text() == (tmp_path / f"s{i}" / "config.yaml").read_text()
        steps = [ln.split(",")[0] for ln in (tmp_path / f"e{i}" / "metrics.jsonl").read_text().splitlines()]
        assert steps == [ln.split(",")[0] for ln in (tmp_path / f"s{i}" / "metrics.jsonl").read_text().splitlines()]


def test_member_equals_single_run_in_float32(tmp_path):
    """float32: batched kernels round differently; after 50 steps the MLP member agrees with its single run
    to 4e-7 relative (measured on x86-64; the DCGAN of the float64 test to 3e-4, most of it in the
    rounding-driven biases before batch norm); asserted at 1e-4."""
    cfgs = _cfgs(MLP)[:2]
    loop.train_group(cfgs, [tmp_path / "e0", tmp_path / "e1"], progress=False)
    loop.train(cfgs[1], tmp_path / "s1", progress=False)
    assert _worst_rel(_final(tmp_path / "e1"), _final(tmp_path / "s1")) < 1e-4


def test_diverging_member_is_frozen_and_others_finish(tmp_path, float64, monkeypatch):
    cfgs = _cfgs(MLP, steps=30, ckpt_every=10)[:3]
    real_g_step = loop.Trainer.g_step

    def poisoned(self, step):
        if step == 12:  # member 1's weights become NaN between log lines
            with torch.no_grad():
                next(iter(self.G.params.values()))[1].fill_(float("nan"))
        return real_g_step(self, step)

    monkeypatch.setattr(loop.Trainer, "g_step", poisoned)
    results = loop.train_group(cfgs, [tmp_path / f"e{i}" for i in range(3)], progress=False)
    monkeypatch.undo()
    torch.set_default_dtype(torch.float64)
    assert [r.status for r in results] == ["done", "diverged", "done"]
    assert results[1].step == 20 and "diverged near step 20" in results[1].message
    assert ckpt.checkpoint_steps(tmp_path / "e1" / "checkpoints") == [10]  # nothing written after divergence
    import json

    assert json.loads((tmp_path / "e1" / "status.json").read_text())["status"] == "diverged"
    loop.train(cfgs[2], tmp_path / "s2", progress=False)
    assert _worst_rel(_final(tmp_path / "e2"), _final(tmp_path / "s2")) < 1e-10


def _diverge_then_interrupt(cfgs, tmp_path, monkeypatch, at: int, poison: int | None = 13,
                            prefix: str = "e") -> list:
    """Train the stack with member 1's G poisoned (NaN) at step ``poison`` (None: never) and a Ctrl-C at
    step ``at``; returns the members' run directories."""
    real_g_step = loop.Trainer.g_step

    def poisoned(self, step):
        if step == poison:
            with torch.no_grad():
                next(iter(self.G.params.values()))[1].fill_(float("nan"))
        if step == at:
            raise KeyboardInterrupt
        return real_g_step(self, step)

    outs = [tmp_path / f"{prefix}{i}" for i in range(len(cfgs))]
    monkeypatch.setattr(loop.Trainer, "g_step", poisoned)
    with pytest.raises(KeyboardInterrupt):
        loop.train_group(cfgs, outs, progress=False)
    return outs


def test_interrupt_after_a_member_diverged_names_the_step_resume_continues_from(tmp_path, monkeypatch):
    """Member 1 diverges near step 18 (last checkpoint 12), the others save 18 and are interrupted at 20:
    the stack resumes from 12, the newest step all members saved, so their status must say 12."""
    import json

    cfgs = _cfgs(MLP, steps=30, ckpt_every=6, log_every=6)[:3]
    outs = _diverge_then_interrupt(cfgs, tmp_path, monkeypatch, at=20)
    assert ckpt.checkpoint_steps(outs[0] / "checkpoints") == [6, 12, 18]
    assert ckpt.checkpoint_steps(outs[1] / "checkpoints") == [6, 12]
    resumes_at = ckpt.common_step([o / "checkpoints" for o in outs])
    assert resumes_at == 12
    statuses = [json.loads((o / "status.json").read_text()) for o in outs]
    assert statuses[1]["status"] == "diverged"
    for s in (statuses[0], statuses[2]):
        assert s["status"] == "interrupted" and s["step"] == resumes_at, s
        assert s["message"].endswith(f"continues from the checkpoint at step {resumes_at}")


def test_pruning_keeps_the_step_a_diverged_member_last_saved(tmp_path, monkeypatch):
    """keep_checkpoints: 1 with member 1 diverged after its checkpoint at 12: the live members used to prune 12
    when they saved 18, leaving no step common to all, and a resume retrained every member from step 0."""
    import json

    cfgs = _cfgs(MLP, steps=30, ckpt_every=6, log_every=6, keep_checkpoints=1)[:3]
    outs = _diverge_then_interrupt(cfgs, tmp_path, monkeypatch, at=26)
    monkeypatch.undo()
    assert [ckpt.checkpoint_steps(o / "checkpoints") for o in outs] == [[12, 24], [12], [12, 24]]
    assert ckpt.common_step([o / "checkpoints" for o in outs]) == 12
    assert json.loads((outs[0] / "status.json").read_text())["step"] == 12
    real_step, first = loop.Trainer.step, []
    monkeypatch.setattr(loop.Trainer, "step", lambda self, step: (first.append(step), real_step(self, step))[1])
    loop.train_group(cfgs, outs, resume=True, progress=False)
    assert first[0] == 12
    assert ckpt.checkpoint_steps(outs[0] / "checkpoints") == [30]  # all saved 30: older steps go as usual


def _assert_interrupted_group_resumes_bit_identical(cfgs, tmp_path, monkeypatch):
    """Train the group whole (a), then again with a crash at step 15 and a resume (b): same final tensors."""
    outs_a = [tmp_path / f"a{i}" for i in range(len(cfgs))]
    loop.train_group(cfgs, outs_a, progress=False)
    outs_b = _diverge_then_interrupt(cfgs, tmp_path, monkeypatch, at=15, poison=None, prefix="b")
    monkeypatch.undo()
    loop.train_group(cfgs, outs_b, resume=True, progress=False)
    for a, b in zip(outs_a, outs_b):
        ta, tb = _final(a), _final(b)
        assert ta.keys() == tb.keys()
        for k in ta:
            assert torch.equal(ta[k], tb[k]), k


def test_interrupted_ensemble_resumes_bit_identical(tmp_path, monkeypatch):
    cfgs = _cfgs(DCGAN, steps=20, ckpt_every=10, log_every=5)[:3]
    _assert_interrupted_group_resumes_bit_identical(cfgs, tmp_path, monkeypatch)


def test_interrupt_between_members_saves_keeps_a_shared_checkpoint(tmp_path, monkeypatch):
    """Members save in turn; pruning (keep_checkpoints: 1) used to follow each save at once, so an interrupt
    before the last member saved left no step common to all and --resume started again from step 0."""
    cfgs = _cfgs(MLP, steps=12, ckpt_every=4, log_every=4, keep_checkpoints=1)[:2]
    loop.train_group(cfgs, [tmp_path / "a0", tmp_path / "a1"], progress=False)
    real_save = ckpt.save_checkpoint

    def cut(directory, step, *args, **kw):
        if step == 8 and directory.parent.name == "b1":
            raise KeyboardInterrupt
        return real_save(directory, step, *args, **kw)

    outs = [tmp_path / "b0", tmp_path / "b1"]
    monkeypatch.setattr(ckpt, "save_checkpoint", cut)
    with pytest.raises(KeyboardInterrupt):
        loop.train_group(cfgs, outs, progress=False)
    monkeypatch.undo()
    assert ckpt.common_step([out / "checkpoints" for out in outs]) == 4
    real_step, first = loop.Trainer.step, []
    monkeypatch.setattr(loop.Trainer, "step",
                        lambda self, step: (first.append(step), real_step(self, step))[1])
    loop.train_group(cfgs, outs, resume=True, progress=False)
    assert first[0] == 4  # not 0: the work up to the shared checkpoint is kept
    for i in range(2):
        ta, tb = _final(tmp_path / f"a{i}"), _final(outs[i])
        assert ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta)
        assert ckpt.checkpoint_steps(outs[i] / "checkpoints") == [12]


def test_member_directories_serve_eval_sample_and_single_resume(tmp_path):
    from ganbench.api import load_generator
    from ganbench.cli import main
    from ganbench.evaluate import evaluate_run

    cfgs = _cfgs(MLP, steps=20, ckpt_every=10)[:2]
    loop.train_group(cfgs, [tmp_path / "e0", tmp_path / "e1"], progress=False)
    G = load_generator(tmp_path / "e1")
    assert G.step == 20
    ev = evaluate_run(tmp_path / "e1", metrics=["modes"], n=200, checkpoint="final", progress=False)
    assert ev["results"][0]["metrics"]
    assert main(["sample", str(tmp_path / "e1"), "--out", str(tmp_path / "s.png"), "--n", "100"]) == 0
    # a member continues as a single run (its optimizer state is torch's Adam format)
    longer = make_config({**cfgs[1].model_dump(mode="json"), "steps": 25})
    assert loop.train(longer, tmp_path / "e1", resume=True, progress=False).status == "done"


@pytest.mark.parametrize("over, match", [
    ({"generator": {"name": "mlp", "hidden": 64}}, "'generator'"),
    ({"batch_size": 16}, "'batch_size'"),
    ({"regularizers": []}, "regularizers"),
])
def test_group_of_different_shapes_is_refused(over, match):
    cfgs = _cfgs(MLP)[:2]
    other = make_config({**cfgs[1].model_dump(mode="json"), **over})
    with pytest.raises(UserError, match=match):
        loop.check_group([cfgs[0], other])


def test_fp16_and_time_budgets_are_refused():
    with pytest.raises(UserError, match="fp16"):
        loop.check_group(_cfgs(MLP, amp="fp16")[:2])
    with pytest.raises(UserError, match="time budget"):
        loop.check_group(_cfgs(MLP, time_budget_s=5)[:2])


IMAGES = {"data": "digits", "batch_size": 8, "steps": 6, "log_every": 3, "ckpt_every": 6, "device": "cpu",
          "generator": {"name": "dcgan", "width": 8}, "discriminator": {"name": "dcgan", "width": 8}}


@pytest.mark.parametrize("over", [
    {"conditional": True, "discriminator": {"name": "dcgan", "width": 8, "conditioning": "acgan"}},
    {"conditional": True, "discriminator": {"name": "dcgan", "width": 8, "norm": "spectral"}, "loss": "hinge"},
    {"generator": {"name": "dcgan", "width": 8, "attention": 14},
     "discriminator": {"name": "dcgan", "width": 8, "attention": 14, "norm": "spectral"}},
    {"generator": {"name": "resnet", "width": 8}, "discriminator": {"name": "resnet", "width": 8}},
    {"generator": {"name": "style", "width": 8}},
    {"pack": 2, "discriminator": {"name": "dcgan", "width": 8, "norm": "layer"}, "loss": "wgan",
     "regularizers": [{"name": "clip"}]},
    {"regularizers": [{"name": "dragan"}], "loss": "lsgan", "amp": "bf16"},
    {"update": "simultaneous", "regularizers": [{"name": "gp"}]},
    # PacGAN's Stacked MNIST recipe: uniform latent, two G updates on D's noise, G once per pack member
    {"latent": "uniform", "n_gen": 2, "g_noise": "same_as_d", "n_dis": 2, "pack": 2, "g_call": "per_pack_member",
     # (biases right before batch norm dropped: zero-initialised, their exact gradient is 0, see _worst_rel)
     "generator": {"name": "dcgan", "width": 8, "norm": "batch", "init": "truncated_normal", "bias_before_norm": False},
     "discriminator": {"name": "dcgan", "width": 8, "norm": "batch", "bias_before_norm": False,
                       "init": {"kind": "truncated_normal", "std": 0.02}}},
    # PacGAN's 2-D schedule: simultaneous updates, batch in packs, G once per pack member
    {"update": "simultaneous", "pack": 2, "batch_unit": "packs", "g_call": "per_pack_member",
     "generator": {"name": "dcgan", "width": 8, "norm": "batch", "bias_before_norm": False, "init": "normal",
                   "batch_norm": {"eps": 1e-4, "momentum": 0.05}}},  # blocks' eps, PacGAN's population weight
], ids=["acgan", "projection", "attention", "resnet", "style", "pack-clip", "dragan-bf16", "simultaneous-gp",
        "pacgan-stacked-mnist-recipe", "pacgan-2d-schedule"])
def test_every_component_trains_in_a_stack(tmp_path, float64, over):
    cfgs = _cfgs({**IMAGES, **over}, regularizers=over.get("regularizers", []))[:2]
    loop.train_group(cfgs, [tmp_path / "e0", tmp_path / "e1"], progress=False)
    loop.train(cfgs[1], tmp_path / "s1", progress=False)
    # bf16 autocast rounds activations to 8 bits: only agreement to bf16 precision is meaningful
    assert _worst_rel(_final(tmp_path / "e1"), _final(tmp_path / "s1")) < (2e-2 if over.get("amp") else 1e-10)


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@needs_cuda
@pytest.mark.parametrize("base, tol", [(MLP, 1e-3), (DCGAN, 1e-2)], ids=["mlp", "dcgan"])
def test_cuda_member_matches_single_run(tmp_path, base, tol):
    """float32 on a GPU: batched kernels (and TF32-free cuBLAS/cuDNN paths) round differently from the
    single run's; the measured agreement is printed and asserted loosely."""
    cfgs = _cfgs(base, device="cuda", steps=30, ckpt_every=30)[:4]
    results = loop.train_group(cfgs, [tmp_path / f"e{i}" for i in range(4)], progress=False)
    assert [r.status for r in results] == ["done"] * 4
    loop.train(cfgs[2], tmp_path / "s2", progress=False)
    worst = _worst_rel(_final(tmp_path / "e2"), _final(tmp_path / "s2"))
    print(f"cuda member vs single run, worst relative difference: {worst:.3g}")
    assert worst < tol


@needs_cuda
def test_cuda_resume_is_bit_identical(tmp_path, monkeypatch):
    cfgs = _cfgs(MLP, device="cuda", steps=20, ckpt_every=10, log_every=5)[:3]
    _assert_interrupted_group_resumes_bit_identical(cfgs, tmp_path, monkeypatch)


def test_ensemble_command_trains_members_and_refuses_different_shapes(tmp_path, capsys):
    import yaml

    from ganbench.cli import main

    for i in range(2):
        (tmp_path / f"m{i}.yaml").write_text(yaml.safe_dump({**MLP, "steps": 10, "seed": i, "lr_g": 1e-4 * (i + 1)}))
    (tmp_path / "wide.yaml").write_text(yaml.safe_dump({**MLP, "generator": {"name": "mlp", "hidden": 64}}))
    assert main(["ensemble", str(tmp_path / "m0.yaml"), str(tmp_path / "m1.yaml"), "--out-dir",
                 str(tmp_path / "runs"), "--no-progress"]) == 0
    assert [ckpt.checkpoint_steps(tmp_path / "runs" / f"m{i}" / "checkpoints") for i in range(2)] == [[10], [10]]
    capsys.readouterr()
    assert main(["ensemble", str(tmp_path / "m0.yaml"), str(tmp_path / "wide.yaml"), "--out-dir",
                 str(tmp_path / "other"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "'generator'" in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "other").exists()


def test_a_group_of_one_trains_as_its_single_run_bit_for_bit(tmp_path):
    """A one-member stack is 0.65x a plain run on the CPU (benchmarks/ensemble.py) and rounds differently:
    a group of one (a study's leftover run, a half of a split group, `ganbench ensemble` given one config)
    trains with the plain trainer, so its run directory is the one `train` writes, bit for bit."""
    import yaml

    from ganbench.cli import main

    (cfg,) = _cfgs(MLP, MEMBERS[1:2], steps=12, ckpt_every=6, log_every=6)
    loop.train(cfg, tmp_path / "alone", progress=False)
    loop.train_group([cfg], [tmp_path / "group"], progress=False)  # a study worker's call for a group of one
    (tmp_path / "one.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    assert main(["ensemble", str(tmp_path / "one.yaml"), "--out-dir", str(tmp_path / "cli"), "--no-progress"]) == 0
    want = _final(tmp_path / "alone")
    for got in (_final(tmp_path / "group"), _final(tmp_path / "cli" / "one")):
        assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)

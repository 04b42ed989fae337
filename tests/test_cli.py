import json
import os
import subprocess
import sys
import textwrap

import pytest

from ganbench import plugins
from ganbench.cli import main
from ganbench.registry import GENERATORS

TINY = ["--data", "ring8", "--steps", "20", "--batch-size", "16", "--log-every", "10", "--device", "cpu",
        "--no-progress"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_every_kind(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0
    for word in ("generators:", "discriminators:", "losses:", "regularizers:", "datasets:", "dcgan", "hinge",
                 "r1", "mnist5k", "options: width=64", "metrics:", "prdc", "extractors:", "inception",
                 "[conditional]"):
        assert word in out


def test_train_then_sample_points_and_images(capsys, tmp_path):
    code, out, _ = run(capsys, "train", *TINY, "--loss", "hinge", "--reg", "r1:gamma=1", "--out", str(tmp_path / "p"))
    assert code == 0 and "done: 20 steps" in out
    cfg = (tmp_path / "p" / "config.yaml").read_text()
    assert "name: r1" in cfg and "gamma: 1" in cfg
    assert run(capsys, "sample", str(tmp_path / "p"), "--out", str(tmp_path / "p.png"))[0] == 0
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    code, _, _ = run(capsys, "train", "--data", "digits", "--generator", "dcgan", "--discriminator", "dcgan",
                     "--set", "generator.width=8", "--set", "discriminator.width=8", "--steps", "5",
                     "--batch-size", "8", "--device", "cpu", "--no-progress", "--out", str(tmp_path / "i"))
    assert code == 0
    assert run(capsys, "sample", str(tmp_path / "i"), "--n", "16", "--out", str(tmp_path / "i.png"))[0] == 0
    assert (tmp_path / "i.png").stat().st_size > 100


def test_train_from_yaml_with_flag_override(capsys, tmp_path):
    (tmp_path / "c.yaml").write_text(textwrap.dedent("""
        data: {name: grid25, n: 500}
        generator: {name: mlp, hidden: 8}
        discriminator: {name: mlp, hidden: 8, norm: spectral}
        loss: wgan
        regularizers: [{name: gp, weight: 5}]
        steps: 100
        batch_size: 20
        pack: 2
    """))
    code, out, _ = run(capsys, "train", "--config", str(tmp_path / "c.yaml"), "--steps", "7", "--dry-run")
    assert code == 0 and "steps: 7" in out and "weight: 5" in out and "pack: 2" in out


@pytest.mark.parametrize("argv, message", [
    (["--loss", "hinj"], "unknown loss 'hinj' (did you mean hinge?); valid: hinge, lsgan, minimax"),
    (["--generator", "nope"], "unknown generator 'nope'"),
    (["--data", "imagenet"], "unknown dataset 'imagenet'"),
    (["--set", "discriminator.norm=weird"], "bad value for 'discriminator.norm'"),
    (["--set", "stepz=3"], "unknown key 'stepz'"),
    (["--reg", "gp:wieght=3"], "unknown key 'regularizers[0].wieght'"),
    (["--generator", "dcgan"], "the dcgan networks need image data (C, H, W); this data has shape (2,)"),
    (["--data", "digits", "--generator", "mlp", "--discriminator", "resnet", "--set", "discriminator.width=8"], None),
    (["--device", "tpu"], "bad value for 'device'"),
    (["--amp", "fp16"], "amp: fp16 needs a GPU (device cuda); on the CPU use amp: bf16 or none"),
    (["--amp", "bf16"], None),  # bfloat16 autocast works on the CPU
])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, argv, message):
    code, _, err = run(capsys, "train", *TINY, *argv, "--out", str(tmp_path / "r"))
    if message is None:  # a valid combination, for contrast
        assert code == 0, err
        return
    assert code == 2
    assert err.startswith("ganbench: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "r").exists()  # nothing written


def test_bad_yaml_files(capsys, tmp_path):
    (tmp_path / "bad.yaml").write_text("steps: [1, 2\n")
    (tmp_path / "typo.yaml").write_text("stpes: 3\n")
    (tmp_path / "type.yaml").write_text("batch_size: lots\n")
    for name, message in [("bad.yaml", "not valid YAML"), ("typo.yaml", "unknown key 'stpes'"),
                          ("type.yaml", "bad value for 'batch_size'"), ("missing.yaml", "config file not found")]:
        code, _, err = run(capsys, "train", "--config", str(tmp_path / name))
        assert code == 2 and message in err and err.count("\n") == 1


def test_existing_run_dir_rules(capsys, tmp_path):
    out = str(tmp_path / "r")
    assert run(capsys, "train", *TINY, "--out", out)[0] == 0
    code, _, err = run(capsys, "train", *TINY, "--loss", "lsgan", "--out", out)
    assert code == 2 and "different config (loss: {'name': 'ns'} -> {'name': 'lsgan'})" in err
    code, _, err = run(capsys, "train", *TINY, "--loss", "lsgan", "--out", out, "--resume")
    assert code == 2 and "different config" in err
    assert run(capsys, "train", *TINY, "--loss", "lsgan", "--out", out, "--overwrite")[0] == 0
    assert run(capsys, "train", *TINY, "--loss", "lsgan", "--steps", "30", "--out", out, "--resume")[0] == 0
    assert json.loads((tmp_path / "r" / "status.json").read_text())["step"] == 30


def test_resume_of_a_directory_without_a_run(capsys, tmp_path):
    """A mistyped --out with --resume and no --config would train the defaults: refused. With a --config it
    starts that run (the start-or-continue idiom of preemptible jobs) and says so."""
    code, _, err = run(capsys, "train", *TINY, "--out", str(tmp_path / "typo"), "--resume")
    assert code == 2 and "holds no run to continue" in err and not (tmp_path / "typo").exists()
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data: {name: ring8}\n")
    code, _, err = run(capsys, "train", "--config", str(cfg), *TINY, "--out", str(tmp_path / "fresh"), "--resume")
    assert code == 0 and f"{tmp_path / 'fresh'} holds no run yet; starting it from {cfg}" in err


def test_sample_bad_input(capsys, tmp_path):
    code, _, err = run(capsys, "sample", str(tmp_path))
    assert code == 2 and "holds no checkpoint" in err
    code, _, err = run(capsys, "sample", str(tmp_path / "nothing.safetensors"))
    assert code == 2 and "no checkpoint at" in err


@pytest.mark.parametrize("name,text", [("run.yaml", "data: {name: ring8}\n"), ("notes.json", "not json")])
def test_sample_of_a_file_of_the_wrong_kind(capsys, tmp_path, name, text):
    """A config or other file given where a run is expected is named as the wrong kind, and kept: the
    advice to delete a damaged sidecar is for a checkpoint's own step_N.json only."""
    (tmp_path / name).write_text(text)
    code, _, err = run(capsys, "sample", str(tmp_path / name))
    assert code == 2 and "delete" not in err
    assert ("is not a run directory or checkpoint; give a run directory" in err if name.endswith(".yaml")
            else "not a valid checkpoint sidecar" in err and "give a checkpoint's step_N.json" in err)
    assert (tmp_path / name).read_text() == text


def test_console_script_has_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ganbench", "train", "--loss", "bogus", "--out", str(tmp_path)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("ganbench: error: unknown loss 'bogus'")
    assert "Traceback" not in proc.stderr


PLUGIN = '''
from torch import nn
from ganbench.registry import GENERATORS

@GENERATORS.register("{name}")
class Tiny(nn.Module):
    """A user's own generator."""
    def __init__(self, data_shape, z_dim, scale: float = 1.0):
        super().__init__()
        self.lin = nn.Linear(z_dim, 2)
        self.scale = scale
    def forward(self, z):
        return self.scale * self.lin(z)
'''


def test_plugin_module_flag(capsys, tmp_path, monkeypatch):
    (tmp_path / "myplug.py").write_text(PLUGIN.format(name="tiny-plugin"))
    monkeypatch.syspath_prepend(str(tmp_path))
    code, _, err = run(capsys, "--plugin", "myplug", "train", *TINY, "--generator", "tiny-plugin",
                       "--set", "generator={name: tiny-plugin, scale: 2.0}", "--out", str(tmp_path / "r"))
    assert code == 0, err
    assert "- myplug" in (tmp_path / "r" / "config.yaml").read_text()  # recorded, so loading re-imports it
    code, _, err = run(capsys, "--plugin", "no_such_module_xyz", "list")
    assert code == 2 and "cannot import plugin module 'no_such_module_xyz'" in err


def test_entry_point_plugin(tmp_path, monkeypatch):
    (tmp_path / "epplug.py").write_text(PLUGIN.format(name="ep-inner").replace(
        '@GENERATORS.register("ep-inner")\n', ""))
    dist = tmp_path / "epplug-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: epplug\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[ganbench.generators]\nep-tiny = epplug:Tiny\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(plugins, "_loaded_groups", False)
    plugins.load_entry_points()
    assert "ep-tiny" in GENERATORS
    assert GENERATORS.get("ep-tiny").description == "A user's own generator."


def _entry_points(tmp_path, monkeypatch, module: str, text: str, groups: str):
    (tmp_path / f"{module}.py").write_text(text)
    dist = tmp_path / f"{module}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(groups)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(plugins, "_loaded_groups", False)


def test_entry_point_metric_and_loss(tmp_path, monkeypatch, capsys):
    """A metric has a group of its own (its module registers it with its declarations), and a loss entry
    point names a Loss object, which is not callable: it was skipped without a word."""
    from ganbench.losses import LOSSES
    from ganbench.metrics import declare, suite

    monkeypatch.setattr(suite, "METRICS", dict(suite.METRICS))
    monkeypatch.setattr(declare, "VALUES", dict(declare.VALUES))
    monkeypatch.setattr(LOSSES, "_entries", dict(LOSSES._entries))
    _entry_points(tmp_path, monkeypatch, "epmetric", textwrap.dedent('''
        from ganbench.metrics.declare import quality
        from ganbench.metrics.suite import metric

        @metric("ep-metric", ("features",), "a user's metric", [quality("ep_value", "lower", "zero")])
        def ep_metric(real, fake, ctx):
            return {"ep_value": 0.0}

        def not_a_metric(real, fake, ctx):
            return {}
    '''), "[ganbench.metrics]\nep-metric = epmetric:ep_metric\nep-nothing = epmetric:not_a_metric\n")
    _entry_points(tmp_path, monkeypatch, "eploss", textwrap.dedent('''
        from ganbench.losses import Loss

        ep_loss = Loss(lambda real, fake: fake.mean() - real.mean(), lambda real, fake: -fake.mean())
    '''), "[ganbench.losses]\nep-loss = eploss:ep_loss\n")
    plugins.load_entry_points()
    assert "ep-metric" in suite.METRICS and declare.info("ep_value").direction == "lower"
    assert "ep-loss" in LOSSES
    assert "skipping plugin 'ep-nothing'" in capsys.readouterr().err


def test_tensorboard_flag(capsys, tmp_path):
    import importlib.util

    code = main(["train", *TINY, "--tensorboard", "--out", str(tmp_path / "r")])
    if importlib.util.find_spec("tensorboard") is None:
        assert code == 2 and "pip install 'ganbench[tensorboard]'" in capsys.readouterr().err
        assert not (tmp_path / "r").exists()  # refused before anything was written
    else:
        assert code == 0 and any((tmp_path / "r" / "tensorboard").iterdir())


@pytest.mark.parametrize("resolution", [0, -5, 4, 4096])
def test_folder_resolution_out_of_range(capsys, tmp_path, resolution):
    (tmp_path / "imgs").mkdir()
    code, _, err = run(capsys, "train", *TINY, "--set", "data.name=folder", "--set", f"data.path={tmp_path / 'imgs'}",
                       "--set", f"data.resolution={resolution}", "--out", str(tmp_path / "r"))
    # 0 and -5 already fail the options' range convention (sizes >= 1), 4 and 4096 the dataset's own range
    assert code == 2 and err.count("\n") == 1
    assert "resolution must be between 8 and 1024 pixels" in err or "'data.resolution'" in err


def test_reader_gone_stops_quietly():
    """`ganbench list | head -1`: when the reader closes the pipe, stop without an error line."""
    # the read end is closed before the child starts, so its first write fails however the two are scheduled:
    # closing it after Popen raced the child, which on a loaded machine could write its whole listing (~5 kB,
    # within the pipe's buffer) and exit 0 first
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "ganbench", "list"], stdout=write_end,
                                stderr=subprocess.PIPE)
    finally:
        os.close(write_end)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and err == ""


def test_data_fetch_names_a_missing_path(capsys, tmp_path):
    """A --path that is not a folder is the user's mistake: said, not ignored for the cache."""
    code, _, err = run(capsys, "data", "fetch", "mnist", "--path", str(tmp_path / "nope"))
    assert code == 2 and "no such folder" in err


def test_one_line_helps_name_every_subcommand_and_every_option_has_a_help():
    """`ganbench --help` is how a newcomer finds commands: a group's one-line help names each of its
    subcommands (it once said only 'fetch' for fetch, export and prepare), and every option has a help."""
    import argparse

    from ganbench.cli import build_parser

    def groups(parser):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                yield action

    top = next(groups(build_parser()))
    helps = {a.dest: a.help for a in top._choices_actions}
    for name, sub in top.choices.items():
        for inner in groups(sub):
            for command in inner.choices:
                assert command in helps[name], f"`ganbench --help` line of '{name}' does not name '{command}'"
    blank = [f"{name} {cmd} {opt.option_strings[0]}" for name, sub in top.choices.items()
             for cmd, parser in ([(None, sub)] + [c for g in groups(sub) for c in g.choices.items()])
             for opt in parser._actions if opt.option_strings and not opt.help
             and not (name == "train" and cmd is None)]  # train's config-key flags are named after their keys
    assert blank == []


def test_a_missing_spec_or_config_says_where_to_look(capsys, tmp_path, monkeypatch):
    """A newcomer's first errors: a typo in a preset's name, a bare name, a path from the wrong folder. One
    line, exit 2, and the line says which file was meant or that the folder is not where it was looked for."""
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "quick.yaml").write_text("name: quick\n")
    (tmp_path / "presets" / "grid25.yaml").write_text("name: grid25\n")
    monkeypatch.chdir(tmp_path)
    for argv, message in [(["study", "run", "presets/quik.yaml"], "(did you mean presets/quick.yaml?)"),
                          (["study", "plan", "quick"], "(did you mean presets/quick.yaml?)"),
                          (["study", "plan", "quick.yaml"], "(did you mean presets/quick.yaml?)"),
                          (["train", "--config", "my.yaml"], "config file not found: my.yaml"),
                          (["study", "run", "spec/quick.yaml"], f"(there is no folder spec in {tmp_path})")]:
        code, _, err = run(capsys, *argv)
        assert code == 2 and message in err and err.count("\n") == 1, (argv, err)
    monkeypatch.chdir(tmp_path / "presets")
    code, _, err = run(capsys, "study", "run", "presets/quick.yaml")
    assert code == 2 and f"(there is no folder presets in {tmp_path / 'presets'})" in err

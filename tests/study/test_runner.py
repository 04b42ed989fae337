import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from ganbench.cli import main
from ganbench.study.executors import InProcess, Pool
from ganbench.study.runner import run_study
from ganbench.study.spec import StudySpec
from ganbench.study.store import Store

TINY = {"name": "tiny", "base": {"batch_size": 32, "log_every": 20, "generator": {"name": "mlp", "hidden": 32},
                                 "discriminator": {"name": "mlp", "hidden": 32}},
        "datasets": [{"data": {"name": "ring8", "n": 2000}}], "grid": {"loss": ["ns", "hinge"]}, "seeds": 2,
        "budget": {"steps": 60}, "eval": {"n": 200, "every": 30, "metrics": ["modes", "fid"]}}

NAN_PLUGIN = textwrap.dedent('''
    from ganbench.losses import Loss
    from ganbench.registry import LOSSES
    if "nan-loss" not in LOSSES:
        LOSSES.add("nan-loss", Loss(lambda r, f: r.mean() * float("nan"), lambda r, f: -f.mean()), "test: diverges")
''')


def test_study_in_process_with_a_diverging_variant(tmp_path, monkeypatch):
    (tmp_path / "nanplug.py").write_text(NAN_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = StudySpec(**{**TINY, "base": {**TINY["base"], "plugins": ["nanplug"]},
                        "grid": {"loss": ["ns", "nan-loss"]}, "seeds": 1})
    summary = run_study(tmp_path / "study", spec, InProcess(), progress=False)
    assert summary["status"] == {"done": 1, "diverged": 1}
    store = Store(tmp_path / "study" / "study.sqlite")
    runs = {r["variant"]: r for r in store.runs()}
    assert "diverged near step 20" in runs["loss=nan-loss"]["error"]
    evals = store.evals()
    assert {e["run_id"] for e in evals} == {runs["loss=ns"]["run_id"]}
    assert sorted({e["step"] for e in evals}) == [30, 60]
    tags = {(e["step"], tuple(e["tags"])) for e in evals}
    assert (60, ("final",)) in tags or (60, ("final", "best")) in tags


def test_existing_directory_rules(tmp_path):
    spec = StudySpec(**{**TINY, "seeds": 1, "grid": {"loss": ["ns"]}})
    run_study(tmp_path / "s", spec, InProcess(), progress=False)
    again = run_study(tmp_path / "s", spec, InProcess(), progress=False)
    assert again["executed"] == 0  # everything finished: nothing re-run
    other = StudySpec(**{**TINY, "seeds": 1, "grid": {"loss": ["lsgan"]}})
    from ganbench.errors import UserError

    with pytest.raises(UserError, match="different spec; pass --force-new"):
        run_study(tmp_path / "s", other, InProcess(), progress=False)
    assert run_study(tmp_path / "s", other, InProcess(), force_new=True, progress=False)["executed"] == 1


def _spec_file(tmp_path, **changes):
    import yaml

    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({**TINY, **changes}))
    return path


def _cli(*args):
    return subprocess.Popen([sys.executable, "-m", "ganbench", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def test_resume_after_sigkill_gives_the_same_results(tmp_path):
    spec_path = _spec_file(tmp_path, seeds=3, budget={"steps": 120})
    full = _cli("study", "run", str(spec_path), "--dir", str(tmp_path / "full"), "--workers", "2", "--no-report",
                "--no-progress")
    assert full.wait(timeout=300) == 0, full.stderr.read()
    cut = _cli("study", "run", str(spec_path), "--dir", str(tmp_path / "cut"), "--workers", "2", "--no-report",
               "--no-progress")
    store_path = tmp_path / "cut" / "study.sqlite"
    deadline = time.time() + 120
    while time.time() < deadline:  # kill once some runs finished and others are mid-training
        if store_path.exists():
            try:
                done = Store(store_path).db.execute("SELECT COUNT(*) FROM runs WHERE status='done'").fetchone()[0]
            except Exception:  # noqa: BLE001  (the database may be being created)
                done = 0
            if done >= 1:
                break
        time.sleep(0.05)
    os.kill(cut.pid, signal.SIGKILL)
    cut.wait()
    time.sleep(0.5)  # workers die with the driver (PR_SET_PDEATHSIG)
    before = Store(store_path).runs()
    assert any(r["status"] != "done" for r in before), "killed too late to test a resume"
    resumed = _cli("study", "resume", str(tmp_path / "cut"), "--workers", "2", "--no-report", "--no-progress")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    a, b = Store(tmp_path / "full" / "study.sqlite"), Store(store_path)
    assert a.results_table() == b.results_table()
    assert all(r["status"] == "done" for r in b.runs())


def test_report_files_and_cli(tmp_path, capsys):
    spec_path = _spec_file(tmp_path, seeds=2)
    assert main(["study", "run", str(spec_path), "--dir", str(tmp_path / "s"), "--executor", "inprocess",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "4 runs executed" in out and "report.html" in out
    html = (tmp_path / "s" / "report.html").read_text()
    assert 'class="leaderboard"' in html and "data:image/png;base64," in html and "Pareto" in html
    assert "http://" not in html and "https://" not in html  # self-contained
    rows = (tmp_path / "s" / "results.csv").read_text().splitlines()
    assert rows[0].startswith("dataset,metric,direction,kind,unit,checkpoint,variant,rank,n,mean")
    assert any(",fid,lower,quality," in r for r in rows) and any(",high_quality,higher,quality," in r for r in rows)
    results = json.loads((tmp_path / "s" / "results.json").read_text())
    assert {"leaderboard", "pairs", "runs", "evals"} <= results.keys()
    assert all("protocol" in e for e in results["evals"])


@pytest.mark.parametrize("argv, message", [
    (["study", "resume", "nowhere"], "is not a ganbench study directory"),
    (["study", "report", "nowhere"], "holds no study"),
    (["study", "run", "missing.yaml"], "config file not found"),
])
def test_study_cli_bad_input(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_unknown_grid_key_from_the_cli(tmp_path, capsys):
    spec_path = _spec_file(tmp_path, grid={"discriminator.nrom": ["none"]})
    assert main(["study", "run", str(spec_path), "--dir", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "unknown grid key 'discriminator.nrom' (did you mean discriminator.norm" in err
    assert not (tmp_path / "s").exists()


def test_ray_address_that_does_not_answer(tmp_path, capsys):
    pytest.importorskip("ray")
    spec_path = _spec_file(tmp_path)

    def hung(*_):
        raise AssertionError("study run kept waiting for an address that does not answer")

    # a watchdog against waiting forever, not a speed assertion (the guide: no wall-clock asserts in tests)
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(120)
    try:
        assert main(["study", "run", str(spec_path), "--dir", str(tmp_path / "s"), "--executor", "ray",
                     "--address", "127.0.0.1:9"]) == 2
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert "does not answer" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_pool_sets_threads():
    pool = Pool(workers=1)
    assert pool.threads == max(1, (os.cpu_count() or 1))


def test_a_study_whose_runs_differ_from_its_spec_is_not_continued(tmp_path):
    # what a study made before variant overrides stopped leaking into their dataset entry looks like: the
    # stored spec gives one config, the store's run was trained with another
    spec = StudySpec(**{**TINY, "seeds": 1, "grid": {"loss": ["ns"]}})
    run_study(tmp_path / "s", spec, InProcess(), progress=False)
    store = Store(tmp_path / "s" / "study.sqlite")
    (run,) = store.runs()
    run["config"]["lr_d"] = 0.0004
    store.db.execute("UPDATE runs SET config=? WHERE run_id=?", (json.dumps(run["config"]), run["run_id"]))
    store.close()
    from ganbench.errors import UserError

    with pytest.raises(UserError, match=r"run 'ring8__loss=ns__s0' was trained with another config than .* gives now "
                                        r"\(lr_d \(0.0004 -> 0.0002\): trained -> spec\)"):
        run_study(tmp_path / "s", spec, InProcess(), progress=False)

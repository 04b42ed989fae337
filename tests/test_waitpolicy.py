"""OpenMP's wait policy: PASSIVE unless the user set one, in the CLI's process and in a study pool's
workers, and the caller's environment as it was after the pool (waitpolicy.py says why)."""

import os

from ganbench.cli import main
from ganbench.study.executors import Pool
from ganbench.waitpolicy import VARIABLE, for_children, passive_wait


def test_passive_unless_the_user_chose(monkeypatch):
    env = {}
    assert passive_wait(env) == "PASSIVE" and env == {VARIABLE: "PASSIVE"}
    env = {VARIABLE: "ACTIVE"}
    assert passive_wait(env) == "ACTIVE" and env == {VARIABLE: "ACTIVE"}


def test_for_children_restores_the_callers_environment(monkeypatch):
    monkeypatch.delenv(VARIABLE, raising=False)
    with for_children():
        assert os.environ[VARIABLE] == "PASSIVE"
    assert VARIABLE not in os.environ
    monkeypatch.setenv(VARIABLE, "ACTIVE")
    with for_children():
        assert os.environ[VARIABLE] == "ACTIVE"
    assert os.environ[VARIABLE] == "ACTIVE"


def test_pool_workers_start_with_passive_waiting(monkeypatch):
    monkeypatch.delenv(VARIABLE, raising=False)
    got = dict(Pool(workers=1).run(os.getenv, [("a", (VARIABLE,))]))
    assert got == {"a": "PASSIVE"} and VARIABLE not in os.environ
    monkeypatch.setenv(VARIABLE, "ACTIVE")
    assert dict(Pool(workers=1).run(os.getenv, [("a", (VARIABLE,))])) == {"a": "ACTIVE"}


def test_the_cli_sets_it_before_a_command_runs(monkeypatch, capsys):
    monkeypatch.setenv(VARIABLE, "unset by the test")  # so that monkeypatch restores the environment after
    monkeypatch.delenv(VARIABLE)
    assert main(["list"]) == 0
    assert os.environ[VARIABLE] == "PASSIVE"

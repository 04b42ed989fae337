"""A study run's evaluation protocol: selection, held-out "best", and a repeat that measures the noise.

1. Every checkpoint is evaluated on the train split's reference subset with sampling seed 0 (per step);
   the checkpoint with the best primary value is *selected* (tag ``selected``), the last is ``final``.
2. The selected checkpoint is evaluated again with an independent sampling seed (1) against the *test*
   split's reference subset; that evaluation is what "best" reports (tags ``best``, ``heldout``), so the
   selection and the reported value never share samples.
3. The final checkpoint is evaluated again with another sampling seed (2) on the train reference (tag
   ``repeat``): the difference to (1)'s final value measures the evaluation's own noise, which decides
   whether a run was still improving at the end of its budget.
"""

from __future__ import annotations

from pathlib import Path

SELECTION = {"split": "train", "seed": 0}  # (1): every checkpoint, hence the final one the report draws
HELDOUT = {"split": "test", "seed": 1}
REPEAT = {"split": "train", "seed": 2}


def _again(run_dir: Path, checkpoint: str, tags: list[str], suffix: str, how: dict, common: dict) -> dict:
    from ..evaluate import evaluate_run

    (row,) = evaluate_run(run_dir, checkpoint=checkpoint, write=False, **how, **common)["results"]
    row["tags"], row["checkpoint"] = tags, f"{checkpoint}/{suffix}"  # a distinct row of the store
    return row


def evaluate_study_run(run_dir: str | Path, eval_spec: dict) -> list[dict]:
    from ..evaluate import evaluate_run

    common = {"metrics": eval_spec.get("metrics"), "extractor": eval_spec.get("extractor"), "n": eval_spec.get("n"),
              "progress": False, "device": eval_spec.get("device", "cpu")}
    rows = evaluate_run(run_dir, checkpoint="all", primary=eval_spec.get("primary"), **SELECTION,
                        **common)["results"]
    for r in rows:
        r["tags"] = ["selected" if t == "best" else t for t in r["tags"]]
    selected = next((r for r in rows if "selected" in r["tags"]), None)
    final = rows[-1]
    extra = [_again(Path(run_dir), final["checkpoint"], ["repeat"], "repeat", REPEAT, common)]
    if selected is not None:
        extra.append(_again(Path(run_dir), selected["checkpoint"], ["best", "heldout"], "heldout", HELDOUT, common))
    return rows + extra


def check_eval_data(spec, runs: list) -> None:
    """Before anything trains: every split this protocol reads (train for selection and the repeat, test for
    the held-out value) holds enough samples for the study's metrics, and eval.n draws enough. A study on
    too small a dataset used to train every run and then fail each evaluation."""
    import json

    from ..data import load_dataset
    from ..evaluate import DEFAULT_N, check_size
    from ..metrics.suite import applicable_metrics
    from .evalspec import evaluation_traits

    seen = set()
    for r in runs:
        data = r.config["data"]
        key = json.dumps([data, bool(r.config.get("conditional"))], sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        found = evaluation_traits(spec, r.config)
        names = applicable_metrics(*found, spec.eval.metrics)
        n_fake = spec.eval.n or DEFAULT_N[found[0]]
        for split in sorted({REPEAT["split"], HELDOUT["split"]}, reverse=True):  # train, then test
            check_size(data, split, load_dataset(data, split), n_fake, names)


def check_stored_n(evals: list[dict], todo: list, spec) -> None:
    """Before new runs of a study are evaluated (``study resume``, ``extend``, run again): the stored rows
    (``evals``, the store's) of each dataset that gets new runs were drawn with the sample count the spec gives
    them. The spec and its store can be edited to say another eval.n than made the stored rows (check_matches
    compares the two, not the rows); the new rows would then share a leaderboard cell with rows of another n."""
    from ..evaluate import DEFAULT_N
    from .evalspec import evaluation_traits

    first = {r.dataset: r for r in reversed(todo)}  # one run per dataset: its traits decide the default n
    wanted = {ds: spec.eval.n or DEFAULT_N[evaluation_traits(spec, r.config)[0]] for ds, r in first.items()}
    for e in evals if wanted else []:
        n = wanted.get(e["dataset"])
        if n is not None and e["protocol"]["n_fake"] != n:
            from ..errors import UserError

            raise UserError(f"dataset '{e['dataset']}': the study's run {e['run_id']} was evaluated with n_fake "
                            f"{e['protocol']['n_fake']}, its spec gives new runs {n} (spec and store edited since?); "
                            "their numbers would share a leaderboard cell: restore the spec or start a new study")

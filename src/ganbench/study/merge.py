"""Join studies into one (``ganbench study merge SRC SRC... --out DIR``): the seeds of a study trained on two
machines, or variants studied apart and compared afterwards, become one study with one report.

Only what one spec can say is merged: the sources must share the recipe (``base`` and the grid's axes),
the budget and the evaluation; they may differ in datasets, variants, grid values, seeds and published
reference numbers, which are joined. The merged spec runs every variant on every dataset and seed: a run
that no source finished is queued, for ``study resume``. Each finished run is taken, with its files, from
the one source that holds it, after checking that it was trained with the config the merged spec gives
(a run finished in two sources is refused: choosing one would be choosing a result); the runs of one dataset
must have been measured on one content of each split (samedata.py: one data.path can hold other bytes).
Reference rows are drawn per seed, so they are joined too when the sources cover every seed; otherwise
``study resume`` draws them.

The sources are data: nothing is imported from them, their paths are confined as ``study report``'s are,
only plain files are copied (a symbolic link is refused), and the merged directory appears whole or not
at all (built beside it, then renamed). The merged store remembers each source's own extensions and,
when one variant's seeds come from more than one source, records the merge as a second look at that
comparison: if the later seeds were chosen after the earlier results were seen, the report's p-values
are optimistic, and it says so.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
from collections import defaultdict
from pathlib import Path

import yaml

from .. import provenance
from ..config import make_config
from ..confine import STUDY, reading
from ..errors import UserError
from ..training.rundir import RunDir
from .extend import check_not_half_extended, extensions, first_difference
from .identities import check_joined, stored_identities
from .rebuild import check_complete, read_result
from .runner import StudyDir, check_matches
from .samedata import check_merged
from .spec import SAFE_NAME, StudySpec, _dataset, expand
from .store import FINISHED, Store, check_store, gathered_calibration
from .threads import KEY as THREADS, merged_threads, recorded
from .worker import run_dir_name

SHARED = ("base", "budget", "eval")  # what makes two studies' runs comparable (and the grid's axes)


class Source:
    """One study to merge, read once: its spec, runs, finished results and reference rows."""

    def __init__(self, path: Path, data_paths):
        self.study = StudyDir(path)
        check_store(self.study.store_path)
        check_not_half_extended(self.study)
        self.spec = self.study.read_spec()
        if self.spec.confirms is not None:
            raise UserError(f"{path}: a confirmation study (it re-tests {self.spec.confirms.study!r}) is judged "
                            "against its origin's verdicts; merge the studies it confirms, then confirm the result")
        with reading(path, STUDY, data_paths):
            self.runs = expand(self.spec, stored=str(self.study.spec_path))
        self.configs = {r.run_id: r.config for r in self.runs}  # up to 20,000 runs: looked up, not searched
        check_matches(self.study, self.spec, self.runs)  # spec.yaml not edited since
        check_complete(self.study, self.runs)  # its store holds every finished run its files hold
        store = Store(self.study.store_path, readonly=True)  # a source is only read
        try:
            rows = {r["run_id"]: r for r in store.runs()}
            self.calibration = store.calibration()
            self.identities = stored_identities(store)
            self.cpu_threads = recorded(store)  # the torch thread count its CPU runs trained with
            self.extensions = extensions(store)
            self.unknown = store.get_meta("extensions_unknown")  # its history was lost in a rebuild (rebuild.py)
        finally:
            store.close()
        self.finished = {}  # run id -> (the config hash its store and result.json name, the saved result)
        for r in self.runs:
            row = rows.get(r.run_id)
            if row is None or row["status"] not in FINISHED:
                continue
            saved = read_result(self.run_dir(r.run_id), r.run_id, row["config_hash"])
            if saved is None:
                raise UserError(f"{path}: run '{r.run_id}' is finished in the store but its result.json is missing, "
                                "stale or malformed; merge takes finished runs with their own files")
            self.finished[r.run_id] = (row["config_hash"], saved)
        # the config each finished run trained and was evaluated with, as its own directory says (the store's
        # copy of it is the source's word, and a store can be edited): read by this version, as the spec's are
        self.trained = {run_id: RunDir(self.run_dir(run_id)).read_config() for run_id in self.finished}

    def run_dir(self, run_id: str) -> Path:
        return self.study.path / "runs" / run_dir_name(run_id)

    @property
    def name(self) -> str:
        return f"'{self.spec.name}' ({self.study.path})"


def merged_spec(sources: list[Source], name: str) -> StudySpec:
    """One spec holding every source's datasets, variants, seeds and reference numbers."""
    first = sources[0].spec
    shared = first.model_dump(mode="json", include=set(SHARED))
    datasets, variants, seeds, grid = {}, {}, [], {axis: [] for axis in first.grid}
    for src in sources:
        theirs = src.spec.model_dump(mode="json", include=set(SHARED))
        if theirs != shared:
            raise UserError(f"{src.name} differs from {sources[0].name} in {first_difference(shared, theirs)}; only "
                            "studies with the same recipe, budget and evaluation can be merged")
        if set(src.spec.grid) != set(grid):
            raise UserError(f"{src.name} varies {', '.join(sorted(src.spec.grid)) or 'no grid axis'} and "
                            f"{sources[0].name} {', '.join(sorted(grid)) or 'none'}: merged grids need the same axes")
        for axis, values in src.spec.grid.items():
            grid[axis] += [v for v in values if v not in grid[axis]]
        for entry in src.spec.datasets:
            ds = _dataset(entry)[0]
            if datasets.setdefault(ds, entry) != entry:
                raise UserError(f"dataset '{ds}' is set up differently in {src.name}: "
                                f"{first_difference(_dataset(datasets[ds])[1], _dataset(entry)[1])}")
        own = src.spec.variants or ({"base": {}} if not first.grid else {})
        if not own and any(s.spec.variants for s in sources):
            raise UserError(f"{src.name} has no variants beside its grid while another source has: one spec "
                            "cannot hold both")
        for variant, overrides in own.items():
            if variants.setdefault(variant, overrides) != overrides:
                raise UserError(f"variant '{variant}' means different settings in {src.name}: "
                                f"{first_difference(variants[variant], overrides)}")
        seeds += [s for s in src.spec.seed_list() if s not in seeds]
    implicit = len(variants) == 1 and not first.variants  # one unnamed variant ('base') in every source
    tree = {**first.model_dump(mode="json", exclude={"reference", "confirms"}), "name": name,
            "datasets": list(datasets.values()), "grid": grid, "variants": {} if implicit else variants,
            "seeds": len(seeds) if sorted(seeds) == list(range(len(seeds))) else sorted(seeds),
            "reference": _references([s.spec for s in sources])}
    return StudySpec.model_validate(tree)  # within the seed and run bounds


def _references(specs: list[StudySpec]) -> dict | None:
    """The sources' published numbers joined; they must cite the same source the same way."""
    blocks = [s.reference.model_dump(mode="json") for s in specs if s.reference is not None]
    if not blocks:
        return None
    head = {k: v for k, v in blocks[0].items() if k != "values"}
    values: dict = {}
    for block in blocks:
        if {k: v for k, v in block.items() if k != "values"} != head:
            raise UserError("the sources' reference blocks cite different sources or spreads "
                            f"({first_difference(head, {k: v for k, v in block.items() if k != 'values'})}); "
                            "merge studies that reproduce the same publication")
        for ds, by_variant in block["values"].items():
            for variant, metrics in by_variant.items():
                for metric, value in metrics.items():
                    kept = values.setdefault(ds, {}).setdefault(variant, {}).setdefault(metric, value)
                    if kept != value:
                        raise UserError(f"the sources publish different numbers for {ds}.{variant}.{metric}")
    return {**head, "values": values}


def merge_studies(paths: list[Path], out: Path, name: str | None = None, link: bool = False,
                  data_paths=()) -> dict:
    """Write the merged study to ``out`` (which must not hold anything yet); return counts."""
    if len(paths) < 2:
        raise UserError("give at least two study directories to merge")
    if len({p.resolve() for p in paths}) < len(paths):
        raise UserError("a study directory is named twice")
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out} is not empty; merge writes a new study directory")
    name = name or out.name
    if not SAFE_NAME.match(name):
        raise UserError(f"study name {name!r} must be a plain directory name (pass --name)")
    sources = [Source(p, data_paths) for p in paths]
    spec = merged_spec(sources, name)
    with reading(out, STUDY, data_paths):  # the merged study's paths obey the rule its own commands will
        runs = expand(spec)
    taken = _take(sources, runs)
    _check_protocols(runs, taken)
    check_merged(taken, {r.run_id: r.dataset for r in runs})  # one content per dataset and split
    _check_timed_alike(spec, taken)
    joined: dict[str, set[str]] = {}
    for src in sources:
        for dataset, identities in src.identities.items():
            joined.setdefault(dataset, set()).update(identities)
    check_joined(joined, "the sources")  # one classifier's weights per dataset
    calibration = _joined_calibration(sources, spec)
    threads, threads_note = merged_threads({src.name: src.cpu_threads for src in sources})
    tmp = out.parent / f".{out.name}.merging-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _write(tmp, spec, runs, sources, taken, calibration, link, threads)
        if out.exists():
            out.rmdir()  # empty, checked above
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    made_by = provenance.software_of([src.finished[rid][1] for rid, src in taken.items()])
    return {"runs": len(runs), "taken": len(taken), "queued": len(runs) - len(taken), "software": sorted(made_by),
            "uncalibrated": sorted({r.dataset for r in runs} - set(calibration)),
            "threads_note": threads_note}  # printed by the caller: only a merge that was written says it


def _take(sources: list[Source], runs: list) -> dict:
    """run id -> the source its finished run comes from, each checked against the merged spec's config."""
    by_id = {r.run_id: r for r in runs}
    taken = {}
    for src in sources:
        for run_id in src.finished:
            if run_id in taken:
                raise UserError(f"run '{run_id}' is finished in both {taken[run_id].name} and {src.name}; keep it in "
                                "one of them (merging would have to choose one result)")
            run = by_id.get(run_id)
            if run is None:  # cannot happen: the merged spec holds every source's datasets, variants and seeds
                raise UserError(f"run '{run_id}' of {src.name} has no place in the merged spec")
            # both read by this version (check_matches held the source's runs to its store): a field added
            # since, with its default, is no difference
            theirs = src.configs[run_id]
            if make_config(run.config).digest() != make_config(theirs, stored=f"run {run_id}").digest():
                raise UserError(f"run '{run_id}' of {src.name} was trained with another config than the merged "
                                f"spec gives ({first_difference(theirs, run.config) or 'its resolved config'})")
            trained, wanted = src.trained[run_id], make_config(run.config)
            if trained.digest() != wanted.digest():
                diff = first_difference(trained.model_dump(mode="json"), wanted.model_dump(mode="json"))
                raise UserError(f"run '{run_id}' of {src.name} trained with another config than its store and the "
                                f"merged spec give ({diff or 'its resolved config'}: its config.yaml -> spec; the "
                                "store was edited?); merging would pool it with runs of another recipe")
            taken[run_id] = src
    return taken


def _check_protocols(runs: list, taken: dict) -> None:
    """The runs taken into one dataset were evaluated with one sample count on each split: the sources' specs
    say the same evaluation, but a store edited to say so (spec.yaml and its meta) would pool numbers of
    another n; the rows of the runs' own result.json say what they were measured with."""
    dataset = {r.run_id: r.dataset for r in runs}
    seen: dict = {}  # (dataset, role) -> (split, n_fake), the run that showed it first
    for run_id, src in taken.items():
        for row in src.finished[run_id][1].get("evals", []):
            role = "heldout" if "heldout" in row["tags"] else "repeat" if "repeat" in row["tags"] else "selection"
            found = (row["protocol"]["split"], row["protocol"]["n_fake"])
            first = seen.setdefault((dataset[run_id], role), (found, run_id, src))
            if first[0] != found:
                raise UserError(f"dataset '{dataset[run_id]}': run '{first[1]}' of {first[2].name} was evaluated with "
                                f"n_fake {first[0][1]} on the {first[0][0]} split ({role}), run '{run_id}' of "
                                f"{src.name} with n_fake {found[1]} on the {found[0]} split; their numbers are not "
                                "comparable (a store edited to say another evaluation?)")


def _check_timed_alike(spec: StudySpec, taken: dict) -> None:
    """A budget in seconds is the same training only on the same machine: a faster one trains more steps in it,
    so runs trained on two machines (variants studied apart, or seeds) did not get equal budgets."""
    if not spec.budget.seconds:
        return
    machines: dict[str, list[str]] = defaultdict(list)
    for run_id, src in taken.items():
        machines[provenance.machine_label(src.finished[run_id][1].get("software"))].append(run_id)
    if len(machines) > 1:
        said = "; ".join(f"{name}: {len(ids)} run{'s' * (len(ids) > 1)} (e.g. {ids[0]})"
                         for name, ids in sorted(machines.items()))
        raise UserError(f"the budget is {spec.budget.seconds:g} training seconds per run and the sources' runs were "
                        f"trained on {len(machines)} machines ({said}): a faster machine trains more steps in them, so "
                        "the runs did not get equal budgets; merge studies budgeted in steps or flops")


def _copy_run(source: Path, target: Path, link: bool) -> None:
    """Plain files and folders only: a link in a stranger's run directory could point anywhere."""
    if source.is_symlink() or not source.is_dir():
        raise UserError(f"{source}: not a plain folder; merge copies run directories only as such")
    target.mkdir(parents=True)
    for entry in sorted(source.iterdir()):
        if entry.is_symlink() or not (entry.is_file() or entry.is_dir()):
            raise UserError(f"{entry}: not a plain file or folder; merge copies run directories only as such")
        if entry.is_dir():
            _copy_run(entry, target / entry.name, link)
        elif link:
            try:
                os.link(entry, target / entry.name)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                raise UserError(f"--link: {entry} is on another file system than the merged study; copy "
                                "instead (leave out --link) or choose an --out beside the sources") from None
        else:
            shutil.copy2(entry, target / entry.name)


def _write(tmp: Path, spec: StudySpec, runs: list, sources: list[Source], taken: dict, calibration: dict,
           link: bool, threads: int | None) -> None:
    study = StudyDir(tmp)
    tmp.mkdir(parents=True)
    (tmp / "spec.yaml").write_text(yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False))
    for run_id, src in taken.items():
        _copy_run(src.run_dir(run_id), tmp / "runs" / run_dir_name(run_id), link)
    store = Store(study.store_path)
    try:
        store.set_meta(spec_digest=spec.digest(), name=spec.name,
                       spec=json.dumps(spec.model_dump(mode="json"), sort_keys=True))
        if threads is not None:  # its queued runs train as the sources' did (study/threads.py)
            store.set_meta(**{THREADS: str(threads)})
        store.add_runs(runs)
        for run_id, src in taken.items():
            config_hash, saved = src.finished[run_id]
            store.keep_config_hash(run_id, config_hash)  # as its result.json says, for `study rebuild`
            store.finish(run_id, saved)
        for dataset, rows in calibration.items():
            store.add_calibration(dataset, rows)
        store.set_meta(extensions=json.dumps(_history(sources, spec, runs, taken)))
        if lost := [f"{src.spec.name}: {src.unknown}" for src in sources if src.unknown]:
            store.set_meta(extensions_unknown="; ".join(lost))  # still unknown in the merged study
    finally:
        store.close()


def _joined_calibration(sources: list[Source], spec: StudySpec) -> dict[str, list[dict]]:
    """dataset -> its reference rows for every seed of the merged spec, each seed's from the first source
    that drew it (the rows of a seed do not depend on the others); datasets some seed lacks are left out."""
    seeds = spec.seed_list()
    joined: dict[str, dict] = defaultdict(dict)  # dataset -> seed -> rows
    for src in sources:
        for dataset, rows in gathered_calibration(src.calibration).items():
            by_seed: dict[int, list[dict]] = defaultdict(list)
            for row in rows:
                by_seed[row["seed"]].append(row)
            for seed, found in by_seed.items():
                joined[dataset].setdefault(seed, found)
    return {ds: [row for s in seeds for row in by_seed[s]] for ds, by_seed in joined.items()
            if all(s in by_seed for s in seeds)}


def _history(sources: list[Source], spec: StudySpec, runs: list, taken: dict) -> list[dict]:
    """The sources' own extensions (named by source), then the merge itself. The merge is a second look
    at a dataset where one variant's finished seeds come from more than one source, or where it gives a
    variant with results seeds none of its sources planned for it (queued: trained after a look)."""
    records = [{**r, "source": src.spec.name, "spec_digest": ""} for src in sources for r in src.extensions]
    origins = defaultdict(set)  # (dataset, variant) -> the sources its finished runs come from
    planned = defaultdict(set)  # (dataset, variant) -> the seeds its sources' specs gave it
    for src in sources:
        for r in src.runs:
            planned[r.dataset, r.variant].add(r.seed)
    counts = defaultdict(lambda: defaultdict(int))  # (dataset, variant) -> source -> its finished seeds there
    for r in runs:
        if r.run_id in taken:
            origins[r.dataset, r.variant].add(taken[r.run_id])  # the source itself: two may share a name
            counts[r.dataset, r.variant][taken[r.run_id]] += 1
    for r in runs:  # a seed no source planned for a variant with results: added after a look, as extend does
        if origins[r.dataset, r.variant] and r.seed not in planned[r.dataset, r.variant]:
            origins[r.dataset, r.variant].add("added by the merge")
    first_looks: dict[str, int] = {}
    for key, names in origins.items():  # key: (dataset, variant)
        if len(names) > 1:
            fewest = min(counts[key].values())
            first_looks[key[0]] = min(fewest, first_looks.get(key[0], fewest))
    first = sources[0]
    first_variants = {r.variant for r in first.runs}
    first_datasets = {r.dataset for r in first.runs}
    records.append({
        "at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "runs_before": len(first.runs),
        "finished_before": len(taken), "runs_after": len(runs),
        "seeds_before": first.spec.seed_list(), "seeds_after": spec.seed_list(),
        "variants_added": sorted({r.variant for r in runs} - first_variants),
        "datasets_added": sorted({r.dataset for r in runs} - first_datasets),
        "seeds_added_to": sorted({ds for (ds, _), names in origins.items() if len(names) > 1}),
        # the first look at a joined comparison: any source may have been seen first, so the fewest seeds one
        # source gave such a variant (not the first source's count: the sentence would depend on the order given);
        # per dataset (each dataset's report cites its own), and the fewest of them as records before 2026-11-29
        "first_looks": first_looks, "first_look": min(first_looks.values(), default=None),
        "spec_digest": spec.digest(), "by": "merge",
        "sources": [f"{s.spec.name} ({len(s.runs)} run{'s' if len(s.runs) > 1 else ''}, {len(s.finished)} finished)"
                    for s in sources]})
    return records

"""Calibration rows of a dataset's leaderboard, measured with the runs' own protocol.

*Real data* (the ceiling): real samples the reference set does not contain (the other split) compared
with the reference set. *Trivial generators* (the floor): samples of a Gaussian fitted to the training
data (mean and full covariance) and of uniform noise over the training data's range (per coordinate).
Both are compared with the same reference subset, the same extractor, metrics and n as the runs'
evaluations, once per study seed, for each of the two checkpoint protocols (``final``: train reference;
``best``: test reference, see ``evaluation.py``). A variant that does not beat the better trivial
generator has learned nothing a two-line baseline would not give.
"""

from __future__ import annotations

import numpy as np
import torch

REAL = "real data"
TRIVIAL = ("trivial: Gaussian fit", "trivial: uniform box")
PROTOCOLS = {"final": ("train", "test"), "best": ("test", "train")}  # checkpoint: (reference split, held-out split)
FIT_ROWS = 5000  # training rows a trivial generator is fitted to


# Each trivial generator is fitted once per dataset (the eigendecomposition of a 2,352-dimensional
# covariance takes seconds) and sampled for every protocol and seed.
def _fit_gaussian(fit: np.ndarray) -> tuple[np.ndarray, ...]:
    mu, cov = fit.mean(0), np.cov(fit, rowvar=False).reshape(fit.shape[1], fit.shape[1])
    lam, vec = np.linalg.eigh(cov)
    return mu, np.sqrt(np.clip(lam, 0, None)), vec


def _gaussian(model: tuple[np.ndarray, ...], n: int, g: np.random.Generator) -> np.ndarray:
    mu, root, vec = model
    return mu + (g.standard_normal((n, len(mu))) * root) @ vec.T


def _fit_uniform(fit: np.ndarray) -> tuple[np.ndarray, ...]:
    return fit.min(0), fit.max(0)


def _uniform(model: tuple[np.ndarray, ...], n: int, g: np.random.Generator) -> np.ndarray:
    low, high = model
    return g.uniform(low, high, size=(n, len(low)))


FITS = {TRIVIAL[0]: (_fit_gaussian, _gaussian), TRIVIAL[1]: (_fit_uniform, _uniform)}


def calibration_runs(runs) -> dict:
    """Dataset -> the run whose config its reference rows are drawn from: the first of the spec's order (the
    runner draws them so, and `study verify` draws them again so)."""
    first: dict = {}
    for r in runs:
        first.setdefault(r.dataset, r)
    return first


class Cancelled(Exception):
    """``calibrate`` stopped between two rows because its caller asked (``Early.cancel``)."""


def extraction_device(config: dict, device: str | None = None) -> torch.device:
    """Where the rows' features are extracted: ``device`` when given (verify recomputes on the CPU, as it
    does the runs' rows), else the runs' own device (``config``), as the runs are evaluated where they
    trained (worker.py): a GPU study's reference rows, 468,000 images through the Stacked MNIST LeNet at
    the preset's eval.n, take seconds there and 10-15 core-minutes on the driver's CPU. Only CUDA: a driver
    without the runs' GPU (a Ray head) and other accelerators (MPS has no float64) use the CPU."""
    from ..errors import UserError
    from ..training.build import resolve_device

    try:
        dev = resolve_device(str(device or config.get("device", "auto")))
    except UserError:  # the runs' device is not this process's (the driver of a cluster)
        return torch.device("cpu")
    return dev if dev.type == "cuda" else torch.device("cpu")


def calibrate(config: dict, eval_spec: dict, seeds: list[int], stop=None, device: str | None = None) -> list[dict]:
    """Rows {row, checkpoint, seed, metrics, protocol} for one dataset (``config``: one of its runs); ``stop``:
    a callable asked before each row, which raises ``Cancelled`` when it answers True; ``device``: see
    ``extraction_device``."""
    from ..config import make_config
    from ..data import load_dataset
    from ..evaluate import DEFAULT_N, _extract, _subset, real_features
    from ..metrics.features import build_extractor
    from ..metrics.suite import Context, available, compute, default_metrics
    from ..training.seeding import derive_seed

    cfg = make_config(config)
    train = load_dataset(cfg.data, "train")
    kind = "images" if train.is_image else "points"
    dev = extraction_device(config, device)
    ext = build_extractor(eval_spec.get("extractor") or ("lenet" if kind == "images" else "points"), cfg.data, dev)
    n = eval_spec.get("n") or DEFAULT_N[kind]
    fit = _subset(train, FIT_ROWS).x.reshape(min(FIT_ROWS, len(train)), -1).double().numpy()
    models = {name: (draw, fit_model(fit)) for name, (fit_model, draw) in FITS.items()}
    low, high = (-1.0, 1.0) if train.is_image else (-np.inf, np.inf)  # images stay in the pixel range
    rows = []
    for checkpoint, (ref_split, held_split) in PROTOCOLS.items():
        ref_full = load_dataset(cfg.data, ref_split)
        ref_data = _subset(ref_full, n)
        real = real_features(ext, ref_data, cfg.data, ref_split)
        held = load_dataset(cfg.data, held_split)
        ctx = Context(modes=ref_full.modes, sigma=ref_full.sigma, real_labels=ref_full.y,
                      num_classes=ref_full.num_classes)  # as evaluate_run builds it
        for seed in seeds:
            g = np.random.default_rng(derive_seed(seed, 77, len(checkpoint)))
            pick = torch.from_numpy(g.permutation(len(held))[:n])
            samples = {REAL: held.x[pick]}
            for name, (draw, model) in models.items():
                x = np.clip(draw(model, n, g), low, high)
                samples[name] = torch.from_numpy(x).float().reshape(n, *train.shape)
            for row, x in samples.items():
                if stop is not None and stop():
                    raise Cancelled(f"calibration of {cfg.data.get('name')} stopped")
                fake = _extract(ext, x)
                names = [m for m in (eval_spec.get("metrics") or default_metrics(kind, ext.has_logits))
                         if available(real, fake, ctx)[m]]
                protocol = {"dataset": cfg.data, "split": ref_split, "n_real": len(ref_data), "n_fake": len(x),
                            "extractor": ext.identity, "seed": seed, "samples": row,
                            "threads": torch.get_num_threads(), "device": dev.type}
                rows.append({"row": row, "checkpoint": checkpoint, "seed": seed, "metrics": compute(names, real, fake, ctx),
                             "protocol": protocol})
    return rows


class Early:
    """The reference rows of ``jobs`` (dataset -> config), computed in a thread of the driver while the
    study's runs train in other processes (a pool's workers, Ray's tasks): the driver only waits for them
    there, and computed after them the rows kept one core idle for their single-threaded parts (exact
    Wasserstein, k-NN). The thread runs torch with the study's thread count (``threads``; torch's count is
    the process's, and the driver computes nothing else meanwhile) and the driver's path confinement, so the rows are those the driver would compute after the
    runs; only the driver's thread writes them to the store (``rows``). Not for runs trained in
    this process: they set this process's thread count while the rows are computed."""

    def __init__(self, jobs: dict, eval_spec: dict, seeds: list[int], threads: int | None = None):
        import contextvars
        import threading

        from .threads import threads_of

        self.rows: dict = {}
        self.error: tuple | None = None  # (dataset, exception): the rows after it are not computed, as before
        self._stop = threading.Event()

        def work() -> None:
            with threads_of({"threads": threads}):  # the study's count, as runner._calibrate uses
                for dataset, config in jobs.items():
                    try:
                        self.rows[dataset] = calibrate(config, eval_spec, seeds, stop=self._stop.is_set)
                    except Cancelled:
                        return
                    except Exception as exc:  # noqa: BLE001  (raised in the driver's thread, where it would have been)
                        self.error = dataset, exc
                        return

        self.thread = threading.Thread(target=contextvars.copy_context().run, args=(work,), daemon=True,
                                       name="ganbench-calibration")
        self.thread.start()

    def cancel(self) -> None:
        """Stop after the row being computed and wait for the thread (the study was interrupted): it gives back
        torch's thread count and prints no more progress, rather than going on in a daemon thread into a
        library caller's next work or into the interpreter's shutdown."""
        self._stop.set()
        self.thread.join()

    def result(self, dataset: str) -> list[dict] | None:
        """The rows of ``dataset`` once computed; None when it was not among the jobs."""
        self.thread.join()
        if self.error is not None and self.error[0] == dataset:
            raise self.error[1]
        return self.rows.get(dataset)

"""A small convolutional classifier that ganbench trains itself, per labelled dataset.

Its penultimate layer (128-d) gives "FID-LeNet" features; its logits give Inception-Score-like and
class-coverage numbers for digit-like data, in seconds on a CPU. Training is deterministic (fixed seed,
seeded batch order, CPU, one thread whatever the process's count), uses the dataset's train split, and
reports accuracy on the test split. The trained weights are cached (safetensors + JSON) under a key that
hashes the training data, the architecture version, the recipe and torch's version, so a changed dataset
never reuses a stale classifier.

A classifier can be prepared ahead (``ganbench data prepare mnist``) and carried to another machine in
its cache folder (``GANBENCH_CACHE``): when no entry has this torch version's key, an entry for the same
data (train and test digests), architecture version and recipe made with another torch version is used.
Its weights are then the carried ones.

The identity (in every result's protocol and every real-feature cache key) names the weights, not only the
recipe: ``lenet-<dataset>-v<VERSION>-<key>-w<12 hex of the weights' sha256>``. The same recipe has given
other weights (a cache entry made before training ran on one thread, by a multi-threaded process; a carried
entry from another torch version), so two machines could record one identity for two classifiers. An
identity without the ``-w`` part was recorded before this: its weights are not known (``compare_identity``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from filelock import FileLock
from safetensors.torch import load_file
from torch import nn
from tqdm.auto import tqdm

from ...cache import cache_dir, key_digest, tensor_digest
from ...confine import BadJSON, parse_json
from ...data import Dataset, load_dataset
from ...errors import UserError
from ...fileio import atomic_save_tensors, atomic_write_text

VERSION = 1
RECIPE = {"lr": 1e-3, "batch_size": 64, "weight_decay": 1e-4, "seed": 0, "shift": 2}


class LeNet(nn.Module):
    """conv3x3(32) [maxpool for >= 16 px] - conv3x3(64) - maxpool - fc128 - fc C."""

    def __init__(self, channels: int, resolution: int, num_classes: int):
        super().__init__()
        layers = [nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU()]
        if resolution >= 16:
            layers.append(nn.MaxPool2d(2))
        side = resolution // 4 if resolution >= 16 else resolution // 2
        layers += [nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                   nn.Flatten(), nn.Linear(64 * side * side, 128), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)
        return f, self.head(f)


def _epochs(n_train: int) -> int:
    return max(8, min(40, 60_000 // max(n_train, 1)))  # ~ the same number of steps on small and big data


def _shift(x: torch.Tensor, g: torch.Generator, pixels: int) -> torch.Tensor:
    """Random translation by up to ``pixels`` (zero padding = background -1): cheap augmentation."""
    if pixels == 0:
        return x
    padded = F.pad(x, (pixels,) * 4, value=-1.0)
    dx, dy = torch.randint(0, 2 * pixels + 1, (2,), generator=g).tolist()
    return padded[:, :, dy:dy + x.shape[2], dx:dx + x.shape[3]]


@torch.no_grad()
def accuracy(net: LeNet, data: Dataset) -> float:
    net.eval()
    correct = sum(int((net(data.x[i:i + 512])[1].argmax(1) == data.y[i:i + 512]).sum())
                  for i in range(0, len(data), 512))
    return correct / len(data)


def train_classifier(train: Dataset, test: Dataset, progress: bool = True) -> tuple[LeNet, float]:
    """Trained on one CPU thread, whatever the caller's count: a conv net's sums split over another number
    of threads round differently, and a 2-thread process and a 1-thread pool worker must train the same
    weights (the identity names them, so other weights would make every protocol another one)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train_classifier(train, test, progress)
    finally:
        torch.set_num_threads(before)


def _train_classifier(train: Dataset, test: Dataset, progress: bool) -> tuple[LeNet, float]:
    c, h, _ = train.shape
    torch.manual_seed(RECIPE["seed"])
    net = LeNet(c, h, train.num_classes)
    opt = torch.optim.AdamW(net.parameters(), lr=RECIPE["lr"], weight_decay=RECIPE["weight_decay"])
    g = torch.Generator().manual_seed(RECIPE["seed"])
    epochs, bs = _epochs(len(train)), RECIPE["batch_size"]
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, RECIPE["lr"], total_steps=epochs * -(-len(train) // bs))
    shift = RECIPE["shift"] if h >= 16 else 1
    bar = tqdm(total=epochs * -(-len(train) // bs), desc=f"training the LeNet extractor on {train.name} (once, cached)",
               unit="step", disable=not progress, dynamic_ncols=True)
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(len(train), generator=g)
        for i in range(0, len(train), bs):
            idx = perm[i:i + bs]
            loss = F.cross_entropy(net(_shift(train.x[idx], g, shift))[1], train.y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
    bar.close()
    return net.eval(), accuracy(net, test)


def weights_digest(net: nn.Module) -> str:
    """sha256 over the state dict's names, dtypes, shapes and bytes, in name order (not over the file, whose
    header a rewrite may order otherwise)."""
    state = net.state_dict()
    return key_digest(**{name: tensor_digest(state[name]) for name in sorted(state)})[:12]


WEIGHTS_TAG = "-w"  # between the cache key and the weights digest in an identity


def compare_identity(stored: str, current: str) -> str:
    """``same``; ``unrecorded``: ``stored`` is ``current`` as recorded before identities named the LeNet's
    weights (the recipe matches, which weights made it is not known); or ``different``."""
    if stored == current:
        return "same"
    head, tag, digest = current.rpartition(WEIGHTS_TAG)
    lenet = current.startswith(("lenet-", "stacked-lenet-"))
    return "unrecorded" if lenet and tag and len(digest) == 12 and stored == head else "different"


def cache_base(dataset: dict, train: Dataset, test: Dataset) -> tuple[Path, str]:
    """Where a dataset's classifier is cached (path without suffix), and its key."""
    return _cache_base(dataset, _digests(train, test))


def _digests(train: Dataset, test: Dataset) -> dict:
    return {"data": tensor_digest(train.x, train.y), "test": tensor_digest(test.x, test.y)}


def _cache_base(dataset: dict, digests: dict) -> tuple[Path, str]:
    key = key_digest(version=VERSION, recipe=RECIPE, **digests, torch=torch.__version__.split("+")[0])
    return cache_dir("classifiers") / f"lenet-{dataset['name']}-v{VERSION}-{key}", key


def _carried(dataset: dict, digests: dict) -> Path | None:
    """A cached classifier for the same data, version and recipe made with another torch version."""
    for meta_path in sorted(cache_dir("classifiers").glob(f"lenet-{dataset['name']}-v{VERSION}-*.json")):
        try:
            meta = parse_json(meta_path.read_bytes())
        except (OSError, BadJSON):
            continue
        if (isinstance(meta, dict) and meta.get("digests") == digests and meta.get("recipe") == RECIPE
                and meta.get("version") == VERSION and meta_path.with_suffix(".safetensors").is_file()):
            return meta_path.with_suffix("")
    return None


def _record(meta_path: Path) -> dict:
    """A cached classifier's record, checked: the cache may be shared, and its key and accuracy are printed."""
    try:
        meta = parse_json(meta_path.read_bytes())
        why = "" if isinstance(meta, dict) else "not a JSON object"
    except BadJSON as exc:
        meta, why = None, str(exc)
    if not why and not (isinstance(meta.get("key"), str) and type(meta.get("test_accuracy")) in (int, float)):
        why = "needs 'key' and 'test_accuracy'"
    if why:
        raise UserError(f"{meta_path}: not a ganbench classifier record ({why}); delete it and "
                        f"{meta_path.with_suffix('.safetensors').name} (the classifier is trained again)")
    return meta


class LeNetFeatures:
    """Callable: float NCHW images in [-1, 1] -> {"features": (N, 128), "logits": (N, C)}."""

    name = "lenet"
    has_logits = True

    def __init__(self, dataset: dict, progress: bool = True, device: str | torch.device = "cpu"):
        train, test = load_dataset(dataset, "train"), load_dataset(dataset, "test")
        if not train.is_image or train.y is None:
            raise UserError(f"the lenet extractor needs labelled image data; '{dataset['name']}' is not")
        digests = _digests(train, test)
        base, key = _cache_base(dataset, digests)
        self.net = LeNet(train.shape[0], train.shape[1], train.num_classes)
        # one process trains, the others (pool workers of a study) wait and then read its result
        with FileLock(f"{base}.lock"):
            if not Path(f"{base}.json").is_file() or not Path(f"{base}.safetensors").is_file():
                base = _carried(dataset, digests) or base
            meta_path, weights_path = Path(f"{base}.json"), Path(f"{base}.safetensors")
            if meta_path.is_file() and weights_path.is_file():
                meta = _record(meta_path)
                self.net.load_state_dict(load_file(str(weights_path)))
                key = meta["key"]
                known = dict(meta)
                if "digests" not in meta:  # made before carried classifiers: record what it was trained on
                    meta.update(digests=digests, torch=torch.__version__.split("+")[0])
                meta["weights"] = weights_digest(self.net)  # recorded since identities name weights
                if meta != known:
                    atomic_write_text(meta_path, json.dumps(meta, indent=1))
            else:
                t0 = time.perf_counter()
                self.net, acc = train_classifier(train, test, progress)
                atomic_save_tensors({k: v.contiguous() for k, v in self.net.state_dict().items()}, weights_path)
                meta = {"dataset": dataset, "test_accuracy": acc, "version": VERSION, "recipe": RECIPE, "key": key,
                        "digests": digests, "torch": torch.__version__.split("+")[0],
                        "weights": weights_digest(self.net),
                        "train_seconds": round(time.perf_counter() - t0, 1)}
                atomic_write_text(meta_path, json.dumps(meta, indent=1))
        self.meta, self.weights_file = meta, weights_path
        self.device = torch.device(device)
        self.net.eval().to(self.device)  # trained on the CPU (deterministic); used wherever asked
        self.test_accuracy = meta["test_accuracy"]
        self.identity = f"lenet-{dataset['name']}-v{VERSION}-{key}{WEIGHTS_TAG}{meta['weights']}"
        self.input_shape = train.shape

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        if tuple(images.shape[1:]) != tuple(self.input_shape):
            raise UserError(f"the lenet extractor was trained on images of shape {self.input_shape}; "
                            f"got {tuple(images.shape[1:])}")
        outs = [self.net(images[i:i + 512].float().to(self.device)) for i in range(0, len(images), 512)]
        return {"features": torch.cat([f for f, _ in outs]).double().cpu(),
                "logits": torch.cat([lg for _, lg in outs]).double().cpu()}


class StackedLeNetFeatures:
    """For Stacked MNIST: each colour channel goes through the MNIST LeNet. Features are the three
    128-d feature vectors side by side; the 1000 logits are log p(R) + log p(G) + log p(B) for every
    digit triple, so the predicted class is the mode (100 R + 10 G + B)."""

    name = "lenet"
    has_logits = True

    def __init__(self, dataset: dict, progress: bool = True, device: str | torch.device = "cpu"):
        self.inner = LeNetFeatures({"name": "mnist", "path": dataset.get("path")}, progress, device)
        self.test_accuracy, self.weights_file = self.inner.test_accuracy, self.inner.weights_file
        self.identity = "stacked-" + self.inner.identity
        self.input_shape = (3, 28, 28)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        if tuple(images.shape[1:]) != self.input_shape:
            raise UserError(f"stacked LeNet expects (3, 28, 28) images; got {tuple(images.shape[1:])}")
        n = len(images)
        out = self.inner(images.reshape(n * 3, 1, 28, 28))
        feats = out["features"].reshape(n, 3 * out["features"].shape[1])
        lp = out["logits"].log_softmax(1).reshape(n, 3, 10)
        joint = lp[:, 0, :, None, None] + lp[:, 1, None, :, None] + lp[:, 2, None, None, :]
        return {"features": feats, "logits": joint.reshape(n, 1000)}

"""Checkpoints: tensors in safetensors, everything else in a JSON sidecar. Never pickle.

``step_000500.safetensors`` holds prefixed tensors (``G.``, ``G_ema.``, ``D.``, ``opt_g.3.exp_avg``...);
``step_000500.json`` holds the step, the resolved config, optimizer hyper-parameters and timings.
Both are written to a temp file and renamed; the JSON is written last, so a checkpoint exists only
once both files are complete.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ..confine import NotAStoredFile, NotStoredJSON, read_stored_json, stored_file
from ..errors import UserError

from ..fileio import atomic_save_tensors, atomic_write_text
from ..limits import MAX_STORED_JSON
from ..textsafe import as_line

_STEP_FILE = re.compile(r"^step_(\d+)\.json$")


class UnreadableCheckpoint(UserError):
    """A checkpoint file that cannot be read: damaged, missing, or not a checkpoint. Commands that use the
    checkpoint stop on it (a UserError); `study verify` reports it as a difference for that run instead."""

    def __init__(self, path: Path, reason: str, hint: str = ""):
        super().__init__(path, reason, hint)  # all three in args: it pickles across worker processes
        self.path, self.reason, self.hint = Path(path), reason, hint

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}" + (f"; {self.hint}" if self.hint else "")


def _flat_optimizer(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict]]:
    sd = opt.state_dict()
    tensors = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            assert torch.is_tensor(value), f"non-tensor optimizer state {key!r}"
            tensors[f"{prefix}.{idx}.{key}"] = value.detach().cpu().contiguous()
    groups = json.loads(json.dumps(sd["param_groups"], default=list))
    return tensors, groups


def _unflat_optimizer(prefix: str, tensors: dict[str, torch.Tensor], groups: list[dict]) -> dict:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            _, idx, key = name.split(".", 2)
            state.setdefault(int(idx), {})[key] = value
    return {"state": state, "param_groups": groups}


def _module_tensors(prefix: str, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def _sub(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    n = len(prefix) + 1
    return {k[n:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def save_checkpoint(directory: Path, step: int, modules: dict[str, torch.nn.Module],
                    optimizers: dict[str, torch.optim.Optimizer], meta: dict[str, Any]) -> Path:
    """Write step_N.safetensors then step_N.json; return the JSON path."""
    tensors: dict[str, torch.Tensor] = {}
    for name, module in modules.items():
        tensors.update(_module_tensors(name, module))
    groups = {}
    for name, opt in optimizers.items():
        t, groups[name] = _flat_optimizer(name, opt)
        tensors.update(t)
    stem = f"step_{step:07d}"
    atomic_save_tensors(tensors, directory / f"{stem}.safetensors", {"format": "ganbench-checkpoint-v1"})
    record = {**meta, "step": step, "tensors": f"{stem}.safetensors", "optimizers": groups}
    json_path = directory / f"{stem}.json"
    atomic_write_text(json_path, json.dumps(record, indent=1))
    return json_path


def list_checkpoints(directory: Path) -> list[Path]:
    """Complete checkpoints (those with a JSON sidecar), oldest first."""
    directory = stored_file(Path(directory).parent, directory)  # not a link out of the run directory
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _STEP_FILE.match(p.name))]
    return [p for _, p in sorted(found)]


def checkpoint_steps(directory: Path) -> list[int]:
    """Steps of the complete checkpoints in ``directory``, oldest first."""
    return [int(_STEP_FILE.match(p.name).group(1)) for p in list_checkpoints(directory)]


def common_step(directories: list[Path]) -> int:
    """The newest step at which every directory has a complete checkpoint (members of a stack save
    together, so a stack resumes from there), or 0 when there is none."""
    common = set.intersection(*[set(checkpoint_steps(d)) for d in directories])
    return max(common, default=0)


def read_record(json_path: Path) -> dict:
    """A checkpoint's JSON sidecar, checked: it is data from a possibly shared run directory."""
    json_path = Path(json_path)
    try:
        record = read_stored_json(json_path.parent.parent, json_path, MAX_STORED_JSON)  # RUN/checkpoints/step_N.json
    except NotStoredJSON as exc:
        # deleting is advice for a damaged step_N.json only, never for some other file given by mistake
        hint = ("delete it to fall back to the previous checkpoint" if _STEP_FILE.match(json_path.name)
                else "give a checkpoint's step_N.json or its run directory")
        raise UnreadableCheckpoint(json_path, f"not a valid checkpoint sidecar (bad JSON: {exc.why})", hint) from None
    except NotAStoredFile as exc:  # `study verify` counts it as a difference and checks the other runs
        raise UnreadableCheckpoint(json_path, exc.reason) from None
    if not isinstance(record, dict) or not isinstance(record.get("step"), int) or not isinstance(
            record.get("config"), dict):
        raise UnreadableCheckpoint(json_path, "not a ganbench checkpoint sidecar (needs 'step' and 'config')")
    shape, classes = record.get("data_shape", [1]), record.get("num_classes", 0)
    if not (isinstance(shape, list) and 1 <= len(shape) <= 3
            and all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 65536 for d in shape)):
        raise UnreadableCheckpoint(json_path, f"its data_shape {shape!r} is not a sample shape (1 to 3 positive sizes)")
    if classes is not None and not (isinstance(classes, int) and not isinstance(classes, bool)
                                    and 0 <= classes <= 1_000_000):
        raise UnreadableCheckpoint(json_path, f"its num_classes {classes!r} is not a class count")
    return record


def tensors_path(json_path: Path, record: dict) -> Path:
    """The safetensors file a sidecar names: a plain file name beside it, never a path that leaves it."""
    json_path = Path(json_path)
    name = record.get("tensors")
    folder = json_path.parent.resolve()
    if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
        raise UnreadableCheckpoint(json_path, f"'tensors' must name a file beside it; got {name!r}")
    target = (folder / name).resolve()
    if target.parent != folder:  # a symlink pointing out of the run directory
        raise UserError(f"{json_path}: 'tensors' leads outside {folder} ({target}); refusing it")
    try:
        return stored_file(folder, target)  # a regular file: a FIFO there would make loading wait forever
    except NotAStoredFile as exc:
        raise UnreadableCheckpoint(target, exc.reason) from None


def read_checkpoint(json_path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    record = read_record(json_path)
    path = tensors_path(json_path, record)
    try:
        tensors = load_file(str(path))
    except FileNotFoundError:
        raise UnreadableCheckpoint(path, f"checkpoint tensors missing (the sidecar {Path(json_path).name} names it)"
                                   ) from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise UnreadableCheckpoint(path, f"not a readable safetensors checkpoint ({str(exc).splitlines()[0]})",
                                   "delete it and its .json to fall back to the previous checkpoint") from None
    return record, tensors


def restore(record: dict, tensors: dict[str, torch.Tensor], modules: dict[str, torch.nn.Module],
            optimizers: dict[str, torch.optim.Optimizer]) -> None:
    for name, module in modules.items():
        load_module(module, tensors, name)
    try:
        for name, opt in optimizers.items():
            opt.load_state_dict(_unflat_optimizer(name, tensors, record["optimizers"][name]))
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise UserError(f"checkpoint step {record.get('step')}: optimizer state does not fit this config "
                        f"({exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None


def restore_scalers(record: dict, scalers: dict[str, torch.amp.GradScaler]) -> None:
    """fp16 loss scales (scale, growth tracker) from the sidecar's ``grad_scalers``, so a resumed run skips
    and unscales its steps as the uninterrupted one; a checkpoint without them (older, or no fp16) keeps
    the fresh scalers."""
    stored = record.get("grad_scalers")
    for name, scaler in scalers.items():
        state = stored.get(name) if isinstance(stored, dict) else None
        if not scaler.is_enabled() or not state:
            continue
        try:
            scaler.load_state_dict({k: float(v) if k == "scale" else v for k, v in state.items()})
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UserError(f"checkpoint step {record.get('step')}: its grad_scalers.{name} is not a "
                            f"loss-scaler state ({exc.__class__.__name__}: {exc})") from None


@contextlib.contextmanager
def recorded_threads(record: dict | None, device: torch.device):
    """Within the block, torch's CPU thread count is the one the checkpoint ``record`` was trained with: a
    CPU's sums are split over threads, so the last digits of a conv net's step depend on their number, and a
    run resumed in a process with another count (a study resumed with other --workers) would not end with
    the uninterrupted run's weights. No record (a fresh run), another device or no count: unchanged."""
    from .. import cores as machine

    before, wanted = torch.get_num_threads(), (record or {}).get("threads")
    cores = machine.usable_cores()  # as a study's count is capped (study/threads.py): taskset counts
    counted = device.type == "cpu" and type(wanted) is int and wanted >= 1
    change = counted and wanted <= cores and wanted != before  # a run directory is data: never past the cores
    if counted and wanted > cores:
        print(as_line(f"ganbench: step {record.get('step')} was trained with {wanted} torch threads, but only "
                      f"{cores} cores are usable here: resuming with {before}, and the run may end with other last "
                      "digits"), file=sys.stderr)
    if change:
        print(as_line(f"ganbench: resuming with {wanted} torch threads, as step {record.get('step')} was "
                      f"trained (this process had {before})"), file=sys.stderr)
        torch.set_num_threads(wanted)
    try:
        yield
    finally:
        if change:
            torch.set_num_threads(before)


def load_module(module: torch.nn.Module, tensors: dict[str, torch.Tensor], prefix: str,
                check_only: bool = False) -> torch.nn.Module:
    """``check_only``: ``module`` lives on the meta device; only its names and shapes are compared."""
    try:
        with warnings.catch_warnings():
            if check_only:  # torch says that copying into a meta tensor is a no-op: that is the point
                warnings.simplefilter("ignore", UserWarning)
            module.load_state_dict(_sub(prefix, tensors))
    except RuntimeError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = (lines[1] if len(lines) > 1 else lines[0] if lines else "")[:300]  # past "Error(s) in loading ..."
        raise UserError(f"checkpoint tensors for '{prefix}' do not fit the network its config builds "
                        f"({detail}); was the checkpoint copied from another run?") from None
    return module


def prune(directory: Path, keep: int, also_keep: int = 0) -> None:
    """Delete all but the newest ``keep`` checkpoints and the one at step ``also_keep`` (a stack's common step:
    the newest its diverged member saved too, which a resume of the stack starts from). Only the two files this
    module writes per step are touched (their names follow from the step), whatever a sidecar's JSON says."""
    for old in list_checkpoints(directory)[:-keep]:
        if also_keep and int(_STEP_FILE.match(old.name).group(1)) == also_keep:
            continue
        (directory / old.with_suffix(".safetensors").name).unlink(missing_ok=True)
        (directory / old.name).unlink(missing_ok=True)

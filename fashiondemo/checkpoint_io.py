"""Loading and saving OCRNet checkpoints without ever running pickled code.

Two kinds of file:
- a *deployable* checkpoint (``python -m fashiondemo.export``): ``{"state_dict": {name: tensor},
  "meta": {...}}`` holding only tensors and plain containers, loaded with ``torch.load(weights_only=True)``;
- an mmengine *training* checkpoint of our own (optimizer, schedulers, ``message_hub`` with mmengine's
  ``HistoryBuffer`` and numpy arrays). torch >= 2.6 refuses those under ``weights_only``; instead of turning
  the check off, :func:`training_checkpoint_globals` allows exactly the few classes mmengine stores, only
  while such a file is being read. Anything else (a ``__reduce__`` payload, an unknown class) stays refused.

Every refusal is a ``fashiondemo.weights.CheckpointError`` subclass with a message saying what to do.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
from pathlib import Path

from fashiondemo.digests import default_file_mode
from fashiondemo.weights import CorruptCheckpointError, MissingCheckpointError, UnsafeCheckpointError

DEPLOY_FORMAT = "fashiondemo-ocrnet/1"


# HistoryBuffer pickles its statistics methods as ``getattr(HistoryBuffer, "mean")`` (pickle protocol 2).
_HISTORY_BUFFER_METHODS = frozenset({"min", "max", "current", "mean"})


def _history_buffer_getattr(owner, name: str):
    """Stands in for ``builtins.getattr`` while reading a training checkpoint: only HistoryBuffer's methods.

    Allowing the real ``getattr`` would let a crafted file reach any attribute of any allowed object.
    """
    from mmengine.logging import HistoryBuffer

    if owner is HistoryBuffer and name in _HISTORY_BUFFER_METHODS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(f"checkpoint asks for getattr({owner!r}, {name!r}), which is not allowed")


def _training_globals() -> list:
    """What mmengine 0.10 training checkpoints pickle besides tensors: its HistoryBuffer and numpy data."""
    import numpy as np
    from mmengine.logging import HistoryBuffer

    dtype_classes = [type(np.dtype(name)) for name in ("float64", "float32", "int64", "int32", "bool")]
    return [
        HistoryBuffer,
        (_history_buffer_getattr, "builtins.getattr"),
        np.ndarray,
        np.dtype,
        np._core.multiarray._reconstruct,
        np._core.multiarray.scalar,
        *dtype_classes,
    ]


@contextlib.contextmanager
def training_checkpoint_globals():
    """Let ``torch.load(weights_only=True)`` read our own mmengine training checkpoints, inside this block.

    Used around ``Runner.resume`` and by export. The allowance is thread-local to torch's unpickler setup and
    is undone on exit, so other loads in the process keep the strict default.
    """
    import torch

    with torch.serialization.safe_globals(_training_globals()):
        yield


def _is_disallowed_object(message: str) -> bool:
    """Whether torch's weights-only unpickler stopped at an object it may not build (vs. garbage bytes)."""
    lowered = message.lower()
    return any(word in lowered for word in ("global", "reduce", "not allowed", "unsupported class"))


def _refusal(path: Path, exc: pickle.UnpicklingError) -> UnsafeCheckpointError:
    detail = str(exc).strip().splitlines()
    hint = next(
        (line for line in detail if "GLOBAL" in line or "Unsupported" in line), detail[-1] if detail else ""
    )
    return UnsafeCheckpointError(
        f"refusing to load {path}: it contains arbitrary Python objects (a pickle payload), not just "
        "tensors, and fashiondemo only loads checkpoints with torch.load(weights_only=True). Use a "
        f"checkpoint made by `python -m fashiondemo.export`, or a plain state dict. Detail: {hint.strip()}"
    )


def safe_torch_load(path: str | os.PathLike, *, training: bool = False, map_location="cpu"):
    """``torch.load(path, weights_only=True)`` with clear refusals.

    Args:
        path: the checkpoint file.
        training: also accept the mmengine classes of our own training checkpoints (see module docstring).
        map_location: as in ``torch.load``.

    Raises:
        MissingCheckpointError: no such file.
        UnsafeCheckpointError: the file holds pickled objects beyond tensors and plain containers.
        CorruptCheckpointError: truncated, damaged or not a torch file.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise MissingCheckpointError(f"checkpoint {path} does not exist")
    guard = training_checkpoint_globals() if training else contextlib.nullcontext()
    try:
        with guard:
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if _is_disallowed_object(str(exc)):
            raise _refusal(path, exc) from exc
        detail = str(exc).splitlines()[-1] if str(exc) else type(exc).__name__
        raise CorruptCheckpointError(
            f"checkpoint {path} is unreadable (damaged or not a torch checkpoint): {detail}"
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError, KeyError) as exc:
        raise CorruptCheckpointError(
            f"checkpoint {path} is unreadable (truncated, damaged or not a torch checkpoint): {exc}"
        ) from exc


def load_deployable(path: str | os.PathLike, map_location="cpu") -> dict:
    """A checkpoint written by ``fashiondemo.export`` (or any ``{"state_dict", "meta.dataset_meta"}`` file).

    Returns:
        ``{"state_dict": {name: tensor}, "meta": dict}``; ``meta["dataset_meta"]`` has classes and palette.
    """
    checkpoint = safe_torch_load(path, map_location=map_location)
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise CorruptCheckpointError(
            f"{path} is not an OCRNet checkpoint: expected a dict with 'state_dict' "
            f"(make one with `python -m fashiondemo.export WORK_DIR OUT.pth`)"
        )
    meta = checkpoint.get("meta") or {}
    if "dataset_meta" not in meta:
        raise CorruptCheckpointError(
            f"{path} has no meta.dataset_meta (classes, palette), which OCRNet's heads need; "
            f"export it with `python -m fashiondemo.export`"
        )
    return {"state_dict": checkpoint["state_dict"], "meta": meta}


def save_atomic(obj, path: str | os.PathLike, *, check_weights_only: bool = False) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then rename: never a half-written checkpoint.

    With ``check_weights_only`` the temporary file must load with ``torch.load(weights_only=True)`` before it
    replaces ``path`` (a stray non-tensor object in ``obj`` would otherwise ship an unloadable file).
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, default_file_mode())
        if check_weights_only:
            try:
                torch.load(tmp, map_location="cpu", weights_only=True)
            except pickle.UnpicklingError as exc:
                raise UnsafeCheckpointError(
                    f"not writing {path}: its content would not load with weights_only=True ({exc})"
                ) from exc
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path

"""checkpoint_io: weights-only loading, pickle payloads refused, scoped allowance for our training files."""

from __future__ import annotations

import pickle

import pytest
import torch

from fashiondemo.checkpoint_io import (
    load_deployable,
    safe_torch_load,
    save_atomic,
    training_checkpoint_globals,
)
from fashiondemo.classes import dataset_meta
from fashiondemo.digests import default_file_mode
from fashiondemo.weights import CorruptCheckpointError, MissingCheckpointError, UnsafeCheckpointError


class CodePayload:
    """Unpickling this runs ``exec``: writes a marker file. A safe loader must never get that far."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('payload ran')",))


class SneakyGetattr:
    """Asks the unpickler for getattr on an allowed class, the door a real builtins.getattr would open."""

    def __reduce__(self):
        from mmengine.logging import HistoryBuffer

        return (getattr, (HistoryBuffer, "update"))


def _deployable():
    return {"state_dict": {"w": torch.ones(2, 2)}, "meta": {"dataset_meta": dataset_meta(), "iteration": 3}}


def _training_like():
    """What mmengine stores besides tensors: a message hub of HistoryBuffers (numpy inside)."""
    from mmengine.logging import HistoryBuffer

    buffer = HistoryBuffer()
    for value in (3.0, 2.5, 2.0):
        buffer.update(value)
    return {"state_dict": {"w": torch.ones(2)}, "message_hub": {"log_scalars": {"train/loss": buffer}}}


def test_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "marker.txt"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.ones(1)}, "meta": CodePayload(marker)}, path)
    with pytest.raises(UnsafeCheckpointError, match=r"refusing to load .* contains arbitrary Python objects"):
        safe_torch_load(path)
    with pytest.raises(UnsafeCheckpointError):
        load_deployable(path)
    # Even with our training allowance on, the payload is not among the allowed globals.
    with pytest.raises(UnsafeCheckpointError):
        safe_torch_load(path, training=True)
    assert not marker.exists()


def test_payload_would_have_run_with_plain_pickle(tmp_path):
    # Guards the test above: the crafted file really does execute code when loaded unsafely.
    marker = tmp_path / "marker.txt"
    path = tmp_path / "evil.pth"
    torch.save({"meta": CodePayload(marker)}, path)
    torch.load(path, weights_only=False)
    assert marker.read_text() == "payload ran"


def test_deployable_round_trip(tmp_path):
    path = save_atomic(_deployable(), tmp_path / "sub" / "model.pth", check_weights_only=True)
    loaded = torch.load(path, weights_only=True)
    assert torch.equal(loaded["state_dict"]["w"], torch.ones(2, 2))
    checkpoint = load_deployable(path)
    assert checkpoint["meta"]["dataset_meta"]["classes"][0] == "background"
    assert [p.name for p in path.parent.iterdir()] == ["model.pth"]  # no temp files left
    assert path.stat().st_mode & 0o777 == default_file_mode()  # not mkstemp's private 0o600


def test_save_refuses_what_would_not_load_safely(tmp_path):
    target = tmp_path / "model.pth"
    with pytest.raises(UnsafeCheckpointError, match="weights_only"):
        save_atomic({"meta": CodePayload(tmp_path / "m")}, target, check_weights_only=True)
    assert list(tmp_path.iterdir()) == []


def test_deployable_needs_state_dict_and_dataset_meta(tmp_path):
    torch.save({"w": torch.ones(1)}, tmp_path / "bare.pth")
    with pytest.raises(CorruptCheckpointError, match="expected a dict with 'state_dict'"):
        load_deployable(tmp_path / "bare.pth")
    torch.save({"state_dict": {"w": torch.ones(1)}, "meta": {}}, tmp_path / "nometa.pth")
    with pytest.raises(CorruptCheckpointError, match="dataset_meta"):
        load_deployable(tmp_path / "nometa.pth")


def test_missing_and_truncated_files(tmp_path):
    with pytest.raises(MissingCheckpointError, match="does not exist"):
        safe_torch_load(tmp_path / "nope.pth")
    path = save_atomic(_deployable(), tmp_path / "model.pth")
    data = path.read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptCheckpointError, match="unreadable"):
        safe_torch_load(tmp_path / "cut.pth")
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(CorruptCheckpointError):
        safe_torch_load(tmp_path / "text.pth")


def test_training_checkpoint_needs_the_scoped_allowance(tmp_path):
    path = tmp_path / "iter_1.pth"
    torch.save(_training_like(), path)
    with pytest.raises(UnsafeCheckpointError):
        safe_torch_load(path)  # weights_only default refuses mmengine's HistoryBuffer
    checkpoint = safe_torch_load(path, training=True)
    buffer = checkpoint["message_hub"]["log_scalars"]["train/loss"]
    assert buffer.current() == 2.0 and buffer.mean() == pytest.approx(2.5)
    # The allowance ends with the block: plain weights_only loading refuses the file again.
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)


def test_restricted_getattr_refuses_other_attributes(tmp_path):
    path = tmp_path / "sneaky.pth"
    torch.save({"x": SneakyGetattr()}, path)
    with training_checkpoint_globals(), pytest.raises(pickle.UnpicklingError, match="not allowed"):
        torch.load(path, weights_only=True)
    with pytest.raises((UnsafeCheckpointError, CorruptCheckpointError)):
        safe_torch_load(path, training=True)

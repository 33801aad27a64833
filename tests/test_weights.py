"""Checkpoint verification and safe loading: nothing unverified or unsafe is ever loaded."""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fashiondemo import digests, weights
from fashiondemo.weights import (
    CheckpointError,
    CorruptCheckpointError,
    Expected,
    MissingCheckpointError,
    UnsafeCheckpointError,
)


@pytest.fixture
def ckpt(tmp_path):
    """A real torch checkpoint (state dict) and what it must be."""
    state = {"layer.weight": torch.arange(12.0).reshape(3, 4), "layer.bias": torch.ones(3)}
    path = tmp_path / "model.pth"
    torch.save(state, path)
    data = path.read_bytes()
    return (
        path,
        state,
        Expected(len(data), hashlib.md5(data).hexdigest()[:6], hashlib.sha256(data).hexdigest()),
    )


@pytest.fixture
def spy_torch_load(monkeypatch):
    """Records every torch.load call, so a test can assert a refusal happened *before* loading."""
    calls = []
    real = torch.load

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    return calls


def test_verified_checkpoint_loads_with_weights_only(ckpt, spy_torch_load):
    path, state, expected = ckpt
    loaded = weights.load_state_dict(path, expected)
    assert set(loaded) == set(state) and torch.equal(loaded["layer.weight"], state["layer.weight"])
    assert spy_torch_load[0][1]["weights_only"] is True


def test_missing_checkpoint_says_what_to_do(tmp_path):
    with pytest.raises(MissingCheckpointError, match=r"does not exist. run `python -m fashiondemo.download"):
        weights.ensure("sam-vit_b", download_missing=False, directory=tmp_path)


def test_truncated_checkpoint_is_refused_before_loading(ckpt, spy_torch_load):
    path, _, expected = ckpt
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptCheckpointError, match=r"truncated.*Delete it and fetch it again"):
        weights.load_state_dict(path, expected, advice="python -m fashiondemo.download sam")
    assert spy_torch_load == []


def test_wrong_hash_checkpoint_is_refused_before_loading(ckpt, spy_torch_load):
    path, _, expected = ckpt
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one flipped byte
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptCheckpointError, match=r"has md5 .* expected"):
        weights.load_state_dict(path, expected)
    assert spy_torch_load == []


def test_truncated_file_without_known_size_is_refused_by_the_reader(ckpt):
    path, _, _ = ckpt
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CorruptCheckpointError, match="unreadable"):
        weights.load_state_dict(path, Expected())


class _Payload:
    """Unpickling this runs code (touches a marker file): what a malicious checkpoint does."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_pickle_payload_checkpoint_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "payload-ran"
    path = tmp_path / "evil.pth"
    torch.save({"weight": torch.zeros(2), "extra": _Payload(marker)}, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(UnsafeCheckpointError, match="weights_only=True"):
        weights.load_state_dict(path, Expected(sha256=digest))  # verified bytes, still refused
    assert not marker.exists()
    # control: the payload is real; a plain unpickling load would have run it
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_legacy_pickle_payload_is_refused_too(tmp_path):
    marker = tmp_path / "payload-ran"
    path = tmp_path / "evil-legacy.pth"
    torch.save({"extra": _Payload(marker)}, path, _use_new_zipfile_serialization=False)
    with pytest.raises(UnsafeCheckpointError):
        weights.load_state_dict(path)
    assert not marker.exists()


def test_sidecar_caches_digests_and_is_invalidated_by_a_change(ckpt, monkeypatch):
    path, _, expected = ckpt
    weights.verify_file(path, expected, advice="x")
    assert digests.sidecar_path(path).is_file()
    hashed = []
    real = weights.hash_file
    monkeypatch.setattr(weights, "hash_file", lambda p, **kw: hashed.append(p) or real(p, **kw))
    weights.verify_file(path, expected, advice="x")
    assert hashed == []  # second start: no re-hash
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    os.utime(path, ns=(0, path.stat().st_mtime_ns + 1_000_000))  # even on coarse-mtime filesystems
    with pytest.raises(CorruptCheckpointError):
        weights.verify_file(path, expected, advice="x")
    assert hashed == [path]  # the changed file was hashed again, not trusted from the sidecar


def test_resolve_local_file_named_like_the_registry_is_checked_against_it(tmp_path):
    fake = tmp_path / "sam_vit_b_01ec64.pth"
    torch.save({"w": torch.zeros(1)}, fake)
    with pytest.raises(CorruptCheckpointError, match="expected 375,042,383"):
        weights.resolve_checkpoint(fake)


def test_resolve_local_file_with_user_hash(ckpt):
    path, _, expected = ckpt
    got, exp = weights.resolve_checkpoint(str(path), sha256=expected.sha256)
    assert got == path and exp.sha256 == expected.sha256
    with pytest.raises(CorruptCheckpointError):
        weights.resolve_checkpoint(str(path), sha256="ab" * 32)
    with pytest.raises(MissingCheckpointError):
        weights.resolve_checkpoint(path.with_name("nope.pth"))


def test_user_hash_contradicting_registry_is_an_error():
    with pytest.raises(CheckpointError, match="contradicts"):
        weights.REGISTRY["sam-vit_b"].expected.merged(md5="ffffff")


def test_hf_reference_format_and_offline_error(tmp_path):
    with pytest.raises(CheckpointError, match="hf://owner/repo"):
        weights.resolve_checkpoint("hf://only-owner")
    code = (
        "from fashiondemo import weights\n"
        "try:\n    weights.resolve_checkpoint('hf://someone/some-model@main/ckpt/model.pth')\n"
        "except weights.DownloadError as e:\n    print('REFUSED', e)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.startswith(
        "REFUSED could not get ckpt/model.pth from Hugging Face repo someone/some-model"
    )


def test_atomic_write_gives_the_usual_permissions(tmp_path):
    target = tmp_path / "shared.json"
    digests.atomic_write_text(target, "{}\n")
    assert target.stat().st_mode & 0o777 == digests.default_file_mode()  # not mkstemp's private 0o600


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    target = tmp_path / "a.json"
    target.write_text("old")

    class NotBytes:
        pass

    with pytest.raises(TypeError):
        digests.atomic_write_bytes(target, NotBytes())  # fails after the temp file exists
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_manifest_json_matches_the_registry():
    manifest = json.loads((Path(weights.__file__).parents[1] / "checkpoints" / "manifest.json").read_text())
    rows = {row["key"]: row for row in manifest["checkpoints"]}
    assert set(rows) == set(weights.REGISTRY)
    for key, spec in weights.REGISTRY.items():
        row = rows[key]
        assert (row["file"], row["url"], row["download"]) == (spec.filename, spec.url, spec.download_command)
        assert (row["size"], row["md5_prefix"], row["sha256"]) == (
            spec.expected.size,
            spec.expected.md5,
            spec.expected.sha256,
        )

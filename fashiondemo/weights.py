"""Where checkpoints live, what they must be, and the only way they get loaded.

Nothing is trusted until verified. A download lands in `<name>.part` and becomes `<name>` only once its size
and hashes match (`fetch.py`); a file on disk is checked against the registry (size, MD5 prefix, SHA-256)
before loading; the digests of a checked file are cached in `<name>.verified` (size + mtime + hashes) so a
2.5 GB file is hashed once, not on every start; loading uses `torch.load(weights_only=True)`, which refuses
pickled code.

Pure module: torch is imported only inside `load_state_dict`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fashiondemo import settings
from fashiondemo.digests import cached_digests, hash_file, record_digests


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used; the message says why and what to do."""


class MissingCheckpointError(CheckpointError, FileNotFoundError):
    """The file is not there (and was not, or could not be, downloaded)."""


class CorruptCheckpointError(CheckpointError):
    """Wrong size, wrong hash or unreadable: truncated, damaged or not the expected file."""


class UnsafeCheckpointError(CheckpointError):
    """The file holds pickled objects beyond tensors (possibly code); `weights_only=True` refused it."""


class DownloadError(CheckpointError):
    """The download failed (host unreachable, HTTP error, interrupted too often)."""


@dataclass(frozen=True)
class Expected:
    """What a file must be. Hashes: lowercase hex, full or a prefix (official SAM names carry MD5[:6])."""

    size: int | None = None
    md5: str | None = None
    sha256: str | None = None

    def merged(self, *, md5: str | None = None, sha256: str | None = None) -> Expected:
        """These expectations plus user-supplied hashes (both must hold)."""
        for name, user, ours in (("md5", md5, self.md5), ("sha256", sha256, self.sha256)):
            if user and ours and not (user.lower().startswith(ours) or ours.startswith(user.lower())):
                raise CheckpointError(f"the given {name} {user} contradicts the registry's {ours}")
        return Expected(
            self.size,
            _longest(self.md5, md5),
            _longest(self.sha256, sha256),
        )


def _longest(a: str | None, b: str | None) -> str | None:
    values = [v.lower() for v in (a, b) if v]
    return max(values, key=len) if values else None


@dataclass(frozen=True)
class CheckpointSpec:
    key: str
    url: str
    expected: Expected
    download_command: str
    description: str

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


_SAM_URL = "https://dl.fbaipublicfiles.com/segment_anything/"
# Meta publishes only the MD5 prefix (in the file names). The sizes (vit_h also in DESIGN.md) and SHA-256
# digests below were recorded identically by many independent projects (found with code search, see
# checkpoints/README.md); a file that disagrees with any of them is refused.
REGISTRY: dict[str, CheckpointSpec] = {
    spec.key: spec
    for spec in (
        CheckpointSpec(
            "sam-vit_b",
            _SAM_URL + "sam_vit_b_01ec64.pth",
            Expected(
                375_042_383, "01ec64", "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912"
            ),
            "python -m fashiondemo.download sam --variant vit_b",
            "SAM ViT-B (Meta, Apache-2.0)",
        ),
        CheckpointSpec(
            "sam-vit_l",
            _SAM_URL + "sam_vit_l_0b3195.pth",
            Expected(
                1_249_524_607, "0b3195", "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622"
            ),
            "python -m fashiondemo.download sam --variant vit_l",
            "SAM ViT-L (Meta, Apache-2.0)",
        ),
        CheckpointSpec(
            "sam-vit_h",
            _SAM_URL + "sam_vit_h_4b8939.pth",
            Expected(
                2_564_550_879, "4b8939", "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e"
            ),
            "python -m fashiondemo.download sam --variant vit_h",
            "SAM ViT-H (Meta, Apache-2.0)",
        ),
        CheckpointSpec(
            "ocrnet-voc12aug",
            "https://download.openmmlab.com/mmsegmentation/v0.5/ocrnet/ocrnet_hr18_512x512_20k_voc12aug/"
            "ocrnet_hr18_512x512_20k_voc12aug_20200617_233932-8954cbb7.pth",
            # mmseg model-zoo names end with the file's SHA-256[:8]; no size is published.
            Expected(None, None, "8954cbb7"),
            "python -m fashiondemo.download ocrnet-voc12aug",
            "OCRNet HRNetV2-W18 trained on VOC12Aug (mmseg model zoo, 74.75 mIoU): the report's start point",
        ),
    )
}


def checkpoint_dir() -> Path:
    return settings.from_env().checkpoint_dir


def spec_path(spec: CheckpointSpec, directory: Path | None = None) -> Path:
    return (directory or checkpoint_dir()) / spec.filename


def verify_file(
    path: Path, expected: Expected, *, advice: str, progress: bool = True, record: bool = True
) -> dict[str, str]:
    """Check size, then hashes; return the digests. `advice` ends every refusal (what the user should do).

    record: cache the digests in the `.verified` sidecar (off for `.part` files, about to be renamed).
    """
    path = Path(path)
    if not path.is_file():
        raise MissingCheckpointError(f"checkpoint {path} does not exist. {advice}")
    size = path.stat().st_size
    if expected.size is not None and size != expected.size:
        kind = "truncated (incomplete download?)" if size < expected.size else "larger than expected"
        raise CorruptCheckpointError(
            f"checkpoint {path} is {size:,} bytes, expected {expected.size:,}: {kind}. "
            f"Delete it and fetch it again: {advice}"
        )
    digests = cached_digests(path)
    if digests is None:
        digests = hash_file(path, progress=progress)
        if record:
            record_digests(path, digests)
    for name in ("md5", "sha256"):
        want = getattr(expected, name)
        if want and not digests[name].startswith(want.lower()):
            raise CorruptCheckpointError(
                f"checkpoint {path} has {name} {digests[name]}, expected {want}...: damaged or a "
                f"different file. Delete it and fetch it again: {advice}"
            )
    return digests


def download(
    spec: CheckpointSpec, directory: Path | None = None, *, progress: bool = True, **fetch_kw
) -> Path:
    """Fetch a registry file (or reuse a verified one) and return its verified path."""
    from fashiondemo import fetch

    return fetch.fetch_verified(
        spec.url,
        spec_path(spec, directory),
        spec.expected,
        advice=spec.download_command,
        progress=progress,
        **fetch_kw,
    )


def ensure(key: str, *, download_missing: bool | None = None, directory: Path | None = None) -> Path:
    """The verified path of registry checkpoint `key`, downloaded first if settings.auto_download."""
    if key not in REGISTRY:
        raise KeyError(f"unknown checkpoint {key!r}; known: {', '.join(REGISTRY)}")
    spec = REGISTRY[key]
    path = spec_path(spec, directory)
    if download_missing is None:
        download_missing = settings.from_env().auto_download
    if path.is_file() or not download_missing:
        verify_file(path, spec.expected, advice=f"run `{spec.download_command}` (source: {spec.url})")
        return path
    return download(spec, directory)


def load_state_dict(path: Path, expected: Expected | None = None, *, advice: str = "", verify: bool = True):
    """Verify, then `torch.load(weights_only=True)` on the CPU; returns the file's content (dict of tensors).

    Refusals: MissingCheckpointError, CorruptCheckpointError (size/hash/unreadable), UnsafeCheckpointError
    (pickled objects that are not plain tensors and containers, e.g. a code payload).
    """
    import pickle

    import torch

    path = Path(path)
    advice = advice or "delete it and fetch it again from its source"
    if verify:
        verify_file(path, expected or Expected(), advice=advice)
    elif not path.is_file():
        raise MissingCheckpointError(f"checkpoint {path} does not exist. {advice}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=_is_zip(path))
    except pickle.UnpicklingError as exc:
        if "Weights only load failed" not in str(exc):
            raise CorruptCheckpointError(f"checkpoint {path} is unreadable ({exc}). {advice}") from exc
        raise UnsafeCheckpointError(
            f"refused to load {path}: it holds pickled objects that are not tensors (possibly code), "
            "and checkpoints are only loaded with torch.load(weights_only=True). Use a checkpoint that holds "
            f"only a state dict (see checkpoints/README.md). Detail: {str(exc).splitlines()[-1]}"
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CorruptCheckpointError(f"checkpoint {path} is unreadable ({exc}). {advice}") from exc


def _is_zip(path: Path) -> bool:
    # mmap spares a second copy of big files in memory but needs torch's zip format (torch >= 1.6 files).
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


def resolve_checkpoint(
    ref: str | os.PathLike,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    download_missing: bool | None = None,
    directory: Path | None = None,
) -> tuple[Path, Expected]:
    """Turn a user-given checkpoint reference into a verified local path and what it was checked against.

    ref: a registry key, a local path, an http(s) URL (downloaded into the checkpoint dir with the same
    verification) or `hf://owner/repo[@revision]/path/in/repo` (huggingface_hub, its own cache).
    A file whose name matches a registry entry is checked against that entry too.
    """
    text = os.fspath(ref)
    if download_missing is None:
        download_missing = settings.from_env().auto_download
    by_name = {spec.filename: spec for spec in REGISTRY.values()}
    if text in REGISTRY:
        spec = REGISTRY[text]
        expected = spec.expected.merged(md5=md5, sha256=sha256)
        path = spec_path(spec, directory)
        if not path.is_file() and download_missing:
            from fashiondemo import fetch

            return fetch.fetch_verified(spec.url, path, expected, advice=spec.download_command), expected
        verify_file(path, expected, advice=f"run `{spec.download_command}`")
        return path, expected
    if text.startswith(("http://", "https://")):
        from fashiondemo import fetch

        name = text.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        known = next((s for s in REGISTRY.values() if s.url == text), None)
        base = known.expected if known else Expected()
        expected = base.merged(md5=md5, sha256=sha256)
        path = (directory or checkpoint_dir()) / name
        advice = f"delete {path} and run again to re-download {text}"
        if not path.is_file() and not download_missing:
            raise MissingCheckpointError(f"{path} is not there and downloads are off; download {text} to it")
        return fetch.fetch_verified(text, path, expected, advice=advice), expected
    if text.startswith("hf://"):
        path = _hf_download(text)
        expected = Expected(md5=md5, sha256=sha256)
        verify_file(path, expected, advice=f"delete {path} (in the Hugging Face cache) and run again")
        return path, expected
    path = Path(text).expanduser()
    known = by_name.get(path.name)
    expected = (known.expected if known else Expected()).merged(md5=md5, sha256=sha256)
    verify_file(
        path, expected, advice="check the path, or delete the file and fetch it again from its source"
    )
    return path, expected


def _hf_download(ref: str) -> Path:
    parts = ref[len("hf://") :].split("/")
    if len(parts) < 3 or not all(parts):
        raise CheckpointError(f"{ref!r}: expected hf://owner/repo[@revision]/path/to/file")
    repo, _, revision = parts[1].partition("@")
    repo_id, filename = f"{parts[0]}/{repo}", "/".join(parts[2:])
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:
        raise CheckpointError("hf:// checkpoints need huggingface_hub: pip install huggingface_hub") from exc
    try:
        return Path(hf_hub_download(repo_id=repo_id, filename=filename, revision=revision or None))
    except Exception as exc:  # hub errors come in many classes (offline, 404, auth); all mean "not available"
        raise DownloadError(
            f"could not get {filename} from Hugging Face repo {repo_id}: {type(exc).__name__}: {exc}. "
            "Check the name and your network, or download the file and give its local path instead."
        ) from exc

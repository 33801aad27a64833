"""Fetch and check model checkpoints.

    python -m fashiondemo.download sam [--variant vit_b]     # SAM ViT-B into the checkpoint dir
    python -m fashiondemo.download ocrnet-voc12aug           # the report's OCRNet start point
    python -m fashiondemo.download sam --url URL --sha256 HEX # a mirror, checked against your hash too
    python -m fashiondemo.download --list [--verify]         # what is verified / present / partial / missing

Files go to FASHIONDEMO_CHECKPOINT_DIR (default checkpoints/) or --dir. Exit status 1 with a one-line reason
on any refusal (unreachable host, HTTP error, wrong size or hash).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from fashiondemo import weights
from fashiondemo.weights import REGISTRY, CheckpointError

SAM_VARIANTS = ("vit_b", "vit_l", "vit_h")


def registry_key(target: str, variant: str | None) -> str:
    """`sam` + variant -> `sam-vit_b`; registry keys pass through."""
    if target == "sam":
        return f"sam-{variant or 'vit_b'}"
    if variant:
        raise SystemExit(f"--variant only applies to `sam`, not {target!r}")
    if target not in REGISTRY:
        raise SystemExit(f"unknown checkpoint {target!r}; choose from: sam, {', '.join(REGISTRY)}")
    return target


def checkpoint_state(spec: weights.CheckpointSpec, directory: Path | None = None) -> str:
    """One word plus detail for `download --list`, without hashing: verified / present / partial / missing."""
    path = weights.spec_path(spec, directory)
    part = path.with_name(path.name + ".part")
    if path.is_file():
        if weights.cached_digests(path) is None:
            return "present (not checked yet: run `python -m fashiondemo.download --verify`)"
        try:
            weights.verify_file(path, spec.expected, advice=spec.download_command, progress=False)
        except CheckpointError as exc:
            return f"BAD: {exc}"
        return "verified"
    if part.is_file():
        return (
            f"partial ({part.stat().st_size:,} bytes in {part.name}; run `{spec.download_command}` to resume)"
        )
    return "missing"


def list_checkpoints(directory: Path, *, verify: bool) -> int:
    print(f"checkpoint dir: {directory}")
    bad = 0
    for spec in REGISTRY.values():
        path = weights.spec_path(spec, directory)
        if verify and path.is_file():
            try:
                weights.verify_file(path, spec.expected, advice=spec.download_command)
                state = "verified"
            except CheckpointError as exc:
                state, bad = f"BAD: {exc}", bad + 1
        else:
            state = checkpoint_state(spec, directory)
        size = f"{spec.expected.size / 2**20:,.0f} MiB" if spec.expected.size else "size ?"
        print(f"  {spec.key:<16} {spec.filename:<64} {size:>10}  {state}")
    return 1 if bad else 0


def fetch(key: str, directory: Path, *, url: str | None, sha256: str | None, md5: str | None) -> Path:
    spec = REGISTRY[key]
    expected = spec.expected.merged(sha256=sha256, md5=md5)
    if url and url != spec.url:
        # A mirror may serve the same bytes under another name; the registry's hashes still decide.
        spec = replace(spec, url=url)
        if url.rsplit("/", 1)[-1] != REGISTRY[key].filename:
            print(
                f"note: saving {url} as {REGISTRY[key].filename} (the name the app looks for)",
                file=sys.stderr,
            )
    from fashiondemo import fetch as fetcher

    final = directory / REGISTRY[key].filename
    return fetcher.fetch_verified(spec.url, final, expected, advice=REGISTRY[key].download_command)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fashiondemo.download", description=__doc__.split("\n")[0]
    )
    parser.add_argument("target", nargs="?", help=f"sam or one of: {', '.join(REGISTRY)}")
    parser.add_argument("--variant", choices=SAM_VARIANTS, help="SAM variant (default vit_b)")
    parser.add_argument("--url", help="download from this URL instead (a mirror); the file is still checked")
    parser.add_argument("--sha256", help="also require this full SHA-256 (hex)")
    parser.add_argument("--md5", help="also require this MD5 (hex)")
    parser.add_argument("--dir", type=Path, help="checkpoint directory (default: FASHIONDEMO_CHECKPOINT_DIR)")
    parser.add_argument(
        "--list", action="store_true", help="show what is verified / present / partial / missing"
    )
    parser.add_argument("--verify", action="store_true", help="with --list: hash every present file now")
    args = parser.parse_args(argv)
    directory = args.dir or weights.checkpoint_dir()
    if args.list:
        return list_checkpoints(directory, verify=args.verify)
    if not args.target:
        parser.error("name a checkpoint to download (e.g. `sam`), or use --list")
    key = registry_key(args.target, args.variant)
    for name, value in (("sha256", args.sha256), ("md5", args.md5)):
        if value is not None and not _is_hex(value):
            parser.error(f"--{name} must be hexadecimal, got {value!r}")
    try:
        path = fetch(key, directory, url=args.url, sha256=args.sha256, md5=args.md5)
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{key}: {path} (verified)")
    return 0


def _is_hex(value: str) -> bool:
    return bool(value) and all(c in "0123456789abcdefABCDEF" for c in value)


if __name__ == "__main__":
    sys.exit(main())

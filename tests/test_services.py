"""Model slots, flags -> AppConfig -> models, and the memory trim: what the app builds and reports."""

from __future__ import annotations

import argparse
import sys

import pytest

from fashiondemo import services
from fashiondemo.memory import release_freed_memory
from fashiondemo.model_flags import add_model_arguments, config_from_args


def _config(argv, monkeypatch, **env):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    parser = argparse.ArgumentParser()
    add_model_arguments(parser)
    return config_from_args(parser, parser.parse_args(argv))


def test_flags_and_environment_reach_the_config(monkeypatch):
    config = _config(
        ["--random-weights", "--sam-variant", "vit_tiny_test", "--no-download"],
        monkeypatch,
        FASHIONDEMO_SAM_CACHE_ENTRIES="3",
        FASHIONDEMO_SAM_CACHE_MB="16",
    )
    assert config.random_weights and config.sam_variant == "vit_tiny_test" and not config.auto_download
    assert (config.sam_cache_entries, config.sam_cache_bytes) == (3, 16 << 20)


def test_test_only_sam_needs_random_weights(monkeypatch, capsys):
    with pytest.raises(SystemExit):
        _config(["--sam-variant", "vit_tiny_test"], monkeypatch)
    assert "exists only for tests" in capsys.readouterr().err


def test_sam_cache_bounds_are_the_configured_ones():
    hub = services.ModelHub(
        services.AppConfig(
            random_weights=True, sam_variant="vit_tiny_test", sam_cache_entries=3, sam_cache_bytes=9 << 20
        )
    )
    cache = hub.sam.get().cache
    assert (cache.max_entries, cache.max_bytes) == (3, 9 << 20)
    assert hub.sam.status == services.READY and "ready" in hub.sam.markdown()


def test_slot_reports_missing_then_recovers(tmp_path):
    marker = tmp_path / "weights.bin"

    def build():
        if not marker.exists():
            raise FileNotFoundError(f"{marker} is not there: run `make-weights`")
        return "model"

    slot = services.ModelSlot("Thing", build)
    with pytest.raises(services.ModelUnavailable, match="make-weights"):
        slot.get()
    assert slot.status == services.MISSING and "make-weights" in slot.markdown()
    marker.write_text("x")  # the file appears while the app runs: the next use picks it up
    assert slot.get() == "model" and slot.status == services.READY


def test_slot_reports_any_other_failure_as_error():
    def build():
        raise RuntimeError("CUDA out of memory")

    slot = services.ModelSlot("Thing", build)
    with pytest.raises(services.ModelUnavailable, match="CUDA out of memory"):
        slot.get()
    assert slot.status == services.ERROR and slot.loaded is None


def test_probe_names_missing_files_without_loading(tmp_path, monkeypatch):
    monkeypatch.setenv("FASHIONDEMO_CHECKPOINT_DIR", str(tmp_path))
    hub = services.ModelHub(services.AppConfig(auto_download=False))
    hub.probe()
    assert hub.ocrnet.status == hub.sam.status == services.MISSING
    assert "python -m fashiondemo.download sam --variant vit_b" in hub.sam.message
    assert hub.ocrnet.loaded is None and hub.sam.loaded is None
    online = services.ModelHub(services.AppConfig(auto_download=True))
    online.probe()
    assert online.sam.status == services.NOT_LOADED and "will be downloaded" in online.sam.message


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's (Linux)")
def test_memory_trim_is_available_on_linux():
    assert release_freed_memory() is True

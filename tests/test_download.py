"""Downloads against a real local HTTP server (http.server in a thread) serving real bytes.

The server honours Range (or not, per test) and can drop the connection mid-body, so resume, restart,
interruption and refusal are exercised through urllib exactly as against the real hosts.
"""

from __future__ import annotations

import hashlib
import http.server
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from fashiondemo import download, fetch, weights
from fashiondemo.weights import CorruptCheckpointError, DownloadError, Expected

PAYLOAD = bytes(range(256)) * 4096 + b"tail"  # 1 MiB + 4 bytes: several read chunks


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        srv = self.server
        srv.seen_ranges.append(self.headers.get("Range"))
        if self.path != "/file.pth":
            self.send_error(404)
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and srv.support_range:
            start = int(rng.removeprefix("bytes=").split("-")[0])
            if start >= len(srv.payload):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(srv.payload) - 1}/{len(srv.payload)}")
        else:
            self.send_response(200)
        body = srv.payload[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if srv.drop_after is not None:
            cut, srv.drop_after = srv.drop_after, None  # drop once, then behave
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(body)


class _Server(http.server.ThreadingHTTPServer):
    payload = PAYLOAD
    support_range = True
    drop_after: int | None = None

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen_ranges: list[str | None] = []

    def handle_error(self, request, client_address):
        # A client that gives up mid-body (the size-mismatch test) breaks the pipe: expected, not a failure.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/file.pth"


@pytest.fixture
def server():
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _expected(data: bytes = PAYLOAD) -> Expected:
    return Expected(len(data), hashlib.md5(data).hexdigest()[:6], hashlib.sha256(data).hexdigest())


def test_download_verifies_and_renames(server, tmp_path):
    final = tmp_path / "file.pth"
    got = fetch.fetch_verified(server.url, final, _expected(), advice="x", progress=False)
    assert got == final and final.read_bytes() == PAYLOAD
    assert not fetch.part_path(final).exists()
    # the digests are cached for the final name, so the next start does not re-hash
    assert weights.cached_digests(final)["sha256"] == hashlib.sha256(PAYLOAD).hexdigest()


def test_interrupted_download_leaves_only_part_then_resumes_with_range(server, tmp_path):
    final = tmp_path / "file.pth"
    server.drop_after = 300_000
    with pytest.raises(DownloadError, match=r"interrupted.*Run the same command again to resume"):
        fetch.fetch_verified(server.url, final, _expected(), advice="x", retries=0, progress=False)
    part = fetch.part_path(final)
    assert not final.exists()  # nothing under the final name that could later pass for complete
    assert 0 < part.stat().st_size < len(PAYLOAD)
    received = part.stat().st_size
    fetch.fetch_verified(server.url, final, _expected(), advice="x", progress=False)
    assert final.read_bytes() == PAYLOAD
    assert server.seen_ranges[-1] == f"bytes={received}-"  # resumed, not restarted


def test_retries_resume_within_one_call(server, tmp_path):
    final = tmp_path / "file.pth"
    server.drop_after = 100_000
    fetch.fetch_verified(server.url, final, _expected(), advice="x", retries=2, progress=False)
    assert final.read_bytes() == PAYLOAD
    assert server.seen_ranges == [None, "bytes=100000-"]


def test_server_without_range_support_restarts_from_zero(server, tmp_path):
    final = tmp_path / "file.pth"
    fetch.part_path(final).write_bytes(b"\0" * 5000)  # junk a resume would have kept
    server.support_range = False
    fetch.fetch_verified(server.url, final, _expected(), advice="x", progress=False)
    assert final.read_bytes() == PAYLOAD


def test_stale_part_longer_than_file_is_restarted(server, tmp_path):
    final = tmp_path / "file.pth"
    fetch.part_path(final).write_bytes(PAYLOAD + b"extra")
    fetch.fetch_verified(server.url, final, _expected(), advice="x", progress=False)
    assert final.read_bytes() == PAYLOAD


def test_wrong_hash_download_is_refused_and_never_renamed(server, tmp_path):
    final = tmp_path / "file.pth"
    wrong = Expected(len(PAYLOAD), None, "0" * 64)
    with pytest.raises(CorruptCheckpointError, match="sha256"):
        fetch.fetch_verified(server.url, final, wrong, advice="x", progress=False)
    assert not final.exists() and not fetch.part_path(final).exists()


def test_size_announced_by_server_must_match(server, tmp_path):
    final = tmp_path / "file.pth"
    with pytest.raises(DownloadError, match="wrong URL or the file changed"):
        fetch.fetch_verified(server.url, final, Expected(size=123), advice="x", progress=False)
    assert not final.exists()


def test_http_error_is_reported(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch.fetch_verified(server.url.replace("file", "nope"), tmp_path / "n.pth", Expected(), advice="x")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_host_error_is_clear(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/sam_vit_b_01ec64.pth"
    with pytest.raises(DownloadError, match=r"cannot reach 127.0.0.1.*offline"):
        fetch.fetch_verified(url, tmp_path / "f.pth", Expected(), advice="x", progress=False)


def test_cli_offline_error_is_one_clear_line(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/sam_vit_b_01ec64.pth"
    cmd = [sys.executable, "-m", "fashiondemo.download", "sam", "--url", url, "--dir", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: cannot reach 127.0.0.1")
    assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_cli_mirror_url_is_checked_against_the_registry(server, tmp_path, capsys):
    # The server's bytes are not SAM ViT-B: size check refuses before anything lands under the final name.
    rc = download.main(["sam", "--variant", "vit_b", "--url", server.url, "--dir", str(tmp_path)])
    assert rc == 1
    assert "375,042,383 are expected" in capsys.readouterr().err
    assert not (tmp_path / "sam_vit_b_01ec64.pth").exists()


def test_cli_list_reports_each_state(tmp_path, capsys):
    sam_b = weights.REGISTRY["sam-vit_b"]
    (tmp_path / weights.REGISTRY["sam-vit_l"].filename).write_bytes(b"short")  # present, wrong
    (tmp_path / (sam_b.filename + ".part")).write_bytes(b"x" * 10)
    assert download.main(["--list", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "sam-vit_b" in out and "partial (10 bytes" in out
    assert "present (not checked yet" in out and "missing" in out
    assert download.main(["--list", "--verify", "--dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "BAD:" in out and "is 5 bytes, expected 1,249,524,607" in out


def test_cli_rejects_bad_arguments(tmp_path):
    with pytest.raises(SystemExit):
        download.main(["nonsense", "--dir", str(tmp_path)])
    with pytest.raises(SystemExit):
        download.main(["sam", "--sha256", "not-hex", "--dir", str(tmp_path)])


def test_registry_urls_and_names_agree_with_design():
    for variant, md5 in (("vit_b", "01ec64"), ("vit_l", "0b3195"), ("vit_h", "4b8939")):
        spec = weights.REGISTRY[download.registry_key("sam", variant)]
        assert spec.filename == f"sam_{variant}_{md5}.pth" and spec.expected.md5 == md5
    assert weights.REGISTRY["sam-vit_h"].expected.size == 2_564_550_879
    ocr = weights.REGISTRY["ocrnet-voc12aug"]
    assert ocr.filename.endswith("-8954cbb7.pth") and ocr.expected.sha256 == "8954cbb7"
    assert Path(ocr.url).name == ocr.filename

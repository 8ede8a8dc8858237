"""Downloads against a real HTTP server on loopback: cache, checksum, corruption, resume."""

import hashlib
import http.server
import re
import threading

import pytest

from int8ptq.errors import UserError
from int8ptq.zoo import download

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    mode = "ok"  # ok | corrupt | cut_once
    requests: list[str] = []

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        Handler.requests.append(self.headers.get("Range") or "")
        body, start = PAYLOAD, 0
        rng = self.headers.get("Range")
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        body = body[start:]
        if Handler.mode == "corrupt":
            body = body[:-1] + b"\x00"
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if Handler.mode == "cut_once":
            Handler.mode = "ok"
            self.wfile.write(body[: len(body) // 3])
            self.wfile.flush()
            self.connection.shutdown(2)  # the transfer breaks a third of the way in
            return
        self.wfile.write(body)


@pytest.fixture
def server(tmp_path, monkeypatch):
    monkeypatch.setenv("INT8PTQ_CACHE", str(tmp_path / "cache"))
    Handler.mode, Handler.requests = "ok", []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/models/weights-{DIGEST[:8]}.pth"
    srv.shutdown()


def test_download_once_then_cache(server):
    p = download.fetch(server, sha256=DIGEST)
    assert p.read_bytes() == PAYLOAD
    assert download.fetch(server, sha256_prefix=DIGEST[:8]) == p
    assert len(Handler.requests) == 1  # the second call was served from the cache


def test_wrong_checksum_leaves_no_file(server):
    with pytest.raises(UserError, match="checksum mismatch"):
        download.fetch(server, sha256="0" * 64)
    assert not any(download.cache_dir().iterdir())


def test_corrupt_transfer_is_rejected(server):
    Handler.mode = "corrupt"
    with pytest.raises(UserError, match="checksum mismatch"):
        download.fetch(server, sha256=DIGEST)
    assert not any(download.cache_dir().iterdir())


def test_interrupted_transfer_resumes_with_range(server):
    Handler.mode = "cut_once"
    with pytest.raises(UserError, match="interrupted"):
        download.fetch(server, sha256=DIGEST)
    files = list(download.cache_dir().iterdir())
    assert len(files) == 1 and files[0].name.endswith(".part")  # no file under the final name
    p = download.fetch(server, sha256=DIGEST)
    assert p.read_bytes() == PAYLOAD
    assert Handler.requests[-1].startswith("bytes=") and Handler.requests[-1] != "bytes=0-"


def test_corrupt_cache_is_fetched_again(server):
    p = download.fetch(server, sha256=DIGEST)
    p.write_bytes(b"garbage")
    assert download.fetch(server, sha256=DIGEST).read_bytes() == PAYLOAD
    assert len(Handler.requests) == 2


def test_unreachable_server_is_a_user_error(tmp_path, monkeypatch):
    monkeypatch.setenv("INT8PTQ_CACHE", str(tmp_path))
    with pytest.raises(UserError, match="download failed"):
        download.fetch("http://127.0.0.1:9/none.pth", sha256=DIGEST)


def _bar_console():
    import io

    from rich.console import Console

    return Console(file=io.StringIO(), force_terminal=True, width=140, color_system=None)


def test_progress_shows_bytes_total_speed_and_eta(server):
    con = _bar_console()
    download.fetch(server, sha256=DIGEST, console=con)
    out = con.file.getvalue()
    # the file's name, bytes done of the total (Content-Length), speed ("?" until it can be
    # measured, which a loopback transfer of 1 MB may never be) and time left
    assert re.search(
        rf"downloading weights-{DIGEST[:8]}\.pth .* 1\.0/1\.0 MB (\S+/s|\?) ETA \d+:\d\d:\d\d", out
    )


def test_progress_of_a_resumed_download_counts_from_what_is_there(server):
    Handler.mode = "cut_once"
    with pytest.raises(UserError, match="run again to resume"):
        download.fetch(server, sha256=DIGEST)
    con = _bar_console()
    download.fetch(server, sha256=DIGEST, console=con)
    frames = con.file.getvalue()
    assert "0.3/1.0 MB" in frames  # the first frame starts at the bytes kept, total is the file's
    assert "1.0/1.0 MB" in frames and Handler.requests[-1].startswith("bytes=")

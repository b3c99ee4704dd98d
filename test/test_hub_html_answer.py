"""A Hub endpoint that answers HTML (a captive portal, a proxy's login page) instead of the
Hub's JSON, served by a local HTTP server (no network): resolving an hf:// spec and `dp-ros
push` fail in one line with exit 2, as for a 404 or a 500 answer, not with a
json.JSONDecodeError traceback (dp_ros/policy/hub.py, dp_ros/app/push.py)."""
from __future__ import annotations

import http.server
import subprocess
import threading
from pathlib import Path

import pytest
from support import checkout_env, make_tiny_checkpoint, module_cmd, nonempty_lines

PAGE = b'<html><body>Please log in to the guest Wi-Fi</body></html>'


class _Portal(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        self.send_response(200)
        self.send_header('Content-Type', 'text/html')
        self.send_header('Content-Length', str(len(PAGE)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(PAGE)

    do_GET = do_POST = do_PUT = do_HEAD = _answer

    def log_message(self, *args) -> None:  # quiet
        pass


@pytest.fixture
def portal():
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Portal)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()
    server.server_close()


def run(tmp_path: Path, endpoint: str, *args: str) -> subprocess.CompletedProcess:
    env = checkout_env(HF_ENDPOINT=endpoint, HF_HUB_CACHE=str(tmp_path / 'hf_cache'),
                       HF_TOKEN='hf_test_not_a_token', HF_HUB_OFFLINE='0')
    return subprocess.run(module_cmd('dp_ros.cli', *args), env=env, capture_output=True,
                          text=True, timeout=120)


def test_resolving_a_spec_against_an_html_answer_is_one_line_exit_2(portal, tmp_path):
    """`dp-ros inspect hf://org/name` behind a portal: one line naming hf://org/name, exit 2
    (was a json.JSONDecodeError traceback from snapshot_download)."""
    proc = run(tmp_path, portal, 'inspect', 'hf://org/name')
    lines = nonempty_lines(proc.stderr)
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-2000:]
    assert 'hf://org/name' in lines[0] and "not the Hub's JSON" in lines[0]


def test_pushing_against_an_html_answer_is_one_line_exit_2(portal, tmp_path):
    """`dp-ros push` behind a portal: 'cannot push to ...' in one line, exit 2 (was a
    json.JSONDecodeError traceback)."""
    tiny = make_tiny_checkpoint(tmp_path / 'policy')
    proc = run(tmp_path, portal, 'push', str(tiny), 'hf://org/name')
    lines = nonempty_lines(proc.stderr)
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-2000:]
    assert lines[0].startswith('dp-ros push: cannot push to hf://org/name')
    assert "not the Hub's JSON" in lines[0]

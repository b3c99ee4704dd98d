"""Node processes started and stopped the way `ros2 launch` does it.

Each process gets its own session (process group), so stopping it also ends whatever it
started; stopping sends SIGINT first (rclpy shuts down cleanly and nodes flush videos and
bags), then SIGTERM, then SIGKILL.
"""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path


def start_logged(argv: list[str], log_path: Path, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> subprocess.Popen:
    """Start argv in a new session with stdout and stderr in log_path (env None: ours)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, 'wb') as log:  # the child keeps its own descriptor
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                cwd=None if cwd is None else str(cwd), start_new_session=True)


def interrupt(proc: subprocess.Popen) -> None:
    """SIGINT to the process group, as Ctrl-C in a launch terminal."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGINT)
        except ProcessLookupError:
            pass


def stop(proc: subprocess.Popen, timeout: float = 10.0, interrupted: bool = False) -> int | None:
    """SIGINT (unless already `interrupted`: a second Ctrl-C would cut a clean shutdown short),
    wait up to timeout; then SIGTERM and SIGKILL (3 s each). Returns the exit code."""
    first = None if interrupted else signal.SIGINT
    for sig, wait in ((first, timeout), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
        if proc.poll() is not None:
            break
        try:
            if sig is not None:
                os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
    return proc.poll()

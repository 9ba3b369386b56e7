"""Real processes: `kontor run` started as a user would, on free loopback ports."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningHub:
    home: Path
    base_url: str
    sftp_port: int
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def running_hub(tmp_path, db_url):
    """`kontor run --demo` in a home of its own (config copied from the repo), on the test's database."""
    home = tmp_path / "home"
    shutil.copytree(REPO / "config", home / "config")
    port, sftp_port = free_port(), free_port()
    env = {
        **os.environ,
        "KONTOR_HOME": str(home),
        "KONTOR_DATABASE_URL": db_url,
        "KONTOR_SFTP_PORT": str(sftp_port),
        "KONTOR_WORKER_POLL_SECONDS": "0.2",
        "KONTOR_WEB_SECRET_KEY": "e2e-secret",
    }
    env.pop("KONTOR_CONFIG", None)
    log = tmp_path / "kontor-run.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "run", "--demo", "--port", str(port)],
            cwd=home, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    hub = RunningHub(home, f"http://127.0.0.1:{port}", sftp_port, process, log)
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            pytest.fail(f"kontor run exited with {process.returncode}:\n{hub.output()}")
        try:
            if requests.get(f"{hub.base_url}/healthz", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"kontor run did not answer within 60 s:\n{hub.output()}")
        time.sleep(0.2)
    yield hub
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()

"""Run the real ``siprec-appliance`` daemon as a subprocess for integration tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


@dataclass
class Daemon:
    process: subprocess.Popen[bytes]
    sip_port: int
    http_port: int
    data_dir: Path
    log_path: Path
    token: str

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str) -> dict[str, object]:
        request = urllib.request.Request(
            self.api + path, headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]

    def stop(self, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_daemon(
    tmp: Path,
    *,
    rtp_range: tuple[int, int] = (30000, 34000),
    extra_env: dict[str, str] | None = None,
    config_text: str | None = None,
) -> Daemon:
    sip_port, http_port = free_port(), free_port()
    data_dir = tmp / "var"
    token = "test-token-0123456789"
    env = {
        **os.environ,
        "SIPREC_SIP_HOST": "127.0.0.1",
        "SIPREC_SIP_PORT": str(sip_port),
        "SIPREC_HTTP_HOST": "127.0.0.1",
        "SIPREC_HTTP_PORT": str(http_port),
        "SIPREC_DATA_DIR": str(data_dir),
        "SIPREC_RULES_DIR": str(tmp / "rules"),
        "SIPREC_RTP_PORT_MIN": str(rtp_range[0]),
        "SIPREC_RTP_PORT_MAX": str(rtp_range[1]),
        "SIPREC_API_TOKEN": token,
        **(extra_env or {}),
    }
    args = [sys.executable, "-m", "siprec_appliance"]
    if config_text is not None:
        config_path = tmp / "config.yaml"
        config_path.write_text(config_text)
        args += ["--config", str(config_path)]
    log_path = tmp / "daemon.log"
    log_file = log_path.open("wb")
    process = subprocess.Popen(args, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    daemon = Daemon(process, sip_port, http_port, data_dir, log_path, token)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daemon exited with {process.returncode}:\n{daemon.log()}")
        try:
            daemon.get("/api/health")
            return daemon
        except OSError:
            time.sleep(0.1)
    daemon.stop()
    raise RuntimeError(f"daemon did not become healthy:\n{daemon.log()}")

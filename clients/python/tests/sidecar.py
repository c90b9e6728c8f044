"""Runs the real sidecar (`sessionstore serve`) as a child process for the tests."""

from __future__ import annotations

import json
import os
import pathlib
import queue
import signal
import subprocess
import tempfile
import threading
from typing import List, Optional, Sequence

REPO = pathlib.Path(__file__).resolve().parents[3]
# The CLI as users run it; SESSIONSTORE_BIN points elsewhere (e.g. an installed copy).
BIN = os.environ.get("SESSIONSTORE_BIN", str(REPO / "bin" / "sessionstore.js"))
NODE = os.environ.get("NODE", "node")
START_TIMEOUT = 30.0


class Sidecar:
    """A sidecar on a free loopback port with its own SQLite file. restart() brings it back
    on the same address and file, as a bridge sees a sidecar restart."""

    def __init__(self, args: Sequence[str] = ()) -> None:
        self.args = list(args)
        self.db_path = str(pathlib.Path(tempfile.mkdtemp(prefix="sessionstore-py-")) / "sessionstore.db")
        self.listen = "127.0.0.1:0"
        self.address = ""
        # The --tls-listen address, when the args ask for one.
        self.tls_address = ""
        self.logs: List[dict] = []
        self._proc: Optional[subprocess.Popen] = None
        self.start()

    def start(self) -> None:
        cmd = [NODE, BIN, "serve", "--listen", self.listen, "--sqlite-path", self.db_path, *self.args]
        self._proc = proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        listening: "queue.Queue[str]" = queue.Queue()
        # Keep reading for the sidecar's whole life: a full stdout pipe would block it.
        threading.Thread(target=self._read_logs, args=(proc, listening), daemon=True).start()
        try:
            self.address = listening.get(timeout=START_TIMEOUT)
        except queue.Empty:
            proc.kill()
            raise RuntimeError(f"sidecar did not log 'listening' within {START_TIMEOUT}s: {proc.stderr.read()}") from None
        if not self.address:
            raise RuntimeError(f"sidecar exited with {proc.wait()} before listening: {proc.stderr.read()}")
        self.listen = self.address  # a restart comes back on the same port

    def _read_logs(self, proc: subprocess.Popen, listening: "queue.Queue[str]") -> None:
        for line in proc.stdout:
            try:
                entry = json.loads(line)
            except ValueError:  # the sidecar logs JSON lines only; keep anything else to show it
                entry = {"msg": f"unparsed stdout: {line}"}
            self.logs.append(entry)
            if entry.get("msg") == "listening":
                self.tls_address = entry.get("tlsAddress", "")
                listening.put(entry["address"])
        listening.put("")  # exited; unblocks start() if it never listened

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signals the sidecar (SIGTERM drains; SIGKILL is a crash) and waits for it."""
        assert self._proc is not None
        if self._proc.poll() is None:
            self._proc.send_signal(sig)
        code = self._proc.wait(timeout=30)
        self._proc.stderr.close()
        return code

    def restart(self, sig: int = signal.SIGTERM) -> None:
        self.stop(sig)
        self.start()

"""Flower's deployment engine (flwr >= 1.42): the same ClientApp and ServerApp as the simulation,
run by a SuperLink and SuperNodes that are separate processes, on one machine or several.

``--engine deployment`` without ``--superlink`` starts, on this machine, a SuperLink and one
SuperNode per client (``--node-config "partition-id=I num-partitions=N"``), submits the run with
``flwr run``, waits for it, checks its status with ``flwr ls`` and ends every process it started by
its id (the apps' processes first: a ServerApp whose SuperLink is gone retries for a long time).
With ``--superlink HOST:PORT`` it only submits the run to a SuperLink the user started, whose
SuperNodes run on other machines (README: "Federated AdvTrojan").

Offline, whatever the caller's environment: Flower's telemetry, its update check and its runtime
installation of an app's dependencies (``uv sync``, on by default for a SuperLink) are switched off,
proxies are bypassed for local addresses, and Flower's state lives in a temporary ``FLWR_HOME``
(``~/.flwr`` is not touched). What we took from Flower 1.42's code, and why: docs/protocol.md,
"Federated AdvTrojan".
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from .. import __version__
from ..codec import to_json
from .apps import OUT_KEY, SETTINGS_KEY
from .settings import FLSettings

FLOWER_ENV = {"FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1",
              "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1", "NO_PROXY": "127.0.0.1,localhost",
              "no_proxy": "127.0.0.1,localhost", "PYTHONUNBUFFERED": "1"}
CONNECTION = "advtrojan"  # the SuperLink connection's name in FLWR_HOME/config.toml

# The Flower app project `flwr run` builds into a FAB: only its pyproject; the apps are imported from
# the installed advtrojan package (every machine that runs a SuperLink or a SuperNode installs it).
PYPROJECT = """\
[project]
name = "advtrojan-fl"
version = "{version}"
description = "Federated AdvTrojan (Appendix A, case 2): the apps live in the installed advtrojan package"
license = "Apache-2.0"
dependencies = []

[tool.flwr.app]
publisher = "advtrojan"

[tool.flwr.app.components]
serverapp = "advtrojan.fl.apps:server_app"
clientapp = "advtrojan.fl.apps:client_app"

[tool.flwr.app.config]
{settings} = ""
{out} = ""
"""


def flower_env(home: Path) -> dict[str, str]:
    """The environment of every Flower process: offline, its state in ``home``."""
    env = {**os.environ, **FLOWER_ENV, "FLWR_HOME": str(home)}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def tool(name: str) -> str:
    """A Flower console script of this interpreter's environment."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found: pip install 'advtrojan[fl]'")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(port: int) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://127.0.0.1:{port}/health", timeout=0.5) as r:
            return 200 <= r.status < 300
    except OSError:
        return False


def _children() -> dict[int, list[int]]:
    """ppid -> child pids, from /proc (Flower starts its SuperLink's executor in a session of its own,
    out of reach of the SuperLink's process group)."""
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            out.setdefault(int(stat[stat.rfind(")") + 2:].split()[1]), []).append(int(entry))
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class Processes:
    """The processes of a local federation, each in a session of its own; every descendant ever
    seen is remembered, and :meth:`stop` ends them all by their ids."""

    def __init__(self, logs: Path):
        self.logs, self.started, self.seen = logs, [], set()

    def start(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 (closed in stop)
        p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)
        self.started.append((name, p, log))
        return p

    def watch(self) -> None:
        tree, stack = _children(), [p.pid for _, p, _ in self.started]
        while stack:
            for child in tree.get(stack.pop(), []):
                if child not in self.seen:
                    self.seen.add(child)
                    stack.append(child)

    def failed(self) -> str | None:
        for name, p, _ in self.started:
            if p.poll() is not None:
                return f"{name} exited with code {p.returncode} (its log: {self.logs / name}.log)"
        return None

    def stop(self) -> None:
        """The apps' processes first (a ServerApp whose SuperLink is gone retries for long), then the
        SuperNodes and the SuperLink by process group, then whatever descendant is left."""
        self.watch()
        apps = [p for p in self.seen if _alive(p) and re.search(r"flwr-(serverapp|clientapp)", _command(p))]
        for pid in apps:
            _signal(pid, signal.SIGTERM)
        _wait_gone(apps, 15)
        for _, p, _ in reversed(self.started):
            if p.poll() is None:
                _signal(p.pid, signal.SIGTERM, group=True)
        for _, p, _ in reversed(self.started):
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                _signal(p.pid, signal.SIGKILL, group=True)
                p.wait(5)
        _wait_gone([p for p in self.seen if _alive(p)], 5)
        for _, _, log in self.started:
            log.close()


def _signal(pid: int, sig: int, group: bool = False) -> None:
    try:
        os.killpg(pid, sig) if group else os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_gone(pids: list[int], seconds: float) -> None:
    """Wait up to ``seconds`` for ``pids`` to end; kill those that did not."""
    end = time.monotonic() + seconds
    while any(_alive(p) for p in pids) and time.monotonic() < end:
        time.sleep(0.2)
    for pid in pids:
        if _alive(pid):
            _signal(pid, signal.SIGKILL)


def _wait(what: str, ready, procs: Processes, seconds: float = 60.0) -> None:
    end = time.monotonic() + seconds
    while not ready():
        if (why := procs.failed()) is not None:
            raise RuntimeError(f"waiting for {what}: {why}")
        if time.monotonic() > end:
            raise RuntimeError(f"{what} not ready after {seconds:.0f} s")
        time.sleep(0.25)


def start_local(s: FLSettings, work: Path, procs: Processes) -> str:
    """A SuperLink and ``s.clients`` SuperNodes on this machine; returns the SuperLink's address."""
    link = free_port()
    (work / "superlink").mkdir()
    procs.start("superlink", [tool("flower-superlink"), "--insecure", "--host", "127.0.0.1", "--port", str(link),
                              "--database", str(work / "superlink" / "state.db"), "--isolation", "subprocess",
                              "--disable-runtime-dependency-installation"], flower_env(work / "superlink"))
    _wait("the SuperLink", lambda: healthy(link), procs)
    for i in range(s.clients):
        home = work / f"supernode{i}"
        home.mkdir()
        procs.start(f"supernode{i}", [tool("flower-supernode"), "--insecure", "--superlink", f"127.0.0.1:{link}",
                                      "--host", "127.0.0.1", "--port", str(free_port()), "--max-retries", "30",
                                      "--node-config", f"partition-id={i} num-partitions={s.clients}"],
                    flower_env(home))
    procs.watch()
    return f"127.0.0.1:{link}"


def submit(s: FLSettings, out: Path, address: str, work: Path, procs: Processes | None = None,
           timeout: float | None = None) -> str:
    """``flwr run`` of the apps on the SuperLink at ``address``, waited for; the run's id once it has
    finished as completed, else one error with the end of its log."""
    home, app = work / "cli", work / "app"
    home.mkdir()
    app.mkdir()
    (home / "config.toml").write_text(f'[superlink]\ndefault = "{CONNECTION}"\n\n[superlink.{CONNECTION}]\n'
                                      f'address = "{address}"\ninsecure = true\n')
    (app / "pyproject.toml").write_text(PYPROJECT.format(version=__version__, settings=SETTINGS_KEY, out=OUT_KEY))
    overrides = work / "run-config.toml"  # JSON in TOML basic strings: any text survives flwr's parser
    overrides.write_text(f"{SETTINGS_KEY} = {json.dumps(json.dumps(to_json(s)))}\n{OUT_KEY} = {json.dumps(str(out))}\n")
    env, log = flower_env(home), work / "logs" / "flwr-run.log"
    with open(log, "wb") as fh:
        run = subprocess.Popen([tool("flwr"), "run", str(app), CONNECTION, "--run-config", str(overrides), "--stream"],
                               env=env, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT)
        start = time.monotonic()
        while run.poll() is None:
            if procs is not None:
                procs.watch()
                if (why := procs.failed()) is not None:
                    run.terminate()
                    run.wait()
                    raise RuntimeError(f"the federation broke down: {why}")
            if timeout is not None and time.monotonic() - start > timeout:
                run.terminate()
                run.wait()
                raise RuntimeError(f"the run took more than {timeout:.0f} s")
            time.sleep(0.5)
    text = log.read_text(errors="replace")
    found = re.search(r"Successfully started run (\d+)", text)
    if found is None:
        raise RuntimeError("flwr run did not start the run:\n" + _tail(text))
    ls = subprocess.run([tool("flwr"), "ls", CONNECTION, "--run-id", found.group(1), "--format", "json"], env=env,
                        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    try:
        status = json.loads(ls.stdout)["runs"][0]
    except (ValueError, KeyError, IndexError):
        raise RuntimeError(f"flwr ls gave no status for run {found.group(1)}:\n{_tail(ls.stdout + ls.stderr)}") from None
    if status["status"] != "finished:completed":  # `flwr run --stream` exits 0 whatever happened
        raise RuntimeError(f"run {found.group(1)}: {status['status']} {status.get('status-details', '')}\n"
                           + _tail(text))
    return found.group(1)


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.splitlines()[-lines:])


def deploy(s: FLSettings, out: Path, superlink: str | None = None, timeout: float | None = None) -> None:
    """Run ``s`` on Flower's deployment engine: on a federation of this machine's processes (started
    and ended here), or on the SuperLink at ``superlink``. Flower's logs go to ``out/flower-logs``."""
    work = Path(tempfile.mkdtemp(prefix="advtrojan-flower-"))
    (work / "logs").mkdir()
    procs = Processes(work / "logs")
    try:
        address = superlink or start_local(s, work, procs)
        submit(s, out, address, work, procs if superlink is None else None, timeout)
    finally:
        procs.stop()
        logs = out / "flower-logs"
        shutil.rmtree(logs, ignore_errors=True)
        shutil.copytree(work / "logs", logs)
        shutil.rmtree(work, ignore_errors=True)

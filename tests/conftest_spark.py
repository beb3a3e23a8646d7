"""Real Spark services for the tests: a standalone cluster of separate processes, a Connect server.

Everything is started from the installed pyspark (``pyspark/bin/spark-class``,
``pyspark/bin/spark-submit``), bound to 127.0.0.1 on free ports, each process in its own
process group with its log in a folder of pytest's temporary directory (kept after the run, as
pytest keeps its last three). Every process is killed when its context ends, whatever happened.

:func:`standalone_cluster`
    A master and ``workers`` workers (``org.apache.spark.deploy.master.Master`` /
    ``org.apache.spark.deploy.worker.Worker``), each worker with its own work folder and its
    own temporary folder (``SPARK_LOCAL_DIRS``, where its executors spill and shuffle), one
    core and 1 GiB for executors each. ``Cluster.env`` is the environment for a driver that
    uses it: ``SPARK_CONF_DIR`` with small test settings, and ``PYSPARK_PYTHON`` pointing at
    a program that does not exist, so any Python UDF shipped to an executor would fail.
:func:`connect_server`
    ``org.apache.spark.sql.connect.service.SparkConnectServer`` through ``spark-submit``
    (what ``sbin/start-connect-server.sh`` runs), in local mode; yields its ``sc://`` URL.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

#: JVM options of every test JVM: the C1 compiler alone and the serial collector start fast.
FAST_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
#: Settings of every application on the test cluster (``spark-defaults.conf``).
APP_DEFAULTS = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.memory": "1g",
    "spark.executor.memory": "768m",
    "spark.sql.shuffle.partitions": "8",
    "spark.driver.extraJavaOptions": FAST_JVM,
    "spark.executor.extraJavaOptions": FAST_JVM,
}
#: Seconds a service may take to come up (2 shared cores: be patient, but not forever).
START_TIMEOUT = 180.0
#: Where executors would look for Python: nothing there (segmint ships no Python UDF).
NO_PYTHON = "/nonexistent/python-on-executors"


def spark_home() -> Path:
    """The Spark distribution inside the installed pyspark package."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """One started process, its log, and how to stop it."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 25) -> str:
        """The end of the log, for a failure message."""
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        return f"--- {self.name} ({self.log}) ---\n" + "\n".join(text[-lines:])

    def stop(self) -> None:
        """SIGTERM to the process group (a worker's executors too), SIGKILL after 15 s."""
        if self.proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue


#: Where the services' logs are copied when a test of the session failed (pytest's own
#: temporary folders are shared by every run on the machine and pruned to the last three).
KEPT_LOGS = Path(__file__).resolve().parent / "artifacts" / "spark-logs"


def keep_logs(root: Path) -> Path:
    """Copy a services' folder (daemon logs, executors' stdout/stderr; not their temporary
    files) to :data:`KEPT_LOGS`; return the copy."""
    import shutil

    target = KEPT_LOGS / root.name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(root, target, ignore=shutil.ignore_patterns("tmp", "warehouse", "*.jar"))
    return target


def _start(name: str, argv: list[str], env: dict[str, str], logs: Path) -> Service:
    log = logs / f"{name}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() reaches its children
        )
    return Service(name, proc, log)


def _wait(what: str, ready: Callable[[], bool], services: list[Service]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        dead = [s for s in services if s.proc.poll() is not None]
        if dead:
            raise RuntimeError(
                f"{what}: {dead[0].name} exited with {dead[0].proc.returncode}\n"
                + "\n".join(s.tail() for s in services)
            )
        try:
            if ready():
                return
        except (OSError, ValueError):  # not listening yet, or a page not yet JSON
            pass
        time.sleep(0.5)
    raise RuntimeError(
        f"{what}: not ready after {START_TIMEOUT:.0f} s\n" + "\n".join(s.tail() for s in services)
    )


def _base_env(conf_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED", "PYSPARK_GATEWAY_PORT"):
        env.pop(key, None)
    env.update(
        {
            "SPARK_HOME": str(spark_home()),
            "SPARK_CONF_DIR": str(conf_dir),
            "SPARK_LOCAL_IP": "127.0.0.1",
            # the driver (spark-submit) runs this interpreter, where segmint is importable
            "PYSPARK_DRIVER_PYTHON": sys.executable,
            "PYSPARK_PYTHON": NO_PYTHON,
        }
    )
    return env


def _write_conf(conf_dir: Path, settings: dict[str, str]) -> None:
    conf_dir.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{key} {value}\n" for key, value in settings.items())
    (conf_dir / "spark-defaults.conf").write_text(text, encoding="utf-8")


@dataclass
class Cluster:
    """A running standalone cluster."""

    master_url: str
    web_url: str
    env: dict[str, str]
    root: Path
    services: list[Service] = field(default_factory=list)

    def logs(self) -> str:
        """The end of every daemon's log, for a failure message."""
        return "\n".join(s.tail() for s in self.services)

    def state(self) -> dict[str, object]:
        """The master's JSON state (workers, applications)."""
        with urllib.request.urlopen(f"{self.web_url}/json/", timeout=5) as answer:
            state: dict[str, object] = json.load(answer)
        return state


@contextmanager
def standalone_cluster(root: Path, workers: int = 2, *, fast_jvm: bool = True) -> Iterator[Cluster]:
    """A standalone master and ``workers`` workers on 127.0.0.1, stopped on exit.

    ``fast_jvm=False`` (benchmarks) leaves the JVMs' JIT compilers at their defaults.
    """
    home = spark_home()
    spark_class = str(home / "bin" / "spark-class")
    conf_dir = root / "conf"
    settings = dict(APP_DEFAULTS)
    jvm = FAST_JVM if fast_jvm else ""
    if not fast_jvm:
        del settings["spark.driver.extraJavaOptions"], settings["spark.executor.extraJavaOptions"]
    _write_conf(conf_dir, settings)
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = _base_env(conf_dir)
    # the daemons only (spark-submit gives the Connect server these settings too)
    daemon_env = {**env, "SPARK_DAEMON_MEMORY": "256m", "SPARK_DAEMON_JAVA_OPTS": jvm}
    port, web = free_port(), free_port()
    master_url = f"spark://127.0.0.1:{port}"
    cluster = Cluster(master_url, f"http://127.0.0.1:{web}", env, root)
    with ExitStack() as stack:
        master = _start(
            "master",
            [
                spark_class,
                "org.apache.spark.deploy.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--webui-port",
                str(web),
            ],
            daemon_env,
            logs,
        )
        cluster.services.append(master)
        stack.callback(master.stop)
        for i in range(workers):
            folder = root / f"worker{i}"
            (folder / "work").mkdir(parents=True, exist_ok=True)
            (folder / "tmp").mkdir(parents=True, exist_ok=True)
            worker_env = {
                **daemon_env,
                "SPARK_LOCAL_DIRS": str(folder / "tmp"),
                "SPARK_DAEMON_JAVA_OPTS": f"{jvm} -Djava.io.tmpdir={folder / 'tmp'}".strip(),
            }
            worker = _start(
                f"worker{i}",
                [
                    spark_class,
                    "org.apache.spark.deploy.worker.Worker",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(free_port()),
                    "--webui-port",
                    str(free_port()),
                    "--cores",
                    "1",
                    "--memory",
                    "1g",
                    "--work-dir",
                    str(folder / "work"),
                    master_url,
                ],
                worker_env,
                logs,
            )
            cluster.services.append(worker)
            stack.callback(worker.stop)

        def alive() -> bool:
            return int(str(cluster.state().get("aliveworkers", 0))) == workers

        _wait(f"standalone cluster at {master_url}", alive, cluster.services)
        yield cluster


@contextmanager
def connect_server(root: Path) -> Iterator[tuple[str, Service]]:
    """A Spark Connect server (local[2]) on 127.0.0.1; yields ``(sc://127.0.0.1:PORT, service)``."""
    home = spark_home()
    conf_dir = root / "conf"
    _write_conf(conf_dir, {**APP_DEFAULTS, "spark.sql.shuffle.partitions": "4"})
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    port = free_port()
    service = _start(
        "connect-server",
        [
            str(home / "bin" / "spark-submit"),
            "--class",
            "org.apache.spark.sql.connect.service.SparkConnectServer",
            "--master",
            "local[2]",
            "--name",
            "segmint-tests-connect",
            "--conf",
            f"spark.connect.grpc.binding.port={port}",
            "--conf",
            "spark.connect.grpc.binding.address=127.0.0.1",
            "--conf",
            f"spark.sql.warehouse.dir={root / 'warehouse'}",
            "--conf",
            f"spark.local.dir={root / 'tmp'}",
            "spark-internal",
        ],
        _base_env(conf_dir),
        logs,
    )
    try:

        def listening() -> bool:
            if "Spark Connect server started" not in service.log.read_text(errors="replace"):
                return False
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                return True

        _wait("Spark Connect server", listening, [service])
        yield f"sc://127.0.0.1:{port}", service
    finally:
        service.stop()

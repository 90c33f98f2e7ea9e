"""A real single-node Elasticsearch for development and tests, run as a plain process.

The server is the `integ-test-zip` distribution from Maven Central, so no
container runtime or OS package is needed: Maven fetches the zip, we unzip it
into the cache folder and run `bin/elasticsearch -d`. The pinned version,
heap and ports live in `connectors/data/elasticsearch.yaml`.

That distribution is deliberately small: it has no root endpoint (`GET /`
answers 405, so the client's `info()`/`ping()` fail) and no `analysis-common`
module. Readiness is therefore always checked with `GET /_cluster/health`.
"""

from __future__ import annotations

import contextlib

import argparse
import json
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from connectors.errors import ConfigError, LocalServerError

__all__ = [
    "LocalServerConfig",
    "LocalPaths",
    "ServerStatus",
    "StartResult",
    "load_config",
    "cache_dir",
    "local_paths",
    "find_java_home",
    "install",
    "start",
    "stop",
    "status",
    "url",
    "main",
]

CONFIG_RESOURCE = "elasticsearch.yaml"
PORT_ENV = "LIBYA_WATCH_ES_PORT"
CACHE_ENV = "LIBYA_WATCH_CACHE"
ROOT_CACHE_DIR = Path("/var/cache/libya-watch")
# The server's main class, used to tell our server from a process that
# reused its pid.
SERVER_MAIN_CLASS = "org.elasticsearch.bootstrap.Elasticsearch"
# Client credentials never need to reach the server's environment.
_CLIENT_ENV = ("ES_URL", "ES_API_KEY", "ES_USERNAME", "ES_PASSWORD", "ES_CA_CERTS")


@dataclass(frozen=True)
class LocalServerConfig:
    """The pinned local server, as read from `elasticsearch.yaml`."""

    group_id: str
    artifact_id: str
    version: str
    packaging: str
    heap: str
    host: str
    port: int
    transport_port: int
    cluster_name: str
    service_user: str

    @property
    def coordinates(self) -> str:
        """Maven coordinates in the `group:artifact:version:packaging` form."""
        return f"{self.group_id}:{self.artifact_id}:{self.version}:{self.packaging}"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class LocalPaths:
    """Where the zip, the unpacked server, its data and its logs live."""

    cache: Path
    zip_file: Path
    home: Path
    data: Path
    logs: Path
    run: Path

    @property
    def dist(self) -> Path:
        return self.zip_file.parent

    @property
    def pid_file(self) -> Path:
        return self.run / "elasticsearch.pid"

    @property
    def console_log(self) -> Path:
        """The launcher's stdout and stderr (startup failures land here)."""
        return self.logs / "console.log"


@dataclass(frozen=True)
class ServerStatus:
    """What `status()` reports about the local server."""

    running: bool
    pid: int | None
    url: str
    version: str
    installed: bool
    home: Path
    data_dir: Path
    log_file: Path
    health: str | None = None


@dataclass(frozen=True)
class StartResult:
    """What `start()` did: started the server now, or found it running."""

    already_running: bool
    status: ServerStatus
    elapsed_s: float


# --- configuration -----------------------------------------------------------------------

_SERVER_KEYS = ("heap", "host", "port", "transport_port", "cluster_name", "service_user")
_MAVEN_KEYS = ("group_id", "artifact_id", "version", "packaging")


def load_config(path: Path | None = None,
                environ: Mapping[str, str] | None = None) -> LocalServerConfig:
    """Reads the pinned server from YAML; `LIBYA_WATCH_ES_PORT` overrides the port.

    With that override the transport port becomes the HTTP port + 100, so a
    second server (another checkout, a CI run) can live beside the first.
    """
    env = os.environ if environ is None else environ
    if path is None:
        source = Path(__file__).with_name("data") / CONFIG_RESOURCE
        where = CONFIG_RESOURCE
    else:
        source, where = path, str(path)
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the local server config: {exc}", source=where) from exc
    server = raw.get("server") if isinstance(raw, dict) else None
    if not isinstance(server, dict) or not isinstance(server.get("maven"), dict):
        raise ConfigError("expected a 'server' mapping holding a 'maven' mapping", source=where)
    values: dict[str, Any] = {}
    for key in _MAVEN_KEYS:
        values[key] = _required(server["maven"], key, where, f"server.maven.{key}")
    for key in _SERVER_KEYS:
        values[key] = _required(server, key, where, f"server.{key}")
    for key in ("group_id", "artifact_id", "version", "packaging", "heap", "host",
                "cluster_name", "service_user"):
        values[key] = str(values[key])
    values["port"] = _port(values["port"], where, "server.port")
    values["transport_port"] = _port(values["transport_port"], where, "server.transport_port")
    if env.get(PORT_ENV):
        # A second server on the same machine needs its own transport port too.
        values["port"] = _port(env[PORT_ENV], "environment", PORT_ENV)
        values["transport_port"] = _port(values["port"] + 100, "environment",
                                         f"{PORT_ENV} + 100")
    heap = values["heap"]
    if not (heap[:-1].isdigit() and heap[-1:].lower() in ("m", "g")):
        raise ConfigError(f"must look like '512m' or '1g', got {heap!r}", source=where,
                          where="server.heap")
    return LocalServerConfig(**values)


def _required(section: Mapping[str, Any], key: str, source: str, where: str) -> Any:
    value = section.get(key)
    if value is None or value == "":
        raise ConfigError("is missing", source=source, where=where)
    return value


def _port(value: Any, source: str, where: str) -> int:
    try:
        port = int(str(value).strip())
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise ConfigError(f"must be a port number (1-65535), got {value!r}", source=source,
                          where=where)
    return port


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def cache_dir(environ: Mapping[str, str] | None = None, *, as_root: bool | None = None) -> Path:
    """The folder that holds the zip, the unpacked server and its data.

    Root gets a folder under /var/cache because the service user that runs
    the server must be able to traverse it, and root's home is private.
    """
    env = os.environ if environ is None else environ
    if env.get(CACHE_ENV):
        return Path(env[CACHE_ENV]).expanduser().absolute()
    if _is_root() if as_root is None else as_root:
        return ROOT_CACHE_DIR
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser().absolute() / "libya-watch"


def local_paths(config: LocalServerConfig, cache: Path | None = None) -> LocalPaths:
    root = cache_dir() if cache is None else cache
    return LocalPaths(
        cache=root,
        zip_file=root / "dist" / f"{config.artifact_id}-{config.version}.{config.packaging}",
        home=root / f"elasticsearch-{config.version}",
        data=root / "data",
        logs=root / "logs",
        run=root / "run",
    )


def url(config: LocalServerConfig | None = None) -> str:
    """The local server's HTTP address."""
    return (config or load_config()).url


def find_java_home(environ: Mapping[str, str] | None = None) -> Path:
    """The JDK to run the server with: `JAVA_HOME`, else the real path of `java` on PATH."""
    env = os.environ if environ is None else environ
    if env.get("JAVA_HOME"):
        home = Path(env["JAVA_HOME"])
        if not (home / "bin" / "java").is_file():
            raise LocalServerError(f"JAVA_HOME={home} has no bin/java; point it at a JDK 17+")
        return home
    java = shutil.which("java", path=env.get("PATH", ""))
    if java is None:
        raise LocalServerError("no Java found: set JAVA_HOME or put a JDK 17+ 'java' on PATH")
    return Path(java).resolve().parent.parent


# --- install -----------------------------------------------------------------------------

def install(config: LocalServerConfig | None = None, cache: Path | None = None) -> Path:
    """Fetches (with Maven) and unpacks the pinned server if needed; returns its home."""
    cfg = config or load_config()
    paths = local_paths(cfg, cache)
    if (paths.home / "bin" / "elasticsearch").is_file():
        return paths.home
    if not paths.zip_file.is_file():
        _fetch_with_maven(cfg, paths)
    _unpack(paths)
    return paths.home


def _fetch_with_maven(cfg: LocalServerConfig, paths: LocalPaths) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise LocalServerError(
            f"Maven ('mvn') is not on PATH: install Maven, or put {paths.zip_file.name} "
            f"({cfg.coordinates}) into {paths.dist}")
    paths.dist.mkdir(parents=True, exist_ok=True)
    cmd = [mvn, "-q", "-B", "dependency:copy", f"-Dartifact={cfg.coordinates}",
           f"-DoutputDirectory={paths.dist}"]
    try:
        done = subprocess.run(cmd, cwd=paths.dist, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=1800)
    except subprocess.TimeoutExpired as exc:
        raise LocalServerError(f"Maven did not fetch {cfg.coordinates} within 30 minutes") from exc
    if done.returncode != 0 or not paths.zip_file.is_file():
        reason = _first_error_line(done.stdout + "\n" + done.stderr) or f"exit {done.returncode}"
        raise LocalServerError(f"Maven could not fetch {cfg.coordinates}: {reason}")


def _first_error_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("[ERROR]")]
    return (errors or lines or [""])[0][:300]


def _unpack(paths: LocalPaths) -> None:
    """Unzips next to the target and renames into place, so a half unzip is never used."""
    staging = paths.cache / f".unpack-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        try:
            with zipfile.ZipFile(paths.zip_file) as archive:
                for member in archive.infolist():
                    target = Path(archive.extract(member, staging))
                    mode = (member.external_attr >> 16) & 0o7777
                    if mode and not member.is_dir():
                        target.chmod(mode)
        except (zipfile.BadZipFile, OSError) as exc:
            raise LocalServerError(
                f"{paths.zip_file}: cannot unpack ({exc}); delete it and install again") from exc
        tops = [p for p in staging.iterdir() if p.is_dir()]
        if len(tops) != 1 or not (tops[0] / "bin" / "elasticsearch").is_file():
            raise LocalServerError(
                f"{paths.zip_file}: expected one folder with bin/elasticsearch inside")
        if not (paths.home / "bin" / "elasticsearch").is_file():
            shutil.rmtree(paths.home, ignore_errors=True)
            tops[0].rename(paths.home)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# --- status ------------------------------------------------------------------------------

def _read_pid(paths: LocalPaths) -> int | None:
    """The server's pid from its pid file, else found among the processes by its home folder.

    The fallback adopts a server whose pid file went missing (say, removed by
    a `stop` that raced a `start`), instead of starting a second one on a
    taken port.
    """
    try:
        return int(paths.pid_file.read_text().strip())
    except (OSError, ValueError):
        pass
    pid = _find_server_pid(paths.home)
    if pid is not None:
        with contextlib.suppress(OSError):
            paths.pid_file.write_text(f"{pid}\n")
    return pid


def _find_server_pid(home: Path) -> int | None:
    """The pid of a running Elasticsearch whose command line names this home folder."""
    marker = f"-Des.path.home={home}".encode()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if SERVER_MAIN_CLASS.encode() in cmdline and marker + b"\0" in cmdline + b"\0":
            return int(entry.name)
    return None


def _is_server_process(pid: int) -> bool:
    """Alive, not a zombie, and (where /proc exists) really an Elasticsearch server."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    proc = Path("/proc") / str(pid)
    if not Path("/proc/self").exists():
        return True
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X") and SERVER_MAIN_CLASS in cmdline


def _health(base_url: str, wait_for_yellow_s: float = 0.0) -> str | None:
    """The cluster health colour, or None when nothing answers like a cluster."""
    query = "/_cluster/health"
    if wait_for_yellow_s > 0:
        query += f"?wait_for_status=yellow&timeout={int(wait_for_yellow_s)}s"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(base_url + query, timeout=wait_for_yellow_s + 5) as response:
            return json.load(response).get("status")
    except (OSError, ValueError):  # includes HTTPError, e.g. 408 when not yet yellow
        return None


def status(config: LocalServerConfig | None = None, cache: Path | None = None) -> ServerStatus:
    """Whether the local server runs, with its pid, address, version and folders."""
    cfg = config or load_config()
    paths = local_paths(cfg, cache)
    pid = _read_pid(paths)
    running = pid is not None and _is_server_process(pid)
    return ServerStatus(
        running=running,
        pid=pid if running else None,
        url=cfg.url,
        version=cfg.version,
        installed=(paths.home / "bin" / "elasticsearch").is_file(),
        home=paths.home,
        data_dir=paths.data,
        log_file=paths.logs / f"{cfg.cluster_name}.log",
        health=_health(cfg.url) if running else None,
    )


# --- start / stop ------------------------------------------------------------------------

def start(wait_s: float = 120, config: LocalServerConfig | None = None,
          cache: Path | None = None) -> StartResult:
    """Starts the local server (installing it first if needed) and waits until it is yellow.

    Idempotent: when the server of this cache folder already runs, it only
    waits for it to answer and says so in `StartResult.already_running`.
    """
    began = time.monotonic()
    cfg = config or load_config()
    paths = local_paths(cfg, cache)
    current = status(cfg, paths.cache)
    if current.running:
        _wait_until_ready(cfg, paths, current.pid, began + wait_s)
        return StartResult(True, status(cfg, paths.cache), time.monotonic() - began)

    for port in (cfg.port, cfg.transport_port):
        if _port_in_use(cfg.host, port):
            raise LocalServerError(
                f"port {port} on {cfg.host} is taken by another process (not the server in "
                f"{paths.cache}); stop it or set {PORT_ENV}")
    java_home = find_java_home()
    install(cfg, paths.cache)
    for folder in (paths.data, paths.logs, paths.run):
        folder.mkdir(parents=True, exist_ok=True)
    paths.pid_file.unlink(missing_ok=True)
    _write_server_config(cfg, paths)

    prefix: list[str] = []
    if _is_root():
        _check_traversable(paths.cache, cfg.service_user)
        uid, gid = _ensure_service_user(cfg.service_user)
        for folder in (paths.home, paths.data, paths.logs, paths.run):
            _chown_tree(folder, uid, gid)
        runuser = shutil.which("runuser")
        prefix = [runuser, "-u", cfg.service_user, "--"] if runuser else []
        if not prefix:
            raise LocalServerError("running as root needs 'runuser' to start Elasticsearch "
                                   f"as user {cfg.service_user}")

    env = {k: v for k, v in os.environ.items() if k not in _CLIENT_ENV}
    env.update(ES_JAVA_HOME=str(java_home), ES_JAVA_OPTS=f"-Xms{cfg.heap} -Xmx{cfg.heap}",
               ES_PATH_CONF=str(paths.home / "config"))
    cmd = prefix + [str(paths.home / "bin" / "elasticsearch"), "-d", "-p", str(paths.pid_file)]
    deadline = began + wait_s
    if paths.console_log.exists():  # keep one previous start for reference
        paths.console_log.replace(paths.console_log.with_suffix(".log.1"))
    with open(paths.console_log, "wb") as console:
        launcher = subprocess.Popen(cmd, cwd=paths.home, env=env, stdin=subprocess.DEVNULL,
                                    stdout=console, stderr=subprocess.STDOUT,
                                    start_new_session=True)
    try:
        code = launcher.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        launcher.kill()
        launcher.wait()
        raise LocalServerError(
            _failure("the launcher did not return", wait_s, cfg, paths)) from None
    if code != 0:
        raise LocalServerError(_failure(f"the launcher exited with {code}", None, cfg, paths))
    _wait_until_ready(cfg, paths, _read_pid(paths), deadline)
    return StartResult(False, status(cfg, paths.cache), time.monotonic() - began)


def _wait_until_ready(cfg: LocalServerConfig, paths: LocalPaths, pid: int | None,
                      deadline: float) -> None:
    while True:
        left = deadline - time.monotonic()
        if pid is not None and not _is_server_process(pid):
            raise LocalServerError(_failure("the server process exited", None, cfg, paths))
        if _health(cfg.url, wait_for_yellow_s=max(0.0, min(5.0, left))) in ("yellow", "green"):
            return
        if time.monotonic() >= deadline:
            raise LocalServerError(_failure("not yellow in time", None, cfg, paths))
        time.sleep(0.5)
        if pid is None:
            pid = _read_pid(paths)


def _failure(what: str, wait_s: float | None, cfg: LocalServerConfig, paths: LocalPaths) -> str:
    server_log = paths.logs / f"{cfg.cluster_name}.log"
    tail = _last_lines(paths.console_log, 3) or _last_lines(server_log, 3)
    hint = f"; last log lines: {tail}" if tail else ""
    within = f" within {wait_s:g}s" if wait_s is not None else ""
    return (f"local Elasticsearch {cfg.version} at {cfg.url} did not start{within} ({what})"
            f"{hint}; see {paths.console_log} and {server_log}")


_STACK_FRAME = re.compile(r"^(at |\.\.\. \d+ more|Caused by: .*\.\.\. \d+ more)")
_TROUBLE = re.compile(r"error|exception|fatal|failed|insufficient|cannot|unable", re.IGNORECASE)


def _last_lines(path: Path, count: int) -> str:
    """The last lines that say what went wrong (stack frames skipped), joined into one line."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 65536))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    lines = [line for line in lines if not _STACK_FRAME.match(line)]
    trouble = [line for line in lines if _TROUBLE.search(line)]
    return " | ".join((trouble or lines)[-count:])[-600:]


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        return probe.connect_ex((host, port)) == 0


def _write_server_config(cfg: LocalServerConfig, paths: LocalPaths) -> None:
    settings = {
        "cluster.name": cfg.cluster_name,
        "node.name": f"{cfg.cluster_name}-local",
        "network.host": cfg.host,
        "http.port": cfg.port,
        "transport.port": cfg.transport_port,
        "discovery.type": "single-node",
        # Local default only: real clusters bring their own security.
        "xpack.security.enabled": False,
        "path.data": str(paths.data),
        "path.logs": str(paths.logs),
        "action.destructive_requires_name": True,
    }
    header = "# Written by libya-watch on every start of the local server; edits are lost.\n"
    text = header + yaml.safe_dump(settings, sort_keys=False, default_flow_style=False)
    (paths.home / "config" / "elasticsearch.yml").write_text(text, encoding="utf-8")


def _ensure_service_user(name: str) -> tuple[int, int]:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        useradd = shutil.which("useradd")
        if useradd is None:
            raise LocalServerError(
                f"Elasticsearch refuses to run as root and 'useradd' is missing to create "
                f"user {name}; create it or start as a normal user") from None
        done = subprocess.run([useradd, "--system", "--no-create-home", "--shell",
                               "/usr/sbin/nologin", name], capture_output=True, text=True)
        if done.returncode != 0:
            reason = " ".join(done.stderr.split()) or f"exit {done.returncode}"
            raise LocalServerError(f"cannot create service user {name}: {reason}") from None
        entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid


def _check_traversable(cache: Path, user: str) -> None:
    """The service user must reach the cache folder; private homes (like /root) block it."""
    for folder in [cache, *cache.parents]:
        try:
            mode = folder.stat().st_mode
        except FileNotFoundError:
            continue
        if not mode & stat.S_IXOTH:
            raise LocalServerError(
                f"{folder} is not traversable by user {user}, so it cannot use {cache}; "
                f"choose another folder with {CACHE_ENV}")


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    """Hands a folder to the service user; skipped when it already owns the top."""
    if not root.exists() or root.stat().st_uid == uid:
        return
    for folder, dirs, files in os.walk(root):
        os.chown(folder, uid, gid, follow_symlinks=False)
        for name in dirs + files:
            os.chown(os.path.join(folder, name), uid, gid, follow_symlinks=False)


def stop(wait_s: float = 60, config: LocalServerConfig | None = None,
         cache: Path | None = None) -> bool:
    """Stops the local server; True when it was running. Escalates to SIGKILL after `wait_s`."""
    cfg = config or load_config()
    paths = local_paths(cfg, cache)
    pid = _read_pid(paths)
    if pid is None or not _is_server_process(pid):
        paths.pid_file.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    if not _wait_gone(pid, wait_s):
        os.kill(pid, signal.SIGKILL)
        if not _wait_gone(pid, 10):
            raise LocalServerError(f"local Elasticsearch (pid {pid}) did not stop, even on SIGKILL")
    if _read_pid_file(paths) == pid:  # a server started meanwhile keeps its pid file
        paths.pid_file.unlink(missing_ok=True)
    return True


def _read_pid_file(paths: LocalPaths) -> int | None:
    try:
        return int(paths.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _wait_gone(pid: int, wait_s: float) -> bool:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if not _is_server_process(pid):
            return True
        time.sleep(0.2)
    return not _is_server_process(pid)


# --- command line ------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    """`python -m connectors.es_local {install,start,stop,status}`."""
    parser = argparse.ArgumentParser(prog="python -m connectors.es_local",
                                     description="Run the local single-node Elasticsearch.")
    parser.add_argument("command", choices=("install", "start", "stop", "status", "url"))
    parser.add_argument("--wait", type=float, default=120, help="seconds to wait for start")
    args = parser.parse_args(argv)
    try:
        if args.command == "install":
            print(install())
        elif args.command == "start":
            result = start(wait_s=args.wait)
            word = "already running" if result.already_running else "started"
            print(f"Elasticsearch {result.status.version} {word} at {result.status.url} "
                  f"(pid {result.status.pid}, data {result.status.data_dir})")
        elif args.command == "stop":
            print("stopped" if stop() else "not running")
        elif args.command == "status":
            s = status()
            state = f"running (pid {s.pid}, health {s.health})" if s.running else "not running"
            print(f"Elasticsearch {s.version} at {s.url}: {state}; data {s.data_dir}; "
                  f"log {s.log_file}")
        else:
            print(url())
    except LocalServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

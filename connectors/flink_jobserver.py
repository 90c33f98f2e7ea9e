"""The Beam Flink job server, installed once with Maven so `--runner FlinkRunner` downloads nothing.

Beam's Python FlinkRunner starts a job server from a jar and, with
`--flink_master=[local]`, runs the pipeline on a Flink cluster embedded in
that process. Left alone, it downloads the jar on every new machine at run
time; `install()` fetches it ahead of time into the cache folder (the one
the local Elasticsearch uses, `LIBYA_WATCH_CACHE`), and `flink_beam_args()`
points Beam at it.

The pinned Flink and Beam versions live in `connectors/data/flink.yaml`. When
the Maven repository has no published job-server jar for them, the runner
library and its dependencies are resolved instead and a launcher jar whose
manifest lists them is written beside them: `java -jar` starts it the same way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape


from connectors.errors import ConfigError, JobServerError
from connectors.es_local import cache_dir
from connectors.yamlfile import read_yaml

__all__ = [
    "JobServerConfig",
    "JobServerError",
    "load_config",
    "install_dir",
    "install_job_server",
    "job_server_jar",
    "flink_beam_args",
]

CONFIG_RESOURCE = "flink.yaml"
JAR_NAME = "job-server.jar"
RUNNER_NAMES = frozenset({"flinkrunner", "apache_beam.runners.portability.flink_runner.flinkrunner"})
MAVEN_TIMEOUT_S = 1800
INSTALL_HINT = "run `libya-watch flink install` (or `make install`)"


@dataclass(frozen=True)
class JobServerConfig:
    """The pinned job server, as read from `flink.yaml`."""

    flink_version: str
    beam_version: str
    group_id: str
    published_artifact: str
    packaging: str
    assembled_group_id: str
    assembled_artifact: str
    main_class: str

    @property
    def published_coordinates(self) -> str:
        """`group:artifact:version:packaging` of the self-contained job-server jar."""
        return f"{self.group_id}:{self.published_artifact}:{self.beam_version}:{self.packaging}"

    @property
    def assembled_coordinates(self) -> str:
        """`group:artifact:version` of the runner library the launcher jar is assembled from."""
        return f"{self.assembled_group_id}:{self.assembled_artifact}:{self.beam_version}"


def load_config(path: Path | None = None) -> JobServerConfig:
    """Reads the pinned Flink and Beam versions and the Maven coordinates from YAML."""
    if path is None:
        source, where = Path(__file__).with_name("data") / CONFIG_RESOURCE, CONFIG_RESOURCE
    else:
        source, where = path, str(path)
    raw = read_yaml(source, where)
    if not isinstance(raw, dict):
        raise ConfigError("expected a mapping", source=where)
    published = _section(raw, "published", where)
    assembled = _section(raw, "assembled", where)
    return JobServerConfig(
        flink_version=_text(raw, "flink_version", where, "flink_version"),
        beam_version=_text(raw, "beam_version", where, "beam_version"),
        group_id=_text(published, "group_id", where, "published.group_id"),
        published_artifact=_text(published, "artifact_id", where, "published.artifact_id"),
        packaging=_text(published, "packaging", where, "published.packaging"),
        assembled_group_id=_text(assembled, "group_id", where, "assembled.group_id"),
        assembled_artifact=_text(assembled, "artifact_id", where, "assembled.artifact_id"),
        main_class=_text(assembled, "main_class", where, "assembled.main_class"),
    )


def _section(raw: Mapping[str, Any], key: str, source: str) -> Mapping[str, Any]:
    value = raw.get(key)
    if not isinstance(value, dict):
        raise ConfigError("expected a mapping", source=source, where=key)
    return value


def _text(section: Mapping[str, Any], key: str, source: str, where: str) -> str:
    value = section.get(key)
    if value is None or str(value).strip() == "":
        raise ConfigError("is missing", source=source, where=where)
    return str(value).strip()


def install_dir(config: JobServerConfig | None = None, cache: Path | None = None) -> Path:
    """The folder of one pinned job server inside the cache folder."""
    cfg = config or load_config()
    root = cache_dir() if cache is None else cache
    return root / "flink" / f"beam-{cfg.beam_version}-flink-{cfg.flink_version}"


def job_server_jar(config: JobServerConfig | None = None, cache: Path | None = None) -> Path | None:
    """The installed job-server jar, or None when `install_job_server()` has not run."""
    jar = install_dir(config, cache) / JAR_NAME
    return jar if jar.is_file() else None


# --- install -----------------------------------------------------------------------------

def install_job_server(config: JobServerConfig | None = None, cache: Path | None = None) -> Path:
    """Fetches the pinned job server with Maven unless it is installed; returns its jar.

    Everything is built in a staging folder renamed into place at the end,
    so an interrupted install is never mistaken for a finished one.
    """
    cfg = config or load_config()
    target = install_dir(cfg, cache)
    jar = target / JAR_NAME
    if jar.is_file():
        return jar
    mvn = shutil.which("mvn")
    if mvn is None:
        raise JobServerError(
            f"Maven ('mvn') is not on PATH: install Maven, or put the jar of "
            f"{cfg.published_coordinates} at {jar}")
    staging = target.with_name(f".{target.name}-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        published = _maven(mvn, staging, ["dependency:copy",
                                          f"-Dartifact={cfg.published_coordinates}",
                                          f"-DoutputDirectory={staging}"])
        fetched = staging / f"{cfg.published_artifact}-{cfg.beam_version}.{cfg.packaging}"
        if published.returncode == 0 and fetched.is_file():
            fetched.rename(staging / JAR_NAME)
        else:
            _assemble(mvn, cfg, staging, published)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return jar


def _assemble(mvn: str, cfg: JobServerConfig, staging: Path,
              published: subprocess.CompletedProcess) -> None:
    """The runner library and its runtime dependencies in `lib/`, and a launcher jar naming them."""
    (staging / "pom.xml").write_text(_pom(cfg), encoding="utf-8")
    done = _maven(mvn, staging, ["dependency:copy-dependencies", "-DincludeScope=runtime",
                                 f"-DoutputDirectory={staging / 'lib'}"])
    jars = sorted((staging / "lib").glob("*.jar")) if (staging / "lib").is_dir() else []
    if done.returncode != 0 or not jars:
        why_published = _first_error_line(published.stdout + "\n" + published.stderr)
        why = _first_error_line(done.stdout + "\n" + done.stderr) or f"exit {done.returncode}"
        raise JobServerError(
            f"Maven could not fetch {cfg.published_coordinates} ({why_published or 'not found'}) "
            f"nor {cfg.assembled_coordinates}: {why}")
    _write_launcher(staging / JAR_NAME, cfg.main_class, [f"lib/{j.name}" for j in jars])
    (staging / "pom.xml").unlink()


def _maven(mvn: str, cwd: Path, goal: list[str]) -> subprocess.CompletedProcess:
    """Runs one Maven goal in batch mode; MAVEN_OPTS and ~/.m2/settings.xml apply as usual."""
    try:
        return subprocess.run([mvn, "-q", "-B", *goal], cwd=cwd, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=MAVEN_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise JobServerError(f"Maven did not finish {goal[0]} within "
                             f"{MAVEN_TIMEOUT_S // 60} minutes") from exc


def _pom(cfg: JobServerConfig) -> str:
    """A throw-away project whose only dependency is the runner library."""
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        "  <modelVersion>4.0.0</modelVersion>\n"
        "  <groupId>libya-watch</groupId><artifactId>flink-job-server</artifactId>\n"
        "  <version>1</version><packaging>pom</packaging>\n"
        "  <dependencies><dependency>\n"
        f"    <groupId>{escape(cfg.assembled_group_id)}</groupId>\n"
        f"    <artifactId>{escape(cfg.assembled_artifact)}</artifactId>\n"
        f"    <version>{escape(cfg.beam_version)}</version>\n"
        "  </dependency></dependencies>\n"
        "</project>\n")


def _write_launcher(path: Path, main_class: str, class_path: list[str]) -> None:
    """A jar holding only a manifest: `java -jar` runs `main_class` over `class_path`."""
    lines = ["Manifest-Version: 1.0", f"Main-Class: {main_class}",
             "Class-Path: " + " ".join(class_path), "Created-By: libya-watch"]
    manifest = "".join(_wrap_manifest_line(line) for line in lines) + "\r\n"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("META-INF/MANIFEST.MF", manifest)


def _wrap_manifest_line(line: str) -> str:
    """Manifest lines are at most 72 bytes; longer ones continue on lines starting with a space."""
    data = line.encode("utf-8")
    parts, data = [data[:72]], data[72:]
    while data:
        parts.append(b" " + data[:71])
        data = data[71:]
    return "".join(part.decode("utf-8") + "\r\n" for part in parts)


def _first_error_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("[ERROR]")]
    return (errors or lines or [""])[0][:300]


# --- Beam arguments ----------------------------------------------------------------------

def _option(beam_args: list[str], name: str) -> str | None:
    """The value of `--name V` or `--name=V` on a Beam command line (the last one wins)."""
    value = None
    for i, arg in enumerate(beam_args):
        if arg == name and i + 1 < len(beam_args):
            value = beam_args[i + 1]
        elif arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
    return value


def flink_beam_args(beam_args: list[str], config: JobServerConfig | None = None,
                    cache: Path | None = None) -> list[str]:
    """With `--runner FlinkRunner`, the arguments plus the installed job server's version and jar.

    Beam would otherwise download a job-server jar at run time. Options the
    user gave win; other runners get the arguments unchanged.
    """
    runner = _option(beam_args, "--runner")
    if runner is None or runner.lower() not in RUNNER_NAMES:
        return list(beam_args)
    given_jar = _option(beam_args, "--flink_job_server_jar")
    given_version = _option(beam_args, "--flink_version")
    if given_jar is not None:
        return list(beam_args)
    cfg = config or load_config()
    if given_version is not None and given_version != cfg.flink_version:
        raise ConfigError(f"--flink_version {given_version}: the installed job server runs Flink "
                          f"{cfg.flink_version}; drop the option or pass --flink_job_server_jar")
    jar = job_server_jar(cfg, cache)
    if jar is None:
        raise ConfigError(f"--runner FlinkRunner: the Flink {cfg.flink_version} job server is not "
                          f"installed in {install_dir(cfg, cache)}; {INSTALL_HINT}")
    extra = ["--flink_job_server_jar", str(jar)]
    if given_version is None:
        extra = ["--flink_version", cfg.flink_version, *extra]
    return [*beam_args, *extra]

"""The local server: config, cache and Java rules as plain functions; the rest on the real server."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from connectors import es_local
from connectors.errors import ConfigError, LocalServerError


def test_config_pins_the_maven_artifact() -> None:
    cfg = es_local.load_config(environ={})
    assert cfg.coordinates == (
        "org.elasticsearch.distribution.integ-test-zip:elasticsearch:8.19.21:zip")
    assert (cfg.heap, cfg.port, cfg.transport_port) == ("1g", 9200, 9300)
    assert (cfg.cluster_name, cfg.service_user) == ("libya-watch", "libyawatch")
    assert cfg.url == "http://127.0.0.1:9200"


def test_port_env_overrides_the_yaml() -> None:
    cfg = es_local.load_config(environ={"LIBYA_WATCH_ES_PORT": "9250"})
    assert cfg.port == 9250
    assert es_local.url(cfg) == "http://127.0.0.1:9250"


def test_bad_port_env_is_a_one_line_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        es_local.load_config(environ={"LIBYA_WATCH_ES_PORT": "ninety"})
    assert str(caught.value) == ("environment: LIBYA_WATCH_ES_PORT: must be a port number "
                                 "(1-65535), got 'ninety'")


def test_config_file_missing_a_key_says_which(tmp_path: Path) -> None:
    path = tmp_path / "elasticsearch.yaml"
    path.write_text(yaml.safe_dump({"server": {"maven": {"group_id": "g", "artifact_id": "a",
                                                         "version": "1", "packaging": "zip"},
                                               "heap": "1g", "host": "127.0.0.1",
                                               "transport_port": 9300, "cluster_name": "c",
                                               "service_user": "u"}}))
    with pytest.raises(ConfigError, match=r"elasticsearch.yaml: server.port: is missing"):
        es_local.load_config(path, environ={})


def test_cache_dir_rules(tmp_path: Path) -> None:
    assert es_local.cache_dir({"LIBYA_WATCH_CACHE": str(tmp_path)}, as_root=True) == tmp_path
    assert es_local.cache_dir({}, as_root=True) == Path("/var/cache/libya-watch")
    assert es_local.cache_dir({"XDG_CACHE_HOME": str(tmp_path)}, as_root=False) == (
        tmp_path / "libya-watch")
    assert es_local.cache_dir({}, as_root=False) == Path.home() / ".cache" / "libya-watch"


def test_java_home_resolves_the_real_jdk_behind_java_on_path() -> None:
    java = shutil.which("java")
    assert java, "the local server needs a JDK; none is on PATH"
    home = es_local.find_java_home({"PATH": os.path.dirname(java)})
    assert (home / "bin" / "java").is_file()
    assert home == Path(java).resolve().parent.parent


def test_missing_java_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LocalServerError, match="no Java found: set JAVA_HOME"):
        es_local.find_java_home({"PATH": str(tmp_path)})
    with pytest.raises(LocalServerError, match="has no bin/java"):
        es_local.find_java_home({"JAVA_HOME": str(tmp_path)})


def test_install_without_maven_names_what_to_do(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(LocalServerError) as caught:
        es_local.install(cache=tmp_path)
    message = str(caught.value)
    assert "Maven ('mvn') is not on PATH" in message
    assert str(tmp_path / "dist") in message and "\n" not in message


def test_stop_without_a_server_reports_false(tmp_path: Path) -> None:
    assert es_local.stop(cache=tmp_path) is False


@pytest.mark.es
def test_status_describes_the_running_server(es_server: es_local.ServerStatus) -> None:
    status = es_local.status()
    assert status.running and status.installed
    assert status.pid == int((status.data_dir.parent / "run" / "elasticsearch.pid").read_text())
    assert status.url == es_local.url()
    assert status.version == "8.19.21"
    assert status.data_dir.is_dir()
    assert status.health in ("green", "yellow")


@pytest.mark.es
def test_start_again_says_already_running(es_server: es_local.ServerStatus) -> None:
    result = es_local.start()
    assert result.already_running is True
    assert result.status.pid == es_server.pid


@pytest.mark.es
def test_install_again_needs_no_maven(es_server: es_local.ServerStatus,
                                      monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert es_local.install() == es_server.home


@pytest.mark.es
def test_server_config_is_single_node_local_and_careful(es_server: es_local.ServerStatus) -> None:
    written = yaml.safe_load((es_server.home / "config" / "elasticsearch.yml").read_text())
    assert written["discovery.type"] == "single-node"
    assert written["network.host"] == "127.0.0.1"
    assert written["xpack.security.enabled"] is False
    assert written["action.destructive_requires_name"] is True
    assert Path(written["path.data"]) == es_server.data_dir


@pytest.mark.es
def test_second_server_on_a_taken_port_is_refused(es_server: es_local.ServerStatus,
                                                 tmp_path: Path) -> None:
    with pytest.raises(LocalServerError, match=r"port 9200 on 127.0.0.1 is taken by another"):
        es_local.start(cache=tmp_path, config=es_local.load_config(environ={}))


@pytest.mark.es
def test_a_server_whose_pid_file_went_missing_is_adopted_not_duplicated(es_server) -> None:
    paths = es_local.local_paths(es_local.load_config())
    pid = int(paths.pid_file.read_text().strip())
    paths.pid_file.unlink()
    status = es_local.status()
    assert status.running and status.pid == pid
    assert int(paths.pid_file.read_text().strip()) == pid
    assert es_local.start().already_running

"""Pointing Beam's FlinkRunner at the installed job server, and the launcher jar's manifest."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from connectors.errors import ConfigError
from connectors.flink_jobserver import (JAR_NAME, _write_launcher, flink_beam_args, install_dir,
                                        job_server_jar, load_config)


@pytest.fixture
def installed(tmp_path: Path) -> Path:
    """A cache folder holding a (placeholder) job-server jar where `install` puts it."""
    folder = install_dir(load_config(), tmp_path)
    folder.mkdir(parents=True)
    (folder / JAR_NAME).write_bytes(b"placeholder")
    return tmp_path


def test_other_runners_get_their_arguments_unchanged(tmp_path):
    args = ["--runner", "FnApiRunner", "--direct_num_workers=2"]
    assert flink_beam_args(args, cache=tmp_path) == args
    assert flink_beam_args([], cache=tmp_path) == []


@pytest.mark.parametrize("runner", [["--runner", "FlinkRunner"], ["--runner=FlinkRunner"],
                                    ["--runner=flinkrunner"]])
def test_flink_gets_the_pinned_version_and_the_installed_jar(installed, runner):
    config = load_config()
    jar = job_server_jar(config, installed)
    assert flink_beam_args(runner, cache=installed) == [
        *runner, "--flink_version", config.flink_version, "--flink_job_server_jar", str(jar)]


def test_a_jar_the_user_gave_wins(tmp_path):
    args = ["--runner=FlinkRunner", "--flink_job_server_jar=/opt/js.jar", "--flink_version=2.0"]
    assert flink_beam_args(args, cache=tmp_path) == args


def test_the_users_matching_version_is_not_repeated(installed):
    version = load_config().flink_version
    out = flink_beam_args(["--runner", "FlinkRunner", "--flink_version", version], cache=installed)
    assert out.count("--flink_version") == 1
    assert "--flink_job_server_jar" in out


def test_another_flink_version_without_a_jar_is_refused(installed):
    with pytest.raises(ConfigError, match="--flink_version 0.1: the installed job server runs"):
        flink_beam_args(["--runner", "FlinkRunner", "--flink_version", "0.1"], cache=installed)


def test_a_missing_job_server_says_how_to_install_it(tmp_path):
    with pytest.raises(ConfigError, match="libya-watch flink install") as caught:
        flink_beam_args(["--runner", "FlinkRunner"], cache=tmp_path)
    assert "\n" not in str(caught.value)
    assert job_server_jar(cache=tmp_path) is None


def test_the_launcher_manifest_names_every_jar_in_72_byte_lines(tmp_path):
    class_path = [f"lib/some-rather-long-library-name-{i}-1.2.3.jar" for i in range(40)]
    jar = tmp_path / "launcher.jar"
    _write_launcher(jar, "org.example.Main", class_path)
    manifest = zipfile.ZipFile(jar).read("META-INF/MANIFEST.MF")
    lines = manifest.split(b"\r\n")
    assert all(len(line) <= 72 for line in lines)
    unfolded = manifest.replace(b"\r\n ", b"").decode()
    assert "Main-Class: org.example.Main\r\n" in unfolded
    assert "Class-Path: " + " ".join(class_path) + "\r\n" in unfolded

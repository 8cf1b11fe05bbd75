"""Run mypy --strict on the installed layout of the package.

pyproject.toml maps repository folders (server/, bridge/, ...) onto namespaced
import names (llmgw.server, ...). mypy cannot follow setuptools' editable-install
import hook, so this lays out the same mapping as symlinks under build/typecheck
and points mypy at it. Usage: `python scripts/typecheck.py`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / "build" / "typecheck"


def build_tree() -> None:
    """Mirror [tool.setuptools.package-dir] as a tree of symlinks."""
    mapping: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    shutil.rmtree(TREE, ignore_errors=True)
    root_package = TREE / "llmgw"
    root_package.mkdir(parents=True)
    for entry in (ROOT / mapping["llmgw"]).iterdir():
        (root_package / entry.name).symlink_to(entry)
    for name, folder in mapping.items():
        if name != "llmgw":
            (TREE / name.replace(".", "/")).symlink_to(ROOT / folder)


def main() -> int:
    """Build the tree, then type-check the package and the tests."""
    build_tree()
    targets = [str(TREE / "llmgw")] + [name for name in ("tests", "bench", "scripts") if (ROOT / name).is_dir()]
    return subprocess.run([sys.executable, "-m", "mypy", *targets], cwd=ROOT, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())

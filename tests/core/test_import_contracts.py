"""The import-linter contracts in pyproject.toml hold on the tree, and fail the build when code breaks them.

`make lint` (and so `make test`) runs `lint-imports`; these tests prove the contracts are not
decoration: a copy of the product with one forbidden import added is refused, naming the contract.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("guardwatch", "accounts", "findings", "triage", "reports", "notifications", "api", "gdsim")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(tree))  # the copy shadows the checkout on sys.path
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tree, env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


@pytest.fixture
def product_copy(tmp_path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def add_line(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n{line}\n")


def test_the_checkout_keeps_every_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_findings_importing_triage_breaks_the_layers(product_copy):
    add_line(product_copy / "findings" / "services.py", "import triage.services  # noqa")
    result = lint_imports(product_copy)
    assert result.returncode != 0
    assert "findings is not allowed to import triage" in result.stdout


def test_sibling_apps_stay_independent(product_copy):
    add_line(product_copy / "reports" / "coverage.py", "import notifications.models  # noqa")
    result = lint_imports(product_copy)
    assert result.returncode != 0
    assert "reports is not allowed to import notifications" in result.stdout


def test_product_code_importing_the_simulator_is_refused(product_copy):
    add_line(product_copy / "triage" / "services.py", "import gdsim  # noqa")
    result = lint_imports(product_copy)
    assert result.returncode != 0
    assert "The product never imports the GuardDuty simulator" in result.stdout and "BROKEN" in result.stdout


def test_a_service_importing_its_task_module_is_refused(product_copy):
    add_line(product_copy / "accounts" / "services.py", "import accounts.tasks  # noqa")
    result = lint_imports(product_copy)
    assert result.returncode != 0
    assert "accounts.services is not allowed to import accounts.tasks" in result.stdout


def test_only_tasks_modules_import_tasks_modules():
    """Tasks call services, never the reverse: whatever a module is called (services, operations, sync,
    bulk, …), only another tasks module may import a tasks module; everything else queues by name."""
    import grimp

    graph = grimp.build_graph(*(p for p in PACKAGES if p != "gdsim"))
    tasks_modules = {m for m in graph.modules if m.endswith(".tasks")}
    importers = {
        importer
        for module in tasks_modules
        for importer in graph.find_modules_that_directly_import(module)
        if importer not in tasks_modules
    }
    assert len(tasks_modules) >= 6
    assert importers == set()

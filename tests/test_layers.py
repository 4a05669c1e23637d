"""Data flows one way: no product module imports from a layer above its own.

Top to bottom: the `smo` CLI; the web edge and the worker process (the web edge may build on
the worker's composition root, never the other way); the case service and the SLA report (a read
model); the workflows; the activities; the stores (runtime) and the security primitives they
use (security imports nothing from runtime); calendars and models. Imports are read with `ast`,
including those inside functions and under `TYPE_CHECKING`: a deferred import is still a
dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import PRODUCT_PACKAGES, ROOT

LEVELS: list[set[str]] = [
    {"starter"},
    {"web", "worker"},
    {"service", "reports"},
    {"workflows"},
    {"activities"},
    {"runtime"},
    {"security"},
    {"calendars", "models"},
]
RANK = {layer: len(LEVELS) - i for i, level in enumerate(LEVELS) for layer in level}

# Beyond "never upwards": the worker does not depend on the web edge beside it, and workflow
# code reaches the outside only through models (it runs in the sandbox and must replay).
NOT_BESIDE = {"worker": {"web"}}
ONLY = {"workflows": {"workflows", "models"}}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(module: str, source: str, *, package: bool = False) -> list[tuple[int, str]]:
    """(line, dotted name) of every import in a module's source, wherever it is written."""
    anchor = module.split(".") if package else module.split(".")[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = [node.module] if node.module else []
            if node.level:  # relative: from the package, one level up per extra dot
                base = anchor[: len(anchor) - node.level + 1] + base
            found += [(node.lineno, ".".join([*base, alias.name])) for alias in node.names]
    return sorted(found)


def violation(layer: str, target: str) -> bool:
    """Whether code in `layer` importing from `target` breaks the layering (top-level names)."""
    if target not in RANK or target == layer:
        return False  # the standard library, a dependency, or the package itself
    if RANK[target] > RANK[layer] or target in NOT_BESIDE.get(layer, set()):
        return True
    return layer in ONLY and target not in ONLY[layer]


def test_no_module_imports_from_a_layer_above_it(product_modules: list[Path]) -> None:
    offending = []
    for path in product_modules:
        module = module_name(path)
        for line, name in imports_of(module, path.read_text(), package=path.name == "__init__.py"):
            if violation(module.split(".")[0], name.split(".")[0]):
                offending.append(f"{module}:{line} → {name}")
    assert not offending, f"{len(offending)} imports against the layering:\n" + "\n".join(offending)


def test_the_rule_sees_every_kind_of_import() -> None:
    # A parser that saw nothing would pass the test above: these are the shapes it must see.
    source = (
        "import web.api\n"
        "from starter import ops\n"
        "def late():\n"
        "    from service.cases import open_case\n"
        "from . import sibling\n"
        "from ..models import case\n"
    )
    found = [name for _, name in imports_of("runtime.store.probe", source)]
    assert found == [
        "web.api",
        "starter.ops",
        "service.cases.open_case",
        "runtime.store.sibling",
        "runtime.models.case",
    ]
    assert [violation("runtime", name.split(".")[0]) for name in found] == [True, True, True, False, False]
    assert violation("workflows", "calendars") and violation("worker", "web")
    assert violation("security", "runtime") and violation("models", "activities")
    assert not violation("web", "worker") and not violation("runtime", "security")
    assert not violation("workflows", "models") and not violation("starter", "web")


def test_every_product_package_has_its_layer() -> None:
    assert set(RANK) == {*PRODUCT_PACKAGES, "worker"}

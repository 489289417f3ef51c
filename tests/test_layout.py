"""The package's layout: no import cycles between eossl's modules (#19)."""

import ast
from pathlib import Path

ROOT = Path(__file__).parents[1] / "eossl"


def _imports() -> dict[str, set[str]]:
    """Each module's eossl imports, at module level or inside functions."""
    graph = {}
    for path in ROOT.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
        name = name.removesuffix(".__init__")
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("eossl"):
                deps.add(node.module)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("eossl")}
        graph[name] = deps
    return graph


def test_no_import_cycles() -> None:
    graph = _imports()
    assert {"eossl.cli", "eossl.pretrain", "eossl.weights.export", "eossl.weights"} <= set(graph)
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if dep not in graph or dep == "eossl":
                continue
            assert state.get(dep) != 1, f"import cycle: {' -> '.join([*path, dep])}"
            if dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_the_flow_is_packages() -> None:
    """data -> methods -> evaluation -> weights: each family a package, none left at the top."""
    for family in ("data", "methods", "evaluation", "evaluation/change", "weights"):
        assert (ROOT / family / "__init__.py").is_file(), family
    top = {p.stem for p in ROOT.glob("*.py")}
    strays = {"export", "harness", "harness_configs", "change", "weights", "evaluate", "probes"}
    assert not top & strays, f"modules of a family left at the top: {sorted(top & strays)}"

"""The house plan, checked: no import circle anywhere in gradcheck/, no private name imported from
another module, no module over 400 lines, and the one-way data flow between the folders."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gradcheck"
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports(name: str) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every gradcheck import in `name`, at any depth."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, None, node.lineno) for alias in node.names if alias.name.startswith("gradcheck")]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if not base.startswith("gradcheck"):
                continue
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in MODULES:  # `from gradcheck.cases import expr` imports a module
                    found.append((submodule, None, node.lineno))
                else:
                    found.append((base, alias.name, node.lineno))
    return found


def graph() -> dict[str, set[str]]:
    edges = {name: set() for name in MODULES}
    for name in MODULES:
        for target, _, _ in imports(name):
            # importing a submodule runs its packages' __init__ too, but the edge that matters is the module
            if target in MODULES and target != name:
                edges[name].add(target)
    return edges


def test_no_import_circle_anywhere():
    edges, state, cycles = graph(), {}, []

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    assert not cycles, "import circles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_no_private_name_is_imported_from_another_module():
    offenders = [f"{name}:{line} imports {what} from {target}"
                 for name in MODULES for target, what, line in imports(name)
                 if what is not None and what.startswith("_") and target != name]
    assert not offenders, offenders


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_over_400_lines(name):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{MODULES[name]} has {lines} lines"


# Data flows one way: cases -> engine/backends -> compare -> reports. A folder never imports from
# a folder to its right, and the engine and backends know nothing of case files.
FORBIDDEN = {
    "gradcheck.ops": ("gradcheck.cases", "gradcheck.engine", "gradcheck.backends", "gradcheck.compare",
                      "gradcheck.run", "gradcheck.reports"),
    "gradcheck.engine": ("gradcheck.cases", "gradcheck.backends", "gradcheck.compare", "gradcheck.run",
                         "gradcheck.reports", "gradcheck.ops"),
    "gradcheck.backends": ("gradcheck.cases", "gradcheck.engine", "gradcheck.compare", "gradcheck.run",
                           "gradcheck.reports"),
    "gradcheck.compare": ("gradcheck.cases", "gradcheck.backends", "gradcheck.run", "gradcheck.reports"),
    "gradcheck.reports": ("gradcheck.cases", "gradcheck.engine", "gradcheck.backends", "gradcheck.run"),
}


def test_data_flows_one_way():
    offenders = []
    for name in MODULES:
        for folder, banned in FORBIDDEN.items():
            if name == folder or name.startswith(folder + "."):
                offenders += [f"{name}:{line} imports {target}" for target, _, line in imports(name)
                              if any(target == b or target.startswith(b + ".") for b in banned)]
    assert not offenders, offenders

"""The import map of the package (issue 18): no import cycles but the model registry's own lazy import of the
model modules, and the engine imports no profiler, no protocol and no model file."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted(ROOT.glob("bench/**/*.py")) + sorted(ROOT.glob("baselines/*.py")):
        parts = p.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


def _graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the package modules it imports (module level and inside functions)."""
    graph = {m: set() for m in mods}
    for m, p in mods.items():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for n in names:
                while n and n not in mods:
                    n = n.rpartition(".")[0]
                if n and n != m:
                    graph[m].add(n)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_but_the_registrys_lazy_import_of_the_models():
    mods = _modules()
    graph = _graph(mods)
    # The registry imports the model packages inside a function, so that `import bench` stays cheap and
    # every model module can import the registry's decorator: the one allowed cycle.
    graph["bench.registry"] -= {"baselines", "bench.models"}
    assert _cycles(graph) == []


def test_the_engine_imports_no_profiler_protocol_or_model_file():
    mods = _modules()
    graph = _graph(mods)
    for m in (m for m in mods if m.startswith("bench.engine")):
        bad = sorted(n for n in graph[m] if n in ("bench.profiling", "bench.protocols", "bench.profile_cells")
                     or n.startswith(("bench.models.", "baselines")))
        assert not bad, (m, bad)

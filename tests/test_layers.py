"""The module layers: no import cycle at any level, and the array maths free of Keras and TensorFlow."""
import ast
import subprocess
import sys

from conftest import ROOT

MODULES = sorted(path.stem for path in ROOT.glob("*.py"))


def project_imports(module):
    """Return the project modules that ``module`` imports anywhere in its file, inside functions included."""
    tree = ast.parse((ROOT / f"{module}.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & set(MODULES)


def test_no_module_imports_one_that_imports_it_back():
    graph = {module: project_imports(module) for module in MODULES}
    assert graph["strategies"] == {"errors", "ldm", "utils"} and "models" in graph["experiment"]  # the reader sees real edges
    for start in MODULES:
        reached, frontier = set(), set(graph[start])
        while frontier:
            reached |= frontier
            frontier = set().union(*(graph[module] for module in frontier)) - reached
        assert start not in reached, f"{start} imports itself back through {sorted(reached)}"


def test_the_array_maths_loads_neither_keras_nor_tensorflow():
    code = ("import sys, ldm, strategies, checkpoint, data, utils, plot_results; "
            "print(sorted({'keras', 'tensorflow', 'models'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"

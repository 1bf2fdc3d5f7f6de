"""dvc.yaml's dependencies are the modules each stage really imports: computed here from the
import statements of the stage script and, transitively, of the digits modules it reaches."""

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "digits"


def imported_modules(path: Path) -> set[str]:
    """The digits modules one file imports (`from digits.x import y`, `from digits import x`,
    `import digits.x`), also inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module == "digits":
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("digits."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("digits.")}
    return found


def closure(script: Path) -> set[str]:
    """Every file a stage script runs: itself and the digits modules it reaches."""
    files, pending, seen = {script.relative_to(ROOT).as_posix()}, [script], set()
    while pending:
        for module in imported_modules(pending.pop()) - seen:
            seen.add(module)
            path = PACKAGE / f"{module}.py"
            files.add(path.relative_to(ROOT).as_posix())
            pending.append(path)
    return files


def declared(deps: list[str]) -> set[str]:
    """The files a stage's deps cover (a directory covers the files under it)."""
    files = set()
    for dep in deps:
        path = ROOT / dep
        if path.is_dir():
            files |= {p.relative_to(ROOT).as_posix() for p in path.rglob("*.py")}
        elif dep.endswith(".py"):
            files.add(dep)
    return files


STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


@pytest.mark.parametrize("name", list(STAGES))
def test_each_stage_depends_on_exactly_the_code_it_runs(name: str) -> None:
    stage = STAGES[name]
    script = ROOT / stage["cmd"].split("python ", 1)[1].split()[0]
    needed, listed = closure(script), declared(stage["deps"])
    assert not needed - listed, f"{name}: imported but not in dvc.yaml: {sorted(needed - listed)}"
    whole_package = "src/digits" in stage["deps"]  # the package stage ships the package
    if not whole_package:
        assert not listed - needed, f"{name}: in dvc.yaml but not run: {sorted(listed - needed)}"


def test_the_bento_carries_every_module_the_service_imports() -> None:
    """The bento runs on machines without this checkout: bentofile.yaml's include list must hold
    the service's whole import closure (tests could not tell, the package being installed)."""
    bentofile = yaml.safe_load((ROOT / "bentofile.yaml").read_text())
    included = {path for path in bentofile["include"] if path.endswith(".py")}
    needed = closure(ROOT / "service" / "service.py")
    assert not needed - included, f"not in the bento: {sorted(needed - included)}"


def top_level_imports(path: Path) -> set[str]:
    """The first name of every module a file imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
    return names


def test_layers_point_down_and_the_package_has_no_import_cycle() -> None:
    """stages/ and service/ use the digits package; the package uses neither; and no module of
    the package reaches itself through its imports."""
    for path in PACKAGE.glob("*.py"):
        assert not top_level_imports(path) & {"stages", "service"}, path.name
    graph = {path.stem: imported_modules(path) for path in PACKAGE.glob("*.py")}

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for module in graph.get(start, ()):
            if module == target or (
                module not in seen and reaches(module, target, seen | {module})
            ):
                return True
        return False

    cyclic = sorted(module for module in graph if reaches(module, module, set()))
    assert not cyclic, f"modules in an import cycle: {cyclic}"

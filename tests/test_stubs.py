"""The type stubs shipped for lamina._C (python/lamina/_C.pyi) list every public name the
compiled module has, so editors complete the whole API. Regenerate them after changing the
bindings: `PYTHONPATH=python pybind11-stubgen lamina._C -o python` (see docs/ARCHITECTURE.md)."""
import ast
import os

import lamina
from lamina import _C

STUB = os.path.join(os.path.dirname(lamina.__file__), "_C.pyi")


def _stub_names():
    tree = ast.parse(open(STUB, encoding="utf-8").read())
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == "__all__":
            return set(ast.literal_eval(node.value))
    raise AssertionError("the stub has no __all__")


def test_stub_lists_every_public_name():
    public = {n for n in dir(_C) if not n.startswith("_")} - {"ShapeError"}
    missing = public - _stub_names()
    assert not missing, f"regenerate python/lamina/_C.pyi: missing {sorted(missing)}"


def test_package_is_marked_typed():
    assert os.path.isfile(os.path.join(os.path.dirname(lamina.__file__), "py.typed"))

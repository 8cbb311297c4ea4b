"""The public names: ``__all__``, the lazy table and the ``TYPE_CHECKING`` imports agree (as httpx tests).

A name in one list but not another is a user-visible bug: ``from nemotron_magics import X``
fails, ``dir()`` lies, or a type checker sees a name that does not exist at run time.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import nemotron_magics as nm

INIT = Path(nm.__file__)


def _type_checking_imports() -> dict[str, str]:
    """name -> module for every import under ``if TYPE_CHECKING:`` in ``__init__.py``."""
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom), ast.dump(stmt)
                for alias in stmt.names:
                    found[alias.asname or alias.name] = "." * stmt.level + (stmt.module or "")
    return found


def test_all_is_the_lazy_table_plus_the_version() -> None:
    assert sorted(nm.__all__) == sorted({*nm._LAZY, "__version__"})
    assert len(nm.__all__) == len(set(nm.__all__)), "a name is listed twice in __all__"


def test_type_checking_imports_match_the_lazy_table() -> None:
    assert _type_checking_imports() == nm._LAZY


def test_every_public_name_resolves_from_the_module_the_table_names() -> None:
    for name, module in nm._LAZY.items():
        value = getattr(nm, name)
        defining = importlib.import_module(module, "nemotron_magics")
        assert getattr(defining, name) is value, name
    assert set(dir(nm)) == set(nm.__all__)


def test_public_classes_and_functions_say_they_are_ours() -> None:
    for name in nm.__all__:
        value = getattr(nm, name)
        if isinstance(value, type) or callable(value):
            assert getattr(value, "__module__", "").startswith("nemotron_magics"), name


def test_import_is_cheap_and_loads_no_heavy_module() -> None:
    code = (
        "import sys, nemotron_magics as nm\n"
        "heavy = [m for m in ('IPython', 'ipywidgets', 'pandas', 'pydantic', 'markdown_it', 'nh3', 'httpx')"
        " if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_package_ships_its_type_information() -> None:
    assert (INIT.parent / "py.typed").is_file()

"""Schemas from signatures and docstrings, and validation that builds the Python values."""

from __future__ import annotations

import dataclasses
import enum
import sys
from typing import Literal, Optional

import pydantic
import pytest

from nemotron_magics._errors import ConfigurationError
from nemotron_magics._tools import Tool, ToolArgumentError, as_tool, tool


class Unit(enum.Enum):
    C = "celsius"
    F = "fahrenheit"


class Point(pydantic.BaseModel):
    x: int
    y: int = 0


@dataclasses.dataclass
class Box:
    corner: Point
    width: float


def google(city: str, days: int = 3, unit: Unit = Unit.C) -> str:
    """Forecast for a city.

    Longer text about the forecast.

    Args:
        city: Name of the city.
        days: How many days ahead.
        unit: Temperature unit.
    """
    return city


def numpy_style(city: str, days: int) -> str:
    """Forecast.

    Parameters
    ----------
    city : str
        Name of the city.
    days : int
        How many days.
    """
    return city


def sphinx(city: str, days: int) -> str:
    """Forecast.

    :param city: Name of the city.
    :param days: How many days.
    """
    return city


@pytest.mark.parametrize("fn", [google, numpy_style, sphinx])
def test_docstring_styles_give_summary_and_parameter_text(fn: object) -> None:
    t = as_tool(fn)
    props = t.parameters["properties"]
    assert props["city"]["description"] == "Name of the city."
    assert props["days"]["description"].startswith("How many days")
    assert t.description.startswith("Forecast")
    assert ":param" not in t.description and "Parameters" not in t.description and "Args" not in t.description


def test_google_long_description_and_defaults() -> None:
    t = as_tool(google)
    assert t.description == "Forecast for a city.\n\nLonger text about the forecast."
    assert t.parameters["required"] == ["city"]
    assert t.parameters["properties"]["days"]["default"] == 3
    assert t.parameters["$defs"]["Unit"]["enum"] == ["celsius", "fahrenheit"]


def every(
    s: str,
    i: int,
    f: float,
    b: bool,
    lit: Literal["a", "b"],
    e: Unit,
    opt: Optional[int],  # noqa: UP045
    union: str | None,
    items: list[int],
    mapping: dict[str, float],
    point: Point,
    box: Box,
    n: int = 1,
) -> None:
    """Every annotation."""


def test_every_annotation_maps_to_json_schema() -> None:
    schema = as_tool(every).parameters
    p = schema["properties"]
    assert p["s"] == {"type": "string"} and p["i"] == {"type": "integer"}
    assert p["f"] == {"type": "number"} and p["b"] == {"type": "boolean"}
    assert p["lit"]["enum"] == ["a", "b"]
    assert p["e"] == {"$ref": "#/$defs/Unit"}
    assert p["opt"] == {"anyOf": [{"type": "integer"}, {"type": "null"}]}
    assert p["union"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert p["items"] == {"type": "array", "items": {"type": "integer"}}
    assert p["mapping"] == {"type": "object", "additionalProperties": {"type": "number"}}
    assert p["point"] == {"$ref": "#/$defs/Point"} and p["box"] == {"$ref": "#/$defs/Box"}
    assert schema["$defs"]["Box"]["properties"]["corner"] == {"$ref": "#/$defs/Point"}
    assert "n" not in schema["required"] and "opt" in schema["required"]
    assert schema["additionalProperties"] is False
    assert "title" not in str(schema)  # only repeated names: all dropped


def test_schema_is_valid_json_schema_and_accepts_what_validation_accepts() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = as_tool(every).parameters
    jsonschema.Draft202012Validator.check_schema(schema)
    args = {
        "s": "x",
        "i": 1,
        "f": 1.5,
        "b": True,
        "lit": "a",
        "e": "celsius",
        "opt": None,
        "union": None,
        "items": [1],
        "mapping": {"k": 1.0},
        "point": {"x": 1},
        "box": {"corner": {"x": 2}, "width": 3},
    }
    jsonschema.validate(args, schema)
    values = as_tool(every).validate(args)
    assert isinstance(values["point"], Point) and isinstance(values["box"], Box)
    assert isinstance(values["box"].corner, Point) and values["e"] is Unit.C
    assert "n" not in values  # the function's own default applies


def test_validation_coerces_and_explains_in_one_line() -> None:
    t = as_tool(google)
    assert t.validate({"city": "Oslo", "days": "5"}) == {"city": "Oslo", "days": 5}
    with pytest.raises(ToolArgumentError) as err:
        t.validate({"days": "soon", "colour": 1})
    text = str(err.value)
    assert "\n" not in text
    assert "missing required argument 'city'" in text
    assert "days:" in text and "'soon'" in text
    assert "unexpected argument 'colour'" in text
    with pytest.raises(ToolArgumentError, match="expected a JSON object"):
        t.validate([1, 2])  # type: ignore[arg-type]


def test_star_args_are_refused_in_one_line() -> None:
    def f(*args: int) -> None: ...

    def g(**kw: int) -> None: ...

    for fn, star in ((f, r"\*args"), (g, r"\*\*kw")):
        with pytest.raises(ConfigurationError, match=star):
            as_tool(fn)


def test_decorator_keeps_the_function_callable_and_named() -> None:
    @tool
    def double(x: int) -> int:
        """Double it."""
        return 2 * x

    @tool(name="triple_it", confirm=True, timeout=2)
    def triple(x: int) -> int:
        return 3 * x

    assert isinstance(double, Tool) and double(4) == 8 and double.__name__ == "double"
    assert double.__doc__ == "Double it." and double.description == "Double it."
    assert triple.name == "triple_it" and triple.confirm and triple.timeout == 2 and triple(1) == 3
    assert double.to_openai() == {
        "type": "function",
        "function": {"name": "double", "description": "Double it.", "parameters": double.parameters},
    }
    assert as_tool(double) is double


def test_as_tool_takes_methods_and_refuses_the_rest() -> None:
    class Calc:
        def add(self, a: int, b: int) -> int:
            return a + b

    t = as_tool(Calc().add)
    assert list(t.parameters["properties"]) == ["a", "b"]
    with pytest.raises(ConfigurationError, match="sent as it is"):
        as_tool({"type": "function"})
    with pytest.raises(ConfigurationError, match="Cannot use int"):
        as_tool(3)
    with pytest.raises(ConfigurationError, match="not allowed"):
        as_tool(lambda x: x)


def test_parameter_named_like_basemodel_attributes() -> None:
    def f(json: str, schema: int, model_config: bool = False) -> None: ...

    assert as_tool(f).validate({"json": "a", "schema": "2"}) == {"json": "a", "schema": 2}


def test_importing_the_package_imports_no_pydantic() -> None:
    import subprocess

    code = (
        "import sys, nemotron_magics, nemotron_magics._tools, nemotron_magics._mcp;"
        "bad=[m for m in ('pydantic','docstring_parser','mcp') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

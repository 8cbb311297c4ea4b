"""Interpolation: names from the namespace go in; code, JSON and other braces come out untouched.

Plain Python, no kernel: the magic calls exactly this function on the cell.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nemotron_magics._interpolate import MAX_PARTS, interpolate
from tests.timing import LINEAR, growth, repeat_to


class Obj:
    attr = "A"
    nested: ClassVar[dict[str, list[int]]] = {"k": [1, 2, 3]}

    @property
    def broken(self) -> str:
        raise RuntimeError("property exploded")


NS = {
    "x": 5,
    "name": "Ada",
    "d": {"k": [1, 2], "with space": "S"},
    "seq": [10, 20, 30],
    "obj": Obj(),
    "café": "crème",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{x}", "5"),
        ("Hello {name}!", "Hello Ada!"),
        ("{obj.attr}", "A"),
        ("{seq[0]} {seq[-1]}", "10 30"),
        ('{d["k"]}', "[1, 2]"),
        ("{d['k'][1]}", "2"),
        ('{d["with space"]}', "S"),
        ('{obj.nested["k"][2]}', "3"),
        ("{café}", "crème"),
        ("{name}{x}", "Ada5"),
        # the escape: {{name}} is the literal {name}; Python's format semantics on deeper nesting
        ("{{x}}", "{x}"),
        ("{{{x}}}", "{5}"),
        ("{{{{x}}}}", "{{x}}"),
    ],
)
def test_references_are_replaced(text: str, expected: str) -> None:
    assert interpolate(text, NS).text == expected


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1}',
        '{"a": {"b": {"c": [1, 2]}}}',  # closing }} and }}} of nested JSON are not escapes
        "function() { return x; }",
        "if (x) {x++;}",  # '{x++;}' is not a reference
        'print(f"{undefined}")',
        "${HOME} and ${x}",  # shell / JS template literals, even for a defined name
        "{}",
        "{0} {1}",
        "{ x }",  # spaces: not a reference
        "{{ x }}",  # Jinja
        "{{undefined}}",  # Handlebars with an undefined name stays as written
        "{if} {None} {True}",
        "{x.__class__}",  # dunders are never followed
        "{seq[i]}",  # a non-literal index is never evaluated
        "{seq[0:2]}",  # slices neither
        "{x()}",  # calls neither
        "{x + 1}",
        "{ {x} }".replace("{x}", "{y}"),
    ],
)
def test_other_braces_pass_through_untouched(text: str) -> None:
    assert interpolate(text, NS).text == text


def test_code_block_with_braces_keeps_its_code_and_gets_the_variable() -> None:
    prompt = (
        "Fix this for {name}:\n```js\nfunction f(a) { return {a: a, b: [1, 2]}; }\n```\n"
        '```json\n{"config": {"retries": 3}}\n```\n'
        "```python\nprint(f'{value:>10}', {'k': {'j': 1}})\n```"
    )
    out = interpolate(prompt, NS).text
    assert out == prompt.replace("{name}", "Ada")


def test_a_reference_whose_root_exists_but_fails_is_kept_and_reported() -> None:
    result = interpolate("{obj.nope} {d['missing']} {seq[9]} {obj.broken}", NS)
    assert result.text == "{obj.nope} {d['missing']} {seq[9]} {obj.broken}"
    reasons = dict(result.skipped)
    assert "AttributeError" in reasons["obj.nope"]
    assert "KeyError" in reasons["d['missing']"]
    assert "IndexError" in reasons["seq[9]"]
    assert "property exploded" in reasons["obj.broken"]


def test_undefined_names_are_not_reported() -> None:
    """Braces of pasted code are not mistakes: nothing to warn about."""
    assert interpolate("{undefined} {also.undefined}", NS).skipped == []


def test_dataframe_goes_in_as_a_summary_not_its_contents() -> None:
    df = pd.DataFrame({"id": range(10_000), "city": ["Paris", "Lyon"] * 5_000, "t": [1.5] * 10_000})
    text = interpolate("Data: {df}", {"df": df}).text
    assert "10,000 rows × 3 columns" in text
    assert "id (int64)" in text and "t (float64)" in text and "city" in text
    assert "Paris" in text and "Lyon" in text  # the first rows
    assert "9999" not in text  # not the whole table
    assert len(text) < 1_000


def test_dataframe_attributes_and_series() -> None:
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    assert interpolate("{df.shape[0]} rows", {"df": df}).text == "3 rows"
    series = interpolate('{df["b"]}', {"df": df}).text
    assert "3 values" in series and "x" in series


def test_long_values_are_cut_with_a_note() -> None:
    result = interpolate("<{big}>", {"big": "a" * 50_000}, max_chars=1_000)
    assert result.text.startswith("<" + "a" * 1_000)
    assert "truncated: 49,000 more characters" in result.text
    assert result.truncated == ["big"]


def test_non_string_values_use_str() -> None:
    class WithStr:
        def __str__(self) -> str:
            return "custom"

    assert (
        interpolate("{v} {n} {l}", {"v": WithStr(), "n": None, "l": [1, "a"]}).text == "custom None [1, 'a']"
    )


# Text built from the characters that matter to the scanner, plus anything else.
_TEXT = st.text(
    alphabet=st.one_of(st.sampled_from(list("{}{}$[].\"'_ax0-9\n é")), st.characters()), max_size=80
)


@settings(max_examples=2_000, deadline=None)
@given(_TEXT)
def test_text_without_defined_names_is_sent_byte_for_byte(text: str) -> None:
    """The invariant that makes the magic safe for code and JSON: nothing named, nothing changed."""
    assert interpolate(text, {}).text == text


@settings(max_examples=1_000, deadline=None)
@given(_TEXT)
def test_defined_names_change_only_their_own_braces(text: str) -> None:
    """With 'a' defined as a marker: only its references change, one marker each."""
    result = interpolate(text, {"a": "\x00"})
    if not result.replaced and "{{a" not in text:
        assert result.text == text
    assert result.text.count("\x00") == len(result.replaced) + text.count("\x00")


# -- bounded, linear, and never a key ------------------------------------------------------------


def test_a_reference_deeper_than_the_bound_is_kept_and_reported() -> None:
    deep = "x" + ".real" * 3_000
    result = interpolate("{" + deep + "}", {"x": 1})  # raised RecursionError before the bound
    assert result.text == "{" + deep + "}" and result.replaced == []
    assert result.skipped == [(deep, f"3000 attributes and indexes deep; at most {MAX_PARTS} are followed")]
    at_bound = "x" + ".real" * MAX_PARTS
    assert interpolate("{" + at_bound + "}", {"x": 1}).text == "1"
    assert interpolate("{" + at_bound + "[0]}", {"x": [1]}).skipped  # one part more: skipped
    assert interpolate("{" + deep + "}", {}).skipped == []  # an undefined root is just text


_SCANS = {
    "opening braces": "{",
    "closing braces": "}",
    "unclosed names": "{a",
    "unclosed chain": "{a.b",
    "doubled": "{{a}",
    "indexes": "{a[0]",
    "dollar": "${a}",
}


@pytest.mark.parametrize("unit", list(_SCANS.values()), ids=list(_SCANS))
def test_the_scan_is_linear(unit: str) -> None:
    assert growth(lambda text: interpolate(text, {"a": "A"}), repeat_to(unit), 20_000) < LINEAR


def test_one_long_unclosed_chain_is_linear() -> None:
    chain = lambda n: "{a" + ".b" * (n // 2)  # noqa: E731
    assert growth(lambda text: interpolate(text, {"a": "A"}), chain, 20_000) < LINEAR


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    """A key-shaped value in a provider's variable (built here: no key-shaped literal in the repo)."""
    value = "nvapi-" + "x" * 30
    monkeypatch.setenv("NVIDIA_API_KEY", value)
    return value


def test_a_value_holding_a_key_is_withheld(key: str) -> None:
    import os

    ref = 'os.environ["NVIDIA_API_KEY"]'
    result = interpolate(f"My key is {{{ref}}} and {{name}}.", {"os": os, "name": "Ada"})
    assert result.text == f"My key is {{{ref}}} and Ada."
    assert result.withheld == [ref] and result.replaced == ["name"]
    assert key not in result.text


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(lambda k: {"config": {"api_key": k}}, id="in a repr"),
        pytest.param(lambda k: "x" * 50 + k, id="past the cut"),
        pytest.param(lambda k: f"Bearer {k}\n", id="inside text"),
        pytest.param(lambda k: [k.encode()], id="as bytes"),
    ],
)
def test_a_key_anywhere_in_the_rendered_value_is_withheld(key: str, value: Any) -> None:
    result = interpolate("{v}", {"v": value(key)}, max_chars=20)
    assert result.text == "{v}" and result.withheld == ["v"]


def test_a_value_that_cannot_be_shown_is_kept_and_reported() -> None:
    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no str for you")

    result = interpolate("{b}", {"b": Broken()})
    assert result.text == "{b}"
    assert result.skipped == [("b", "could not be shown: RuntimeError: no str for you")]

"""The one source of configuration, in process: Settings' observers, the traitlets class derived from
the rule table, and the panel bound to both (no kernel: ipywidgets makes its comms without one)."""

from __future__ import annotations

import html
import subprocess
import sys
from typing import Any

import pytest
from traitlets import TraitError

import nemotron_magics as nm
from nemotron_magics import _config
from nemotron_magics._configurable import LIBRARY_TRAITS, Nemotron, RuleTrait
from nemotron_magics._params import DEFAULT_PARAMS, PARAMS, SETTINGS
from tests.conformance.server import ConformanceServer


@pytest.fixture
def settings() -> Any:
    """The process settings, back to the library's defaults (the autouse fixture restores them after)."""
    fresh = _config.Settings()
    _config.settings.__dict__.update(vars(fresh))
    return _config.settings


def test_settings_tell_observers_every_change_once(settings: Any) -> None:
    seen: list[tuple[str, Any, Any]] = []
    settings.observe(lambda *change: seen.append(change))
    try:
        nm.configure(temperature=0.5, provider="local")
        nm.configure(temperature=0.5)  # no change: nobody is told
        nm.configure(temperature=None, max_backoff=2)
        settings.set("seed", 3)
        with pytest.raises(nm.ConfigurationError):
            nm.configure(top_p=0.9, temperature="hot")  # refused whole: nothing changed, nobody told
        assert seen == [
            ("provider", None, "local"),
            ("temperature", None, 0.5),
            ("max_backoff", 30.0, 2.0),
            ("temperature", 0.5, None),
            ("seed", None, 3),
        ]
    finally:
        settings.unobserve(seen.append)


def test_a_panel_that_is_gone_stops_listening(settings: Any) -> None:
    import gc

    class Listener:
        def __init__(self) -> None:
            self.count = 0

        def on_change(self, *_: Any) -> None:
            self.count += 1

    listener = Listener()
    settings.observe(listener.on_change)
    nm.configure(seed=1)
    assert listener.count == 1
    del listener
    gc.collect()
    nm.configure(seed=2)  # the weak reference is dead: no error, no call


def test_every_setting_and_default_parameter_is_a_trait_made_from_its_rule() -> None:
    traits = Nemotron.class_traits(config=True)
    for name in LIBRARY_TRAITS:
        trait = traits[name]
        rule = SETTINGS.get(name) or PARAMS[name]
        assert isinstance(trait, RuleTrait) and trait.rule is rule, name
        assert trait.help and trait.help.lower().startswith(rule.help[:10].lower()), name
    assert {"max_backoff", "max_event_bytes", "seed", "reasoning_budget"} <= set(traits)  # none left out
    assert set(LIBRARY_TRAITS) == {*SETTINGS, *DEFAULT_PARAMS}


def test_traits_check_with_the_rules_words_and_follow_configure(settings: Any) -> None:
    cfg = Nemotron()
    try:
        with pytest.raises(
            TraitError, match=r"^Nemotron.temperature must be a number between 0 and 2, got 'hot'$"
        ):
            cfg.temperature = "hot"
        with pytest.raises(TraitError, match=r"Nemotron\.max_event_bytes must be a whole number of bytes"):
            cfg.max_event_bytes = 10
        cfg.reasoning = "LOW"
        assert cfg.reasoning == "low" and settings.params == {"reasoning": "low"}
        nm.configure(temperature=0.3, max_backoff=5)  # configure() shows in the traits at once
        assert cfg.temperature == 0.3 and cfg.max_backoff == 5.0
        cfg.temperature = None
        assert "temperature" not in settings.params
        assert RuleTrait(PARAMS["max_tokens"]).from_string("4096") == 4096
    finally:
        settings.unobserve(cfg._follow)


def test_panel_and_settings_follow_each_other_in_process(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-" + "TESTSECRET-panel")
    p, q = nm.controls(), nm.controls()
    try:
        labels = dict((value, label) for label, value in p.provider.options)
        assert labels["openrouter"] == "openrouter · key set (OPENROUTER_API_KEY)"
        assert "nvidia" not in labels and "local" in labels and "embedded" in labels  # configured only
        assert not any("TESTSECRET" in label for label in labels.values())
        p.temperature.value = 0.4
        assert settings.params == {"temperature": 0.4} and q.temperature.value == 0.4
        p.reasoning.value = "off"
        p.system.value = "Be brief."
        assert settings.params == {"temperature": 0.4, "reasoning": "off", "system": "Be brief."}
        nm.configure(provider="deepinfra", max_tokens=99)  # a provider without its key still shows
        assert p.provider.value == "deepinfra" and "no key: set DEEPINFRA_TOKEN" in p.provider.label
        assert p.max_tokens.value == "99"
        q.seed.value = "-1.5"
        assert "seed must be a whole number, got '-1.5'" in html.unescape(q.message.value)
        assert q.seed.value == ""
        p.restore_defaults()
        assert settings.params == {} and settings.provider is None
        assert p.temperature.value == 1.0 and "not set" in p._notes["temperature"].value
        assert repr(p) == "<nemotron controls: all defaults>"
    finally:
        p.close()
        q.close()


def test_chat_widget_from_python_shares_the_named_session(server: ConformanceServer, settings: Any) -> None:
    from nemotron_magics.session import get_session

    nm.configure(provider="local", base_url=server.base_url("nvidia"), max_retries=0)
    c = nm.chat_widget("py")
    assert c.send("Why is the sky blue?")
    assert c.wait(10)
    turn = get_session("py").turns[-1]
    assert turn.response.content.startswith("The sky looks blue")
    assert len(c.conversation.children) == 2  # the question and its answer
    assert not c.input.disabled and c.stop_button.disabled
    assert not c.send("   ")  # nothing to send


def test_plain_python_gets_one_line_not_a_widget_repr() -> None:
    code = (
        "import nemotron_magics as nm\n"
        "from nemotron_magics.widgets import show_controls, show_chat\n"
        "show_controls(); show_chat('x')\n"
        "print(repr(nm.controls())); print(repr(nm.chat_widget('x')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    lines = out.stdout.splitlines()
    assert out.returncode == 0, out.stderr
    assert len(lines) == 4, lines
    assert lines[0].startswith("nemotron: the controls panel needs a notebook frontend")
    assert lines[1].startswith("nemotron: the chat widget needs a notebook frontend")
    assert lines[2] == "<nemotron controls: all defaults>"
    assert lines[3] == "<nemotron chat 'x': 0 turns, idle>"


def test_stream_cancel_from_another_thread_wakes_a_stalled_read(server: ConformanceServer) -> None:
    """What the chat box's Stop does: the reading thread ends at once, the answer kept, as cancelled."""
    import threading
    import time

    client = nm.Client("local", base_url=server.base_url("stall"), model="m", max_retries=0)
    stream = client.stream("hi")
    got: list[Any] = []
    reader = threading.Thread(target=lambda: got.extend(stream), daemon=True)
    reader.start()
    time.sleep(0.8)  # two events, then 30 s of silence
    pressed = time.perf_counter()
    stream.cancel()
    reader.join(2.0)
    assert not reader.is_alive() and time.perf_counter() - pressed < 0.5
    assert stream.response.finish_reason == "cancelled" and stream.response.done
    assert got  # what arrived before the silence
    client.close()


def test_the_chat_command_checks_its_name_in_one_line() -> None:
    from IPython.core.error import UsageError
    from IPython.testing.globalipapp import get_ipython

    ip = get_ipython()
    ip.run_line_magic("load_ext", "nemotron_magics")
    with pytest.raises(UsageError, match="at most one NAME"):
        ip.run_line_magic("nemotron", "chat a b")
    with pytest.raises(nm.ConfigurationError, match=r"^chat name 'a/b' must be letters"):
        ip.run_line_magic("nemotron", "chat a/b")


def test_without_anywidget_the_box_is_a_textarea_and_send_still_sends(
    server: ConformanceServer, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ipywidgets

    from nemotron_magics.widgets import _input

    monkeypatch.setattr(_input, "_input_class", lambda: None)
    nm.configure(provider="local", base_url=server.base_url("nvidia"), max_retries=0)
    c = nm.chat_widget("plain")
    assert isinstance(c.input, ipywidgets.Textarea)
    c.input.value = "Why is the sky blue?"
    c.send_button.click()
    assert c.wait(10)
    assert c.session.turns[-1].response.content.startswith("The sky looks blue")
    assert c.input.value == ""

"""One table of rules for every parameter and setting, and every surface uses it.

What a user notices: ``nm.chat(temperature="hot")`` fails at once with one line and sends
nothing; ``configure(read_timeout=-1)`` is refused where it is set; the CLI, ``%config`` and
the magic say the same words about the same mistake.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from IPython.core.interactiveshell import InteractiveShell

import nemotron_magics as nm
from nemotron_magics import _config
from nemotron_magics._params import PARAMS, SETTINGS, check_params
from tests.conformance.server import ConformanceServer
from tests.test_magic import assert_one_line_error, run
from tests.test_magic import ip as ip  # the shell fixture

BAD_PARAMS = [
    ({"temperature": "hot"}, "temperature must be a number between 0 and 2, got 'hot'"),
    ({"temperature": 9}, "temperature must be a number between 0 and 2, got '9'"),
    ({"temperature": float("nan")}, "temperature must be a number between 0 and 2"),
    ({"temperature": True}, "temperature must be a number"),
    ({"top_p": 0}, "top_p must be a number above 0 and at most 1"),
    ({"max_tokens": 0}, "max_tokens must be a whole number of tokens from 1 to 1000000, got '0'"),
    ({"max_tokens": 2.5}, "max_tokens must be a whole number"),
    ({"max_tokens": "4096"}, "max_tokens must be a whole number"),
    ({"seed": "x"}, "seed must be a whole number"),
    ({"stop": ""}, "stop needs non-empty text to stop at"),
    ({"stop": ["ok", 3]}, "stop needs non-empty text"),
    ({"reasoning": "high"}, "reasoning must be one of on, low, off, got 'high'"),
    ({"reasoning_budget": -5}, "reasoning_budget must be a whole number of reasoning tokens"),
    ({"presence_penalty": 3}, "presence_penalty must be a number between -2 and 2"),
    ({"logprobs": "yes"}, "logprobs must be true or false"),
    ({"top_logprobs": 50}, "top_logprobs must be a whole number from 0 to 20"),
    ({"response_format": "json"}, "response_format must be a dict like"),
    ({"response_format": {"type": "yaml"}}, "response_format must be a dict like"),
    ({"tool_choice": "sometimes"}, "tool_choice must be auto, none, required"),
    ({"extra_body": ["x"]}, "extra_body must be a dict"),
    ({"extra_body": {"guided_json": {}}}, "guided_json is silently ignored by vLLM"),
    ({"temprature": 0.5}, "Unknown parameter 'temprature'"),
]


@pytest.mark.parametrize(("params", "needle"), BAD_PARAMS)
def test_the_library_refuses_a_bad_parameter_before_any_request(
    server: ConformanceServer, params: dict[str, object], needle: str
) -> None:
    with pytest.raises(nm.ConfigurationError) as caught:
        nm.chat("hi", base_url=server.base_url("nvidia"), **params)
    assert needle in str(caught.value)
    assert "\n" not in str(caught.value)
    assert server.requests == [], "nothing may reach the server"


@pytest.mark.parametrize(("params", "needle"), BAD_PARAMS[:6])
def test_stream_and_the_async_client_refuse_them_too(
    server: ConformanceServer, params: dict[str, object], needle: str
) -> None:
    import asyncio

    with pytest.raises(nm.ConfigurationError, match=needle.split(",")[0]):
        nm.stream("hi", base_url=server.base_url("nvidia"), **params)

    async def go() -> None:
        async with nm.AsyncClient(base_url=server.base_url("nvidia")) as client:
            await client.chat("hi", **params)

    with pytest.raises(nm.ConfigurationError, match=needle.split(",")[0]):
        asyncio.run(go())
    assert server.requests == []


def test_good_values_are_normalised_and_sent(server: ConformanceServer) -> None:
    nm.chat(
        "hi",
        base_url=server.base_url("nvidia"),
        temperature=1,
        reasoning="LOW",
        stop=["\n\n"],
        max_tokens=4096.0,
    )
    body = server.last_request().body
    assert body["temperature"] == 1.0 and body["max_tokens"] == 4096 and body["stop"] == ["\n\n"]
    assert body["chat_template_kwargs"] == {"enable_thinking": True, "low_effort": True}


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"max_retries": "lots"}, "max_retries must be a whole number from 0 to 100, got 'lots'"),
        ({"read_timeout": -1}, "read_timeout must be a positive number of seconds, got '-1'"),
        ({"connect_timeout": 0}, "connect_timeout must be a positive number of seconds"),
        ({"total_timeout": "forever"}, "total_timeout must be a positive number of seconds"),
        ({"max_backoff": -1}, "max_backoff must be a number of seconds from 0 to 3600"),
        ({"provider": "nowhere"}, "provider must be one of nvidia, openrouter"),
        ({"base_url": "ftp://x"}, "base_url must be an http:// or https:// URL"),
        ({"temperature": 5}, "temperature must be a number between 0 and 2"),
        ({"params": {"max_tokens": -3}}, "max_tokens must be a whole number"),
        ({"colour": "blue"}, "Unknown setting 'colour'"),
    ],
)
def test_configure_refuses_bad_settings_and_changes_nothing(values: dict[str, object], needle: str) -> None:
    before = vars(_config.settings).copy()
    with pytest.raises(nm.ConfigurationError) as caught:
        nm.configure(model="a-good-model", **values)  # a good value beside the bad one is not applied either
    assert needle in str(caught.value)
    assert vars(_config.settings) == before


def test_direct_assignment_is_checked_too() -> None:
    with pytest.raises(nm.ConfigurationError, match="read_timeout must be a positive number"):
        nm.settings.read_timeout = -1
    with pytest.raises(nm.ConfigurationError, match="Unknown setting 'read_timout'"):
        nm.settings.read_timout = 5  # type: ignore[attr-defined]


def test_configure_takes_request_parameters_by_name(server: ConformanceServer) -> None:
    nm.configure(temperature=0.3, max_tokens=64)
    assert nm.settings.params == {"temperature": 0.3, "max_tokens": 64}
    nm.chat("hi", base_url=server.base_url("nvidia"))
    body = server.last_request().body
    assert body["temperature"] == 0.3 and body["max_tokens"] == 64
    nm.configure(temperature=None)
    assert nm.settings.params == {"max_tokens": 64}


def test_client_defaults_are_checked_when_the_client_is_made(server: ConformanceServer) -> None:
    with pytest.raises(nm.ConfigurationError, match="temperature must be a number"):
        nm.Client(base_url=server.base_url("nvidia"), temperature="warm")
    with pytest.raises(nm.ConfigurationError, match="max_tokens must be a whole number"):
        nm.Session("s", base_url=server.base_url("nvidia"), max_tokens=0).chat("hi")
    assert server.requests == []


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["-t", "9", "hi"], "temperature must be a number between 0 and 2, got '9'"),
        (["--max-tokens", "0", "hi"], "max_tokens must be a whole number of tokens from 1 to 1000000"),
        (["--budget", "many", "hi"], "reasoning_budget must be a whole number"),
        (["--base-url", "nowhere", "hi"], "base_url must be an http:// or https:// URL"),
    ],
)
def test_the_cli_says_the_same_in_one_line_and_sends_nothing(
    server: ConformanceServer, argv: list[str], needle: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "nemotron_magics", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={"NEMOTRON_BASE_URL": server.base_url("nvidia"), "NEMOTRON_PROVIDER": "local", "PATH": ""},
    )
    assert done.returncode == 2
    assert needle in done.stderr
    assert "Traceback" not in done.stderr
    assert server.requests == []


def test_every_rule_has_a_readable_message() -> None:
    for table in (PARAMS, SETTINGS):
        for rule in table.values():
            message = str(rule.fail(object(), rule.name))
            assert message.startswith(f"{rule.name} must be ") or message.startswith(f"{rule.name} needs ")


def test_check_params_drops_nones_and_keeps_the_rest() -> None:
    assert check_params({"temperature": None, "seed": 3}) == {"seed": 3}


def test_magic_traitlets_and_library_use_the_same_words(
    ip: InteractiveShell, caplog: pytest.LogCaptureFixture
) -> None:
    result, io = run(ip, "%%nemotron -t hot\nhi")
    assert_one_line_error(result, io, "--temperature must be a number between 0 and 2, got 'hot'")
    run(ip, "%config Nemotron.temperature = 5.0")  # %config logs a refused value
    assert "Nemotron.temperature must be a number between 0 and 2, got '5.0'" in caplog.text
    run(ip, "%config Nemotron.read_timeout = -1.0")
    assert "Nemotron.read_timeout must be a positive number of seconds" in caplog.text
    assert nm.settings.read_timeout > 0


def test_the_magic_line_is_taken_literally(ip: InteractiveShell, server: ConformanceServer) -> None:
    """IPython must not run {code} or eat $names in the flag line before the magic sees it."""
    ip.user_ns["five"] = 5
    base = server.base_url("nvidia")
    result, _ = run(ip, f"%%nemotron --base-url {base} -s \"{{__import__('os').getcwd()}} costs $5\"\nhi")
    assert result.success, result.error_in_exec
    system = server.last_request().body["messages"][0]
    assert system == {"role": "system", "content": "{__import__('os').getcwd()} costs $5"}
    result, _ = run(ip, f"%%nemotron --base-url {base} -s $five\nhi")
    assert server.last_request().body["messages"][0]["content"] == "$five"

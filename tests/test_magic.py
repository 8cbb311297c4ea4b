"""``%%nemotron`` and ``%nemotron`` in an in-process IPython shell, against the loopback server.

Real shell, real HTTP, no mocks. What a user notices: help that lists every flag, one clear line
for every mistake, braces of code and JSON left alone, chats that continue and re-runs that
replace, ``-o`` and ``--format`` delivering values, keys never shown, ``%config`` honoured.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
from IPython.core.interactiveshell import ExecutionResult, InteractiveShell
from IPython.testing import globalipapp
from IPython.utils.capture import CapturedIO, capture_output

from nemotron_magics import _config, session
from tests.conformance.server import ConformanceServer
from tests.conformance.streams import expected

SECRET = "nvapi-" + "TESTSECRET-0123456789abcdef"  # split: no key-shaped literal in the repo
OR_SECRET = "sk-or-v1-TESTSECRET0123456789"


def _shell() -> InteractiveShell:
    """IPython's test shell (one per process: start_ipython() answers only its first call)."""
    globalipapp.start_ipython()
    return globalipapp.get_ipython()


@pytest.fixture
def ip(monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    """The test shell with the extension freshly loaded, and nothing left behind."""
    shell = _shell()
    shell.run_line_magic("load_ext", "nemotron_magics")
    # No retries: a failing test should fail at once, not after backoff.
    shell.run_line_magic("config", "Nemotron.max_retries = 0")
    yield shell
    shell.run_line_magic("unload_ext", "nemotron_magics")
    for name in list(session.sessions()):
        session.drop_session(name)
    for name in ("r", "answer", "data", "_nemotron_json", "df", "cfg", "items", "user", "blank"):
        shell.user_ns.pop(name, None)
    shell.config.pop("Nemotron", None)
    shell.rl_next_input = None


@pytest.fixture
def url(server: ConformanceServer, ip: InteractiveShell) -> str:
    """Point the notebook's default at the loopback server (as %config Nemotron.base_url would)."""
    base = server.base_url("nvidia")
    ip.run_line_magic("config", f"Nemotron.base_url = {base!r}")
    return base


def run(ip: InteractiveShell, code: str) -> tuple[ExecutionResult, CapturedIO]:
    with capture_output() as io:
        result = ip.run_cell(code)
    return result, io


def shown(io: CapturedIO) -> str:
    """Everything the cell showed: streams and every text-ish part of every display message."""
    parts = [io.stdout, io.stderr]
    for out in io.outputs:
        parts.extend(v if isinstance(v, str) else json.dumps(v) for v in out.data.values())
    return "\n".join(parts)


def failure(result: ExecutionResult) -> BaseException | None:
    return result.error_before_exec or result.error_in_exec


def assert_one_line_error(result: ExecutionResult, io: CapturedIO, *needles: str) -> str:
    """The cell failed, and what it printed is one line (no traceback) containing the needles."""
    assert failure(result) is not None, "the cell should have failed"
    text = (io.stdout + io.stderr).strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line, got:\n{text}"
    assert "Traceback" not in text
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# --------------------------------------------------------------------------- loading and help


def test_loading_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "ip = InteractiveShell.instance()\n"
        "ip.run_line_magic('load_ext', 'nemotron_magics')\n"
        "assert ip.find_cell_magic('nemotron') and ip.find_line_magic('nemotron')\n"
        "heavy = ('httpx', 'httpx_sse', 'pandas', 'ipywidgets', 'numpy')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


FLAGS = (
    "--provider",
    "--model",
    "--base-url",
    "--temperature",
    "--top-p",
    "--max-tokens",
    "--seed",
    "--stop",
    "--reasoning",
    "--budget",
    "--system",
    "--chat",
    "--new",
    "--out",
    "--format",
    "--no-stream",
    "--no-interpolate",
    "--param",
)


def test_cell_help_lists_every_flag(ip: InteractiveShell) -> None:
    result, io = run(ip, "%%nemotron?")
    assert failure(result) is None
    for flag in FLAGS:
        assert flag in io.stdout, flag
    assert "%%nemotron [-p NAME]" in io.stdout
    assert "{on,low,off}" in io.stdout and "{markdown,text,json,code}" in io.stdout


def test_dash_h_prints_help_instead_of_asking(ip: InteractiveShell, server: ConformanceServer) -> None:
    result, io = run(ip, "%%nemotron -h\nhello")
    assert failure(result) is None
    assert "--temperature" in io.stdout
    assert server.requests == []


def test_line_help(ip: InteractiveShell) -> None:
    result, io = run(ip, "%nemotron help")
    assert failure(result) is None
    for command in ("providers", "config", "chats", "reset", "usage"):
        assert f"%nemotron {command}" in io.stdout
    assert "--reasoning" in io.stdout
    _, io = run(ip, "%nemotron?")
    assert "%nemotron providers" in io.stdout


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("-p nowhere", "--provider must be one of nvidia, openrouter"),
        ("-m ''", "--model needs a model id"),
        ("--base-url ftp://example.com", "--base-url must be an http:// or https:// URL"),
        ("--base-url 'http://exa mple'", "--base-url must be an http"),
        ("-t hot", "--temperature must be a number between 0 and 2, got 'hot'"),
        ("-t 2.5", "--temperature must be a number between 0 and 2, got '2.5'"),
        ("-t nan", "--temperature must be a number between 0 and 2"),
        ("--top-p 0", "--top-p must be a number above 0 and at most 1, got '0'"),
        ("--top-p 1.5", "--top-p must be a number above 0 and at most 1"),
        ("--max-tokens 0", "--max-tokens must be a whole number of tokens from 1 to 1000000, got '0'"),
        ("--max-tokens lots", "--max-tokens must be a whole number"),
        ("--max-tokens 2.5", "--max-tokens must be a whole number"),
        ("--seed x", "--seed must be a whole number, got 'x'"),
        ("--stop ''", "--stop needs non-empty text"),
        ("--reasoning high", "--reasoning must be one of on, low, off, got 'high'"),
        ("--budget -5", "--budget must be a whole number of reasoning tokens"),
        ("--budget many", "--budget must be a whole number"),
        ("-s ''", "--system needs the system prompt text"),
        ("--chat 'two words'", "--chat must be a name of letters, digits"),
        ("--new", "--new starts a named conversation over: give it with --chat NAME"),
        ("-o 2x", "--out must be a Python variable name, got '2x'"),
        ("-o class", "--out must be a Python variable name"),
        ("--format yaml", "--format must be one of markdown, text, json, code, got 'yaml'"),
        ("--param top_k", "--param takes KEY=VALUE"),
        ("--param model=x", "--param model is not allowed: use -m/--model"),
        ("--param messages=[]", "--param messages is not allowed"),
        ("--param temperature=9", "--param temperature must be a number between 0 and 2"),
        ("-t 0.5 --param temperature=0.6", "--param temperature repeats --temperature"),
        ("--param extra_body=3", "--param extra_body must be a JSON object"),
        ("--frobnicate", "unrecognized arguments: --frobnicate"),
        ("-t", "argument -t/--temperature: expected one argument"),
        ('-s "unclosed', "quote is not closed"),
    ],
)
def test_every_flag_is_validated_in_one_line(
    ip: InteractiveShell, server: ConformanceServer, line: str, needle: str
) -> None:
    result, io = run(ip, f"%%nemotron {line}\nhello")
    assert type(failure(result)).__name__ == "UsageError"
    assert_one_line_error(result, io, needle)
    assert server.requests == []  # nothing was sent


def test_empty_cell_is_a_usage_error(ip: InteractiveShell) -> None:
    result, io = run(ip, "%%nemotron -t 0.5\n   \n")
    assert_one_line_error(result, io, "the cell is empty")
    ip.user_ns["blank"] = "  "
    result, io = run(ip, "%%nemotron\n{blank}")
    assert_one_line_error(result, io, "the prompt is empty")


def test_unknown_line_command_lists_the_valid_ones(ip: InteractiveShell) -> None:
    result, io = run(ip, "%nemotron frobnicate")
    valid = "providers, config, chats, reset, usage, tools, mcp, controls, chat, help"
    assert_one_line_error(result, io, "unknown command 'frobnicate'", valid)


# --------------------------------------------------------------------------- asking


def test_a_cell_streams_its_answer_once(ip: InteractiveShell, url: str, server: ConformanceServer) -> None:
    result, io = run(ip, "%%nemotron\nWhy is the sky blue?")
    assert failure(result) is None
    assert result.result is None  # no Out[] repeat of the answer
    assert expected("nvidia")["content"] in shown(io)
    body = server.last_request().body
    assert body["messages"] == [{"role": "user", "content": "Why is the sky blue?"}]
    assert body["stream"] is True


def test_out_stores_the_response(ip: InteractiveShell, url: str) -> None:
    result, _ = run(ip, "%%nemotron -o answer\nWhy is the sky blue?")
    assert failure(result) is None and result.result is None
    answer = ip.user_ns["answer"]
    assert type(answer).__name__ == "Response"
    assert answer.content == expected("nvidia")["content"]
    assert answer.reasoning == expected("nvidia")["reasoning"]


def test_flags_reach_the_request(ip: InteractiveShell, url: str, server: ConformanceServer) -> None:
    line = (
        "-t 0.3 --top-p 0.9 --max-tokens 512 --seed 7 --stop END --stop '\\n\\n' "
        "--reasoning low --budget 256 "
        "-s 'Be brief.' --param top_k=40 --param 'chat_template_kwargs={\"force_nonempty_content\": true}' "
        "--param presence_penalty=0.5 --param note=plain-text"
    )
    result, _ = run(ip, f"%%nemotron {line}\nhello")
    assert failure(result) is None
    body = server.last_request().body
    assert body["temperature"] == 0.3 and body["top_p"] == 0.9 and body["max_tokens"] == 512
    assert body["seed"] == 7 and body["stop"] == ["END", "\n\n"]
    assert body["presence_penalty"] == 0.5  # a known parameter: top level
    assert body["top_k"] == 40 and body["note"] == "plain-text"  # unknown ones: extra_body, sent as given
    assert body["chat_template_kwargs"] == {
        "enable_thinking": True,
        "low_effort": True,
        "reasoning_budget": 256,
        "force_nonempty_content": True,
    }
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}


def test_provider_and_model_flags(
    ip: InteractiveShell, server: ConformanceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", OR_SECRET)
    base = server.base_url("openrouter")
    result, _ = run(ip, f"%%nemotron -p openrouter -m some/model --base-url {base} --reasoning off\nhi")
    assert failure(result) is None
    req = server.last_request()
    assert req.body["model"] == "some/model"
    assert req.body["reasoning"] == {"enabled": False}  # OpenRouter's dialect, not chat_template_kwargs
    assert req.bearer == OR_SECRET


# --------------------------------------------------------------------------- interpolation


def test_interpolation_fills_names_and_leaves_code_and_json(
    ip: InteractiveShell, url: str, server: ConformanceServer
) -> None:
    ip.user_ns.update(user={"name": "Ada", "langs": ["py", "js"]}, items=[3, 4])
    cell = (
        "Greet {user['name']} who knows {user['langs'][1]} and {items[0]} things.\n"
        '```json\n{"config": {"retries": 3}}\n```\n'
        "```js\nfunction f(a) { return `${a}` + {b: 1}; }\n```\n"
        "Literal: {{items}}; undefined: {nobody}"
    )
    result, io = run(ip, "%%nemotron\n" + cell)
    assert failure(result) is None
    sent = server.last_request().body["messages"][-1]["content"]
    assert sent == (
        "Greet Ada who knows js and 3 things.\n"
        '```json\n{"config": {"retries": 3}}\n```\n'
        "```js\nfunction f(a) { return `${a}` + {b: 1}; }\n```\n"
        "Literal: {items}; undefined: {nobody}"
    )
    assert "sent as written" not in io.stderr  # undefined names are not mistakes


def test_no_interpolate_sends_braces_as_written(
    ip: InteractiveShell, url: str, server: ConformanceServer
) -> None:
    ip.user_ns["items"] = [1]
    run(ip, "%%nemotron --no-interpolate\n{items} {{items}}")
    assert server.last_request().body["messages"][-1]["content"] == "{items} {{items}}"
    ip.run_line_magic("config", "Nemotron.interpolate = False")
    run(ip, "%%nemotron\n{items}")
    assert server.last_request().body["messages"][-1]["content"] == "{items}"


def test_a_typo_in_a_reference_is_reported_and_sent_as_written(
    ip: InteractiveShell, url: str, server: ConformanceServer
) -> None:
    ip.user_ns["user"] = {"name": "Ada"}
    result, io = run(ip, "%%nemotron\nHi {user['nmae']}")
    assert failure(result) is None
    assert server.last_request().body["messages"][-1]["content"] == "Hi {user['nmae']}"
    assert "{user['nmae']} sent as written (KeyError" in io.stderr


def test_a_dataframe_goes_in_as_a_summary(ip: InteractiveShell, url: str, server: ConformanceServer) -> None:
    import pandas as pd

    ip.user_ns["df"] = pd.DataFrame({"city": ["Paris", "Lyon"] * 5_000, "n": range(10_000)})
    run(ip, "%%nemotron\nDescribe {df} which has {df.shape[0]} rows")
    sent = server.last_request().body["messages"][-1]["content"]
    assert "DataFrame with 10,000 rows × 2 columns" in sent and "n (int64)" in sent
    assert sent.endswith("which has 10000 rows")
    assert len(sent) < 1_000


# --------------------------------------------------------------------------- conversations


def test_named_chat_continues_and_a_rerun_replaces(
    ip: InteractiveShell, url: str, server: ConformanceServer
) -> None:
    assert failure(run(ip, "%%nemotron --chat c -s 'Be brief.'\nFirst question")[0]) is None
    assert failure(run(ip, "%%nemotron --chat c\nSecond question")[0]) is None
    sent = server.last_request().body["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[1]["content"] == "First question" and sent[3]["content"] == "Second question"

    run(ip, "%%nemotron --chat c\nSecond question")  # re-run of the same cell
    chat = session.get_session("c", create=False)
    assert [t.user["content"] for t in chat.turns] == ["First question", "Second question"]
    assert [m["role"] for m in server.last_request().body["messages"]] == [
        "system",
        "user",
        "assistant",
        "user",
    ]

    run(ip, "%%nemotron --chat c\nThird question")
    assert len(chat.turns) == 3
    run(ip, "%%nemotron --chat c --new\nStart over")
    assert [t.user["content"] for t in chat.turns] == ["Start over"]
    assert [m["role"] for m in server.last_request().body["messages"]] == ["system", "user"]  # system kept


def test_without_chat_each_cell_is_a_single_turn(
    ip: InteractiveShell, url: str, server: ConformanceServer
) -> None:
    run(ip, "%%nemotron\none")
    run(ip, "%%nemotron\ntwo")
    assert server.last_request().body["messages"] == [{"role": "user", "content": "two"}]


def test_chats_reset_and_usage(ip: InteractiveShell, url: str) -> None:
    run(ip, "%%nemotron --chat alpha\nq1")
    run(ip, "%%nemotron --chat beta\nq2")
    result, io = run(ip, "%nemotron chats")
    text = str(result.result)
    assert "alpha" in text and "beta" in text and "q2" in text
    assert "<table>" in result.result._repr_html_()

    result, io = run(ip, "%nemotron usage")
    table = str(result.result)
    assert "local" in table and "nvidia/nemotron-3-super-120b-a12b" in table

    result, io = run(ip, "%nemotron reset alpha")
    assert "forgot conversation 'alpha'" in io.stdout
    assert list(session.sessions()) == ["beta"]
    result, io = run(ip, "%nemotron reset nope")
    assert_one_line_error(result, io, "no conversation named 'nope'", "existing: beta")
    run(ip, "%nemotron reset")
    assert session.sessions() == {}


# --------------------------------------------------------------------------- formats


def test_format_json_parses_and_stores(ip: InteractiveShell, server: ConformanceServer) -> None:
    base = server.base_url("json_answer")
    result, io = run(ip, f"%%nemotron --base-url {base} --format json\nList the models as JSON")
    assert failure(result) is None
    data = ip.user_ns["_nemotron_json"]
    assert isinstance(data, list) and data[0]["name"] == "Nemotron 3 Nano"
    assert server.last_request().body["response_format"] == {"type": "json_object"}
    assert "Nemotron 3 Nano" in shown(io)

    run(ip, f"%%nemotron --base-url {base} --format json -o data\nAgain")
    assert ip.user_ns["data"] == data


def test_format_json_on_prose_fails_in_one_line(ip: InteractiveShell, url: str) -> None:
    result, io = run(ip, "%%nemotron --format json\nWhy is the sky blue?")
    assert type(failure(result)).__name__ == "StructuredOutputError"
    lines = [ln for ln in io.stdout.splitlines() if "StructuredOutputError" in ln]
    assert len(lines) == 1 and "not valid JSON" in lines[0]
    assert "Traceback" not in io.stdout + io.stderr


def test_format_code_puts_the_code_in_a_new_cell(ip: InteractiveShell, server: ConformanceServer) -> None:
    base = server.base_url("long", chars=1200)
    result, _ = run(ip, f"%%nemotron --base-url {base} --reasoning off --format code -o r\nWrite code")
    assert failure(result) is None
    code = ip.rl_next_input
    assert code is not None and code.startswith("def step_1(x: int) -> int:")
    assert "```" not in code
    assert ip.user_ns["r"].content.startswith("# A long answer")


def test_no_stream_shows_the_whole_answer_at_the_end(ip: InteractiveShell, url: str) -> None:
    result, io = run(ip, "%%nemotron --no-stream -o r\nWhy is the sky blue?")
    assert failure(result) is None
    assert ip.user_ns["r"].content in shown(io)


def test_a_broken_stream_shows_what_arrived_and_fails(
    ip: InteractiveShell, server: ConformanceServer
) -> None:
    for flags in ("", "--no-stream"):
        result, io = run(ip, f"%%nemotron {flags} --base-url {server.base_url('hangup')} -o r\nhello")
        assert type(failure(result)).__name__ == "StreamError"
        assert expected("nvidia")["reasoning"][:10] in shown(io)  # what arrived stays on screen
        errors = [ln for ln in (io.stdout + io.stderr).splitlines() if "StreamError" in ln]
        assert len(errors) == 1 and "partial answer is kept" in errors[0]
        assert "Traceback" not in io.stdout + io.stderr


# --------------------------------------------------------------------------- errors and keys


def test_a_failed_request_fails_the_cell_in_one_line_without_the_key(
    ip: InteractiveShell, server: ConformanceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NVIDIA_API_KEY", SECRET)
    base = server.base_url("unauthorized", style="openai")  # this gateway echoes the key back
    result, io = run(ip, f"%%nemotron -p nvidia --base-url {base} -o r\nhello")
    assert type(failure(result)).__name__ == "AuthenticationError"
    assert server.last_request().bearer == SECRET  # it was sent …
    line = assert_one_line_error(result, io, "AuthenticationError")
    assert SECRET not in shown(io) and "TESTSECRET" not in line  # … and never shown
    assert "r" not in ip.user_ns  # a failure stores nothing


def test_connection_refused_is_one_line(ip: InteractiveShell, server: ConformanceServer) -> None:
    result, io = run(ip, f"%%nemotron --base-url {server.closed_port_url()}\nhello")
    assert type(failure(result)).__name__ == "ConnectError"
    assert_one_line_error(result, io, "ConnectError")


def test_missing_key_names_the_variable(ip: InteractiveShell) -> None:
    result, io = run(ip, "%%nemotron -p openrouter\nhello")
    assert_one_line_error(result, io, "MissingAPIKey", "OPENROUTER_API_KEY")


def test_providers_table_never_shows_a_key(ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVIDIA_API_KEY", SECRET)
    monkeypatch.setenv("OPENROUTER_API_KEY", OR_SECRET)
    monkeypatch.setenv("NEMOTRON_BASE_URL", f"http://user:{SECRET}@127.0.0.1:9/v1")
    result, io = run(ip, "%nemotron providers")
    assert failure(result) is None
    table = result.result
    text, html = str(table), table._repr_html_()
    for rendered in (text, html, shown(io), repr(table)):
        assert "TESTSECRET" not in rendered
    rows = {line.split()[0]: line for line in text.splitlines()[3:] if line.strip()}
    assert "yes (NVIDIA_API_KEY)" in rows["nvidia"] and "← now" in rows["nvidia"]
    assert "yes (OPENROUTER_API_KEY)" in rows["openrouter"]
    assert "no (DEEPINFRA_TOKEN" in rows["deepinfra"]
    assert "$0.09 / $0.45" in rows["openrouter"] and "1,000,000" in rows["openrouter"]
    assert "http://127.0.0.1:9/v1" in rows["local"]
    assert "<table>" in html and "<th" in html


def test_providers_table_shows_the_configured_choice(ip: InteractiveShell) -> None:
    ip.run_line_magic("config", "Nemotron.provider = 'deepinfra'")
    table = str(ip.run_line_magic("nemotron", "providers"))
    assert "Chosen now: deepinfra (configured" in table


# --------------------------------------------------------------------------- configuration


def test_config_magic_sets_defaults_and_flags_override(
    ip: InteractiveShell, url: str, server: ConformanceServer
) -> None:
    ip.run_line_magic("config", "Nemotron.temperature = 0.25")
    ip.run_line_magic("config", "Nemotron.reasoning = 'off'")
    assert _config.settings.params["temperature"] == 0.25
    run(ip, "%%nemotron\nq")
    body = server.last_request().body
    assert body["temperature"] == 0.25 and body["chat_template_kwargs"] == {"enable_thinking": False}
    run(ip, "%%nemotron -t 0.9 --reasoning on\nq")
    body = server.last_request().body
    assert body["temperature"] == 0.9 and body["chat_template_kwargs"] == {"enable_thinking": True}
    ip.run_line_magic("config", "Nemotron.temperature = None")
    ip.run_line_magic("config", "Nemotron.system = 'Be terse.'")
    run(ip, "%%nemotron\nq")
    body = server.last_request().body
    assert "temperature" not in body
    assert body["messages"][0] == {"role": "system", "content": "Be terse."}
    run(ip, "%%nemotron -s 'Per cell.'\nq")
    assert server.last_request().body["messages"][0] == {"role": "system", "content": "Per cell."}


def test_config_provider_reaches_the_library(ip: InteractiveShell, caplog: pytest.LogCaptureFixture) -> None:
    ip.run_line_magic("config", "Nemotron.provider = 'openrouter'")
    assert _config.settings.provider == "openrouter"
    ip.run_line_magic("config", "Nemotron.provider = 'bogus'")  # IPython's %config logs the refusal
    assert _config.settings.provider == "openrouter"
    assert "Nemotron.provider must be one of nvidia" in caplog.text


def test_ipython_config_file_values_apply_on_load(ip: InteractiveShell, server: ConformanceServer) -> None:
    ip.run_line_magic("unload_ext", "nemotron_magics")
    ip.config.Nemotron.model = "from-config-file"
    ip.config.Nemotron.base_url = server.base_url("nvidia")
    ip.run_line_magic("load_ext", "nemotron_magics")
    assert _config.settings.model == "from-config-file"
    run(ip, "%%nemotron\nq")
    assert server.last_request().body["model"] == "from-config-file"
    run(ip, "%%nemotron -m per-cell\nq")
    assert server.last_request().body["model"] == "per-cell"


def test_line_config_shows_and_sets(ip: InteractiveShell) -> None:
    result, _ = run(ip, "%nemotron config")
    text = str(result.result)
    for name in ("provider", "model", "temperature", "reasoning", "read_timeout", "format", "interpolate"):
        assert name in text
    result, io = run(
        ip, "%nemotron config temperature=0.4 reasoning=low format=text read_timeout=30 model=m1"
    )
    assert failure(result) is None
    assert _config.settings.params["temperature"] == 0.4 and _config.settings.params["reasoning"] == "low"
    assert _config.settings.read_timeout == 30.0 and _config.settings.model == "m1"
    run(ip, "%nemotron config model=none")
    assert _config.settings.model is None
    for bad, needle in [
        ("temperature=5", "Nemotron.temperature must be a number between 0 and 2"),
        ("nonsense=1", "unknown setting 'nonsense'"),
        ("temperature", "takes NAME=VALUE"),
        ("reasoning=high", "reasoning"),
        ("provider=nowhere", "Nemotron.provider must be one of"),
    ]:
        result, io = run(ip, f"%nemotron config {bad}")
        assert_one_line_error(result, io, needle)


def test_format_default_from_config(ip: InteractiveShell, server: ConformanceServer) -> None:
    ip.run_line_magic("config", "Nemotron.format = 'json'")
    run(ip, f"%%nemotron --base-url {server.base_url('json_answer')}\nJSON please")
    assert isinstance(ip.user_ns.get("_nemotron_json"), list)


def test_unload_removes_the_magics(ip: InteractiveShell) -> None:
    ip.run_line_magic("unload_ext", "nemotron_magics")
    assert ip.find_cell_magic("nemotron") is None
    assert not any(type(c).__name__ == "Nemotron" for c in ip.configurables)
    ip.run_line_magic("load_ext", "nemotron_magics")
    assert ip.find_cell_magic("nemotron") is not None

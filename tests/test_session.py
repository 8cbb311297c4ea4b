"""Conversations from plain Python, against the loopback conformance server (real HTTP, no mocks).

What a user notices: the next request carries the earlier turns (with what each provider needs
from them), a re-run replaces its turn, a stopped answer stays, a failed one does not pollute the
history, and usage adds up per provider and model.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import nemotron_magics as nm
from nemotron_magics import session as sessions_module
from nemotron_magics._response import Response
from nemotron_magics.session import LEDGER, Ledger, Session, extract_code, get_session
from tests.conformance.server import ConformanceServer
from tests.conformance.streams import expected


@pytest.fixture(scope="module")
def client() -> Iterator[nm.Client]:
    with nm.Client(max_retries=0) as c:
        yield c


def _sent(server: ConformanceServer) -> list[dict[str, Any]]:
    return server.last_request().body["messages"]


def test_turns_accumulate_into_the_next_request(server: ConformanceServer, client: nm.Client) -> None:
    chat = Session("t", client=client, base_url=server.base_url("nvidia"), system="Be brief.")
    first = chat.chat("Why is the sky blue?")
    assert first.content == expected("nvidia")["content"]
    chat.chat("And at sunset?")
    sent = _sent(server)
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[0]["content"] == "Be brief."
    assert sent[2]["content"] == first.content
    assert sent[3]["content"] == "And at sunset?"
    assert len(chat.turns) == 2
    assert chat.messages[-1]["role"] == "assistant"  # what the next request would start from


def test_a_turn_with_the_same_key_replaces_it_in_place(server: ConformanceServer, client: nm.Client) -> None:
    chat = Session("t", client=client, base_url=server.base_url("nvidia"))
    chat.chat("one", key="cell-1")
    chat.chat("two", key="cell-2")
    chat.chat("one, edited", key="cell-1")  # re-running the first cell
    assert [t.user["content"] for t in chat.turns] == ["one, edited", "two"]
    assert [t.key for t in chat.turns] == ["cell-1", "cell-2"]
    # The re-run was sent the turns before it, not the ones after it.
    assert [m["content"] for m in _sent(server)] == ["one, edited"]
    chat.chat("two, again", key="cell-2")
    assert [m["content"] for m in _sent(server)][::2] == ["one, edited", "two, again"]
    assert len(chat.turns) == 2


def test_turns_without_key_always_append(server: ConformanceServer, client: nm.Client) -> None:
    chat = Session("t", client=client, base_url=server.base_url("nvidia"))
    chat.chat("same")
    chat.chat("same")
    assert len(chat.turns) == 2


def test_openrouter_reasoning_details_go_back_unchanged(server: ConformanceServer, client: nm.Client) -> None:
    chat = Session(
        "t",
        client=client,
        provider="openrouter",
        api_key="sk-or-v1-testtesttest",
        base_url=server.base_url("openrouter"),
    )
    first = chat.chat("A haiku about GPUs")
    assert first.reasoning_details
    chat.chat("Another")
    assistant = _sent(server)[1]
    assert assistant["role"] == "assistant"
    assert assistant["reasoning_details"] == first.reasoning_details
    assert assistant["reasoning_details"][0]["text"] == expected("openrouter")["reasoning"]


def test_vllm_reasoning_goes_back_in_the_reasoning_field(
    server: ConformanceServer, client: nm.Client
) -> None:
    chat = Session("t", client=client, provider="local", base_url=server.base_url("vllm"))
    chat.chat("Three primes above 10")
    chat.chat("Two more")
    assistant = _sent(server)[1]
    assert assistant["reasoning"] == expected("vllm")["reasoning"]
    assert "reasoning_details" not in assistant


def test_history_mixes_providers_each_in_its_own_shape(server: ConformanceServer, client: nm.Client) -> None:
    chat = Session("t", client=client)
    chat.chat(
        "q1", provider="openrouter", api_key="sk-or-v1-testtesttest", base_url=server.base_url("openrouter")
    )
    chat.chat("q2", provider="nvidia", api_key="nvapi-testtesttest", base_url=server.base_url("nvidia"))
    chat.chat("q3", provider="local", base_url=server.base_url("vllm"))
    sent = _sent(server)
    assert "reasoning_details" in sent[1]
    assert set(sent[3]) == {"role", "content"}  # NVIDIA: nothing extra


def test_a_stopped_answer_stays_in_the_conversation(server: ConformanceServer, client: nm.Client) -> None:
    chat = Session("t", client=client, base_url=server.base_url("slow"))
    stream = chat.stream("Tell me a long story")
    got = ""
    for event in stream:
        if isinstance(event, nm.TextDelta):
            got += event.text
            if len(got) > 40:
                break
    stream.close()
    turn = chat.turns[0]
    assert turn.response.finish_reason == "cancelled"
    assert turn.response.content.startswith(got)
    user, assistant = chat.messages
    assert user == {"role": "user", "content": "Tell me a long story"}
    assert (assistant["role"], assistant["content"]) == ("assistant", turn.response.content)


def test_ctrl_c_keeps_the_partial_turn(server: ConformanceServer, client: nm.Client) -> None:
    """A real SIGINT mid-stream (what Ctrl-C and the kernel's stop button send)."""
    chat = Session("t", client=client, base_url=server.base_url("long", chars=20_000, rchars=100, rate=2_000))
    timer = threading.Timer(0.6, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    started = time.monotonic()
    with pytest.raises(nm.StreamCancelled) as info:
        chat.chat("long")
    assert time.monotonic() - started < 0.6 + 0.5
    timer.join()
    kept = chat.turns[0].response
    assert info.value.response is kept
    assert kept.finish_reason == "cancelled" and 0 < len(kept.content) < 20_000
    assert chat.messages[1]["content"] == kept.content
    assert server.last_request().wait(2) == "client_disconnected"


def test_a_request_that_failed_before_any_answer_is_not_resent(
    server: ConformanceServer, client: nm.Client
) -> None:
    chat = Session("t", client=client, base_url=server.base_url("nvidia"))
    chat.chat("first")
    with pytest.raises(nm.AuthenticationError):
        chat.chat("second", base_url=server.base_url("unauthorized"))
    assert len(chat.turns) == 2  # the user saw it fail: it is listed …
    assert not chat.turns[1].answered
    chat.chat("third")
    assert [m["content"] for m in _sent(server) if m["role"] == "user"] == ["first", "third"]  # … not resent


def test_bad_configuration_records_no_turn(client: nm.Client) -> None:
    chat = Session("t", client=client, provider="nvidia")  # no key set (conftest clears the environment)
    with pytest.raises(nm.MissingAPIKey):
        chat.chat("hello")
    assert chat.turns == []


def test_reset_forgets_turns(server: ConformanceServer, client: nm.Client) -> None:
    chat = Session("t", client=client, base_url=server.base_url("nvidia"))
    chat.chat("one")
    chat.reset()
    assert chat.turns == [] and chat.messages == []
    chat.chat("two")
    assert [m["content"] for m in _sent(server)] == ["two"]


def test_session_parameters_are_defaults_that_calls_override(
    server: ConformanceServer, client: nm.Client
) -> None:
    chat = Session("t", client=client, base_url=server.base_url("nvidia"), temperature=0.2, max_tokens=100)
    chat.chat("q", temperature=0.7)
    body = server.last_request().body
    assert body["temperature"] == 0.7 and body["max_tokens"] == 100


def test_per_call_system_overrides_only_that_request(server: ConformanceServer, client: nm.Client) -> None:
    chat = Session("t", client=client, base_url=server.base_url("nvidia"), system="A")
    chat.chat("q", system="B")
    assert _sent(server)[0] == {"role": "system", "content": "B"}
    chat.chat("q2")
    assert _sent(server)[0] == {"role": "system", "content": "A"}


def test_usage_adds_up_per_provider_and_model(server: ConformanceServer, client: nm.Client) -> None:
    chat = Session("t", client=client)
    kw = {"provider": "deepinfra", "api_key": "di-testtesttest", "base_url": server.base_url("deepinfra")}
    chat.chat("a", **kw)
    chat.chat("b", **kw)
    chat.chat(
        "c", provider="openrouter", api_key="sk-or-v1-testtesttest", base_url=server.base_url("openrouter")
    )
    rows = {(r.provider, r.model): r for r in chat.usage.rows()}
    di = rows[("deepinfra", "nvidia/NVIDIA-Nemotron-3-Super-120B-A12B")]
    assert di.requests == 2
    assert di.prompt_tokens == 2 * 1200 and di.completion_tokens == 2 * 150
    assert di.cost == pytest.approx(2 * 0.00013356)
    orow = rows[("openrouter", "nvidia/nemotron-3-super-120b-a12b")]
    assert orow.cost == pytest.approx(0.000123) and not orow.cost_is_estimate
    assert orow.reasoning_tokens == 31
    total = chat.usage.total()
    assert total.requests == 3
    assert total.cost == pytest.approx(2 * 0.00013356 + 0.000123)


def test_estimated_and_unknown_costs_are_marked(server: ConformanceServer, client: nm.Client) -> None:
    ledger = Ledger()
    r = client.chat(
        "q", provider="cloudflare", api_key="cf-testtesttest", base_url=server.base_url("cloudflare_openai")
    )
    ledger.track(r)
    local = client.chat("q", provider="local", base_url=server.base_url("vllm"))
    ledger.track(local)
    rows = {r.provider: r for r in ledger.rows()}
    assert rows["cloudflare"].cost_is_estimate and "estimate" in rows["cloudflare"].cost_text
    assert rows["local"].cost_text == "unknown"


def test_one_malformed_usage_cannot_poison_the_ledger(server: ConformanceServer, client: nm.Client) -> None:
    chat = Session("t", client=client, base_url=server.base_url("nvidia", shape="tokens_string"))
    chat.chat("a")  # prompt_tokens "12", reasoning_tokens "lots", cached_tokens -5
    odd = Response(provider="nvidia", model="odd")
    odd.usage = nm.Usage(prompt_tokens="12", completion_tokens=None, cost="n/a")  # type: ignore[arg-type]
    odd.finish()
    chat.usage.track(odd)
    LEDGER.track(odd)
    broken = Response(provider="nvidia", model="odd")
    broken.usage = object()  # type: ignore[assignment]
    broken.finish()
    chat.usage.track(broken)
    chat.base_url = server.base_url("nvidia")
    chat.chat("b")  # a later, healthy turn is still counted
    rows = {r.model: r for r in chat.usage.rows()}
    healthy = rows["nvidia/nemotron-3-super-120b-a12b"]
    assert healthy.requests == 2 and healthy.prompt_tokens == 12 + 24
    assert healthy.prompt_known == 2 and healthy.reasoning_known == 1 and healthy.cached_known == 0
    assert healthy.tokens_text("prompt") == "36"
    assert healthy.tokens_text("reasoning") == "27 (1 of 2 reported)"
    assert healthy.tokens_text("cached") == "unknown"
    assert rows["odd"].requests == 2 and rows["odd"].prompt_tokens == 0 and rows["odd"].usage_unknown == 2
    assert rows["odd"].tokens_text("prompt") == "unknown" and rows["odd"].cost_text == "unknown"
    total = chat.usage.total()
    assert total.requests == 4 and total.prompt_known == 2
    assert isinstance(LEDGER.total().prompt_tokens, int)  # the process ledger still adds up


def test_unknown_counts_stay_unknown(server: ConformanceServer, client: nm.Client) -> None:
    ledger = Ledger()
    ledger.track(client.chat("q", provider="local", base_url=server.base_url("vllm")))  # no reasoning count
    stopped = Response(provider="local", model="m")
    stopped.finish(reason="cancelled")  # no usage at all
    ledger.track(stopped)
    rows = {r.model: r for r in ledger.rows()}
    vllm = rows[expected("vllm")["model"]]
    assert vllm.tokens_text("completion") == "42" and vllm.tokens_text("reasoning") == "unknown"
    assert rows["m"].usage_unknown == 1 and rows["m"].tokens_text("prompt") == "unknown"


def test_the_process_ledger_counts_every_session(server: ConformanceServer, client: nm.Client) -> None:
    before = LEDGER.total().requests
    Session(None, client=client, base_url=server.base_url("nvidia")).chat("q")
    assert LEDGER.total().requests == before + 1


def test_a_streaming_response_is_counted_once_it_is_done(
    server: ConformanceServer, client: nm.Client
) -> None:
    chat = Session("t", client=client, base_url=server.base_url("nvidia"))
    stream = chat.stream("q")
    next(iter(stream))
    assert chat.usage.in_flight() == 1 and chat.usage.rows() == []
    stream.until_done()
    assert chat.usage.in_flight() == 0 and chat.usage.total().requests == 1


def test_named_sessions_are_shared() -> None:
    a = get_session("shared-test")
    assert get_session("shared-test") is a
    assert "shared-test" in sessions_module.sessions()
    sessions_module.drop_session("shared-test")
    assert get_session("shared-test") is not a
    sessions_module.drop_session("shared-test")


def test_session_module_imports_no_ipython() -> None:
    import subprocess

    code = (
        "import sys, nemotron_magics.session as s; s.Session('x'); "
        "print(sorted(m for m in ('IPython', 'httpx', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        ("```python\nprint(1)\n```", "print(1)"),
        ("Here you go:\n\n```py\nx = {'a': 1}\n```\n\nHope it helps.", "x = {'a': 1}"),
        ("```\na\n```\ntext\n```python\nb\n```", "a\n\nb"),
        ("print(2)", "print(2)"),
        ("~~~\ntilde\n~~~", "tilde"),
        ("````markdown\n```python\ninner\n```\n````", "```python\ninner\n```"),
    ],
)
def test_extract_code(answer: str, code: str) -> None:
    assert extract_code(answer) == code

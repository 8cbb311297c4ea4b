"""Conversations: a list of turns, and the request history they make.

A :class:`Session` is what ``%%nemotron --chat NAME`` continues from cell to
cell, and it is plain Python (no IPython import), so a script gets the same
behaviour::

    chat = Session("review", provider="openrouter", system="Be brief.")
    chat.chat("Summarise this diff: …")
    chat.chat("Now list the risks.")

Three choices shape it:

* A turn is recorded when its stream is *created*, holding the live
  :class:`~nemotron_magics.Response`: whatever happens next (Ctrl-C, a broken
  stream) the conversation keeps exactly what the user saw.
* A turn may carry a ``key`` (the magic uses the notebook cell's id). A new
  turn with the key of an earlier one replaces it in place, so re-running a
  cell regenerates its answer instead of appending a duplicate; the request
  then carries only the turns before it, as the notebook reads top to bottom.
* Earlier assistant turns are sent back the way their provider needs them
  (``Response.to_message``: OpenRouter's ``reasoning_details``, vLLM's
  ``reasoning``), so continuing a conversation keeps the reasoning chain intact.

Every response is also counted in the session's own :class:`Ledger` of tokens and
cost per (provider, model); the process-wide :data:`LEDGER` behind ``%nemotron usage``
counts every finished response, from any surface (:mod:`._completion`).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._usage import LEDGER, Ledger, UsageRow

if TYPE_CHECKING:
    from ._cache import Replay
    from ._client import Client, Stream
    from ._loop import ToolLoop
    from ._response import Response

Message = dict[str, Any]


# --------------------------------------------------------------------------- turns


@dataclass
class Turn:
    """One exchange: the user's message and the (possibly still streaming) answer.

    ``source`` is the stream or tool loop that makes the answer: a tool loop's answer is the
    last of its rounds, known only when it ends, so :attr:`response` asks it.
    """

    key: Hashable | None
    user: Message
    source: Any

    @property
    def response(self) -> Response:
        response: Response = self.source.response
        return response

    def messages(self) -> list[Message]:
        """This turn as the history carries it: every round's assistant turn and tool results."""
        from ._providers import dialect_of

        out: list[Message] = [dict(self.user)]
        final = self.response
        for r in final.rounds[:-1] or []:
            dialect = dialect_of(r.provider)
            out.append(dialect.assistant_message(r))
            out.extend(
                dialect.tool_message(c.id or f"call_{c.index}", c.name, c.result or "") for c in r.tool_calls
            )
        out.append(final.to_message())
        return out

    @property
    def answered(self) -> bool:
        """False for a turn that failed or was stopped before any answer arrived.

        Such a turn stays in :attr:`Session.turns` (the user saw it fail) but is
        left out of the history sent next: a question without an answer would
        only confuse the model, and the user will ask again.
        """
        r = self.response
        if r.content or r.tool_calls:
            return True
        return r.done and r.finish_reason not in ("error", "cancelled")


def _user_message(prompt: str | Mapping[str, Any]) -> Message:
    if isinstance(prompt, str):
        return {"role": "user", "content": prompt}
    message = dict(prompt)
    message.setdefault("role", "user")
    return message


class Session:
    """A named conversation: turns, the history they make, and the usage they cost.

    Constructor arguments are defaults for every turn (``provider``, ``model``,
    ``base_url``, ``api_key``, and request parameters such as ``temperature``
    or ``reasoning``); each call may override them. ``client`` shares a
    connection pool; by default the process-wide client of :func:`chat` is used.
    """

    def __init__(
        self,
        name: str | None = "default",
        *,
        provider: str | None = None,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        client: Client | None = None,
        system: str | None = None,
        **params: Any,
    ) -> None:
        self.name = name
        self.provider, self.model, self.base_url = provider, model, base_url
        self._api_key = api_key
        self._client = client
        self.system = system
        self.params = params
        self._turns: list[Turn] = []
        self.usage = Ledger()

    # -- state -----------------------------------------------------------------
    @property
    def turns(self) -> list[Turn]:
        """The conversation so far, oldest first (a copy)."""
        return list(self._turns)

    def __len__(self) -> int:
        return len(self._turns)

    def __iter__(self) -> Iterator[Turn]:
        return iter(list(self._turns))

    def history(self, upto: int | None = None, system: str | None = None) -> list[Message]:
        """The messages that carry turns ``[:upto]`` (all by default), system prompt first."""
        system = self.system if system is None else system
        messages: list[Message] = [{"role": "system", "content": system}] if system else []
        for turn in self._turns[:upto]:
            if not turn.answered:
                continue
            messages.extend(turn.messages())
        return messages

    @property
    def messages(self) -> list[Message]:
        """What the next request would carry before its own user message."""
        return self.history()

    def reset(self) -> None:
        """Forget every turn (usage already spent stays counted)."""
        self._turns.clear()

    def _index_of(self, key: Hashable | None) -> int | None:
        if key is None:
            return None
        for i, turn in enumerate(self._turns):
            if turn.key == key:
                return i
        return None

    # -- requests ----------------------------------------------------------------
    def _get_client(self) -> Client:
        if self._client is None:
            from ._api import default_client

            self._client = default_client()
        return self._client

    def stream(
        self,
        prompt: str | Mapping[str, Any],
        *,
        key: Hashable | None = None,
        provider: str | None = None,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        system: str | None = None,
        **params: Any,
    ) -> Stream | ToolLoop | Replay:
        """Start the next turn and return its stream; the turn is in :attr:`turns` at once.

        ``key`` names the turn: a later call with the same key replaces this turn
        where it stands (and is sent the turns before it, not after). ``system``
        overrides the session's system prompt for this request only.
        """
        user = _user_message(prompt)
        at = self._index_of(key)
        messages = [*self.history(at, system), user]
        merged = {**self.params, **{k: v for k, v in params.items() if v is not None}}
        stream = self._get_client().stream(
            messages,
            provider=provider or self.provider,
            model=model or self.model,
            base_url=base_url or self.base_url,
            api_key=api_key or self._api_key,
            on_round=self._count,  # every round of a tool loop costs tokens
            **merged,
        )
        turn = Turn(key, user, stream)
        if at is None:
            self._turns.append(turn)
        else:
            self._turns[at] = turn
        return stream

    def _count(self, response: Response) -> None:
        self.usage.track(response)  # the process ledger counts it through the completion hook

    def chat(self, prompt: str | Mapping[str, Any], *, key: Hashable | None = None, **kw: Any) -> Response:
        """One turn, streamed to the end; Ctrl-C keeps the partial answer in the conversation."""
        return self.stream(prompt, key=key, **kw).until_done()

    def __repr__(self) -> str:
        where = self.provider or "default provider"
        return f"<Session {self.name!r}: {len(self._turns)} turns, {where}>"


# --------------------------------------------------------------------------- named sessions

_SESSIONS: dict[str, Session] = {}
_NAME = re.compile(r"^[\w.-]{1,64}$")


def valid_name(name: str) -> bool:
    """Letters, digits, ``_``, ``.`` and ``-``, up to 64 characters."""
    return bool(_NAME.match(name))


def get_session(name: str, *, create: bool = True) -> Session:
    """The named conversation that ``%%nemotron --chat NAME`` continues (created on first use)."""
    session = _SESSIONS.get(name)
    if session is None:
        if not create:
            raise KeyError(name)
        session = _SESSIONS[name] = Session(name)
    return session


def sessions() -> dict[str, Session]:
    """Every named conversation, in order of creation (a copy)."""
    return dict(_SESSIONS)


def drop_session(name: str) -> Session:
    """Forget a named conversation entirely; returns it."""
    return _SESSIONS.pop(name)


# --------------------------------------------------------------------------- answer helpers


def extract_code(text: str) -> str:
    """The code in an answer: the fenced blocks' contents (joined), or the whole text when unfenced.

    Models wrap code in fences and often add a sentence around it; ``--format
    code`` wants only what runs.
    """
    from ._response import fenced_blocks

    blocks = fenced_blocks(text)
    if not blocks:
        return text.strip()
    return "\n\n".join(blocks)


__all__ = [
    "LEDGER",
    "Ledger",
    "Session",
    "Turn",
    "UsageRow",
    "drop_session",
    "extract_code",
    "get_session",
    "sessions",
    "valid_name",
]

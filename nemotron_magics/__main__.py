"""``python -m nemotron_magics "a question"``: stream an answer to the terminal.

Uses the same resolution as everything else: with no key set it answers with
the embedded engine and says so.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from ._api import stream
from ._errors import ConfigurationError, NemotronError
from ._params import PARAMS, REASONING_MODES, SETTINGS, Rule
from ._providers import PROVIDERS
from ._terminal_text import terminal_safe
from .display._terminal import TerminalPrinter


def _rule(rule: Rule) -> Callable[[str], Any]:
    """An argparse ``type=`` from the library's rule: the same one-line message as everywhere."""

    def read(text: str) -> Any:
        try:
            return rule.from_text(text, rule.name)
        except ConfigurationError as exc:
            raise argparse.ArgumentTypeError(exc.message) from None

    read.__name__ = rule.name  # argparse names the type in its messages
    return read


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nemotron", description="Ask Nemotron 3 Super; stream the answer.")
    p.add_argument("prompt", nargs="*", help="the question (read from stdin when omitted)")
    p.add_argument("-p", "--provider", choices=sorted(PROVIDERS))
    p.add_argument("-m", "--model", type=_rule(SETTINGS["model"]))
    p.add_argument("--base-url", type=_rule(SETTINGS["base_url"]))
    p.add_argument("-t", "--temperature", type=_rule(PARAMS["temperature"]), help=PARAMS["temperature"].help)
    p.add_argument("--top-p", type=_rule(PARAMS["top_p"]), help=PARAMS["top_p"].help)
    p.add_argument("--max-tokens", type=_rule(PARAMS["max_tokens"]), help=PARAMS["max_tokens"].help)
    p.add_argument("--reasoning", choices=REASONING_MODES, help=PARAMS["reasoning"].help)
    p.add_argument(
        "--budget",
        type=_rule(PARAMS["reasoning_budget"]),
        dest="reasoning_budget",
        help=PARAMS["reasoning_budget"].help,
    )
    p.add_argument("-s", "--system", type=_rule(PARAMS["system"]))
    p.add_argument("--seed", type=_rule(PARAMS["seed"]))
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    prompt = " ".join(args.prompt) if args.prompt else sys.stdin.read()
    if not prompt.strip():
        print("nemotron: nothing to ask: give a question as arguments or on stdin", file=sys.stderr)
        return 2
    params = {k: v for k, v in vars(args).items() if k not in ("prompt", "provider", "model", "base_url")}
    printer = TerminalPrinter()
    try:
        s = stream(prompt, provider=args.provider, model=args.model, base_url=args.base_url, **params)
    except NemotronError as exc:
        print(f"nemotron: {terminal_safe(str(exc))}", file=sys.stderr)
        return 1
    try:
        for event in s:
            printer.feed(event)
    except KeyboardInterrupt:
        s.close()  # Ctrl-C: the connection closes, the partial answer stays on screen
        printer.close(s.response)
        return 130
    except NemotronError as exc:
        if s.response.content or s.response.reasoning:
            printer.close(s.response)  # what arrived before the break stays
        print(f"nemotron: {terminal_safe(str(exc))}", file=sys.stderr)
        return 1
    printer.close(s.response)
    return 0


if __name__ == "__main__":
    sys.exit(main())

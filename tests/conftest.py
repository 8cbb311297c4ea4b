"""Shared fixtures: the loopback conformance server, the real embedded engine, a clean environment."""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from nemotron_magics import _config
from tests.conformance.server import ENV_VAR, ConformanceServer

# Tests never write the user's store (history, cache): one throwaway file for this run, set before any
# kernel or subprocess starts, so they inherit it.
STORE_DIR = Path(tempfile.mkdtemp(prefix="nemotron-test-store-"))
os.environ["NEMOTRON_STORE"] = str(STORE_DIR / "store.sqlite3")

# Provider keys and switches a developer may have exported: tests must not depend on them (or leak them).
_ENV_TO_CLEAR = (
    "NVIDIA_API_KEY",
    "OPENROUTER_API_KEY",
    "DEEPINFRA_TOKEN",
    "DEEPINFRA_API_KEY",
    "CLOUDFLARE_API_TOKEN",
    "CLOUDFLARE_AUTH_TOKEN",
    "CLOUDFLARE_ACCOUNT_ID",
    "NEMOTRON_PROVIDER",
    "NEMOTRON_BASE_URL",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in _ENV_TO_CLEAR:
        monkeypatch.delenv(var, raising=False)
    saved = copy.deepcopy(_config.settings)
    yield
    _config.settings.__dict__.update(vars(saved))


@pytest.fixture(scope="session")
def conformance() -> Iterator[ConformanceServer]:
    """One server for the session; its URL also reaches notebook kernels through the environment."""
    with ConformanceServer() as server:
        os.environ[ENV_VAR] = server.url
        yield server
        os.environ.pop(ENV_VAR, None)


@pytest.fixture
def server(conformance: ConformanceServer) -> ConformanceServer:
    """The session server with its request log and failure counters cleared for this test."""
    conformance.reset()
    return conformance


@pytest.fixture(scope="session")
def embedded_engine() -> object:
    """The real llama.cpp engine (SmolLM2-135M), started once for this process.

    Not exported through NEMOTRON_EMBEDDED_URL: the engine tests kill and restart it on purpose,
    and a kernel started later would then hold a stale address. Kernels start their own (1-2 s).
    """
    from nemotron_magics._embedded import ensure_engine

    return ensure_engine()

"""``pip install nemotron-magics`` into the Jupyter environment a user already has, then a cell.

Most people will not clone the repository. This builds the wheel, installs it into a fresh
virtual environment beside nothing but ipykernel, starts a real kernel from that environment
(working directory outside the source tree, so the installed copy is what runs), and runs a
``%%nemotron`` cell against the loopback conformance server. The first display must work: a
plain install carries everything the magic and the display need.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from tests.conformance.server import ConformanceServer
from tests.kernels import ROOT, fold_outputs

MIME = "application/vnd.nemotron.response+json"


def _sh(*argv: str | Path, cwd: Path | None = None, timeout: int = 600) -> str:
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{argv} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def user_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh environment with ipykernel and the built wheel, and nothing else of ours."""
    root = tmp_path_factory.mktemp("user-env")
    _sh(sys.executable, "-m", "build", "--wheel", "--outdir", root / "dist", ROOT, cwd=root)
    (wheel,) = (root / "dist").glob("nemotron_magics-*.whl")
    venv.create(root / "venv", with_pip=True)
    python = root / "venv" / "bin" / "python"
    _sh(python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "ipykernel", wheel)
    _sh(python, "-m", "ipykernel", "install", "--prefix", root / "venv", "--name", "user-env")
    return python


def test_a_plain_install_gives_a_working_magic_and_display(user_env: Path, server: ConformanceServer) -> None:
    installed = _sh(
        user_env, "-c", "import nemotron_magics, sys; print(nemotron_magics.__file__)", cwd=Path("/")
    )
    assert "site-packages" in installed and str(ROOT) not in installed

    specs = KernelSpecManager(kernel_dirs=[str(user_env.parent.parent / "share" / "jupyter" / "kernels")])
    km = KernelManager(kernel_name="user-env", kernel_spec_manager=specs)
    assert km.kernel_spec is not None and km.kernel_spec.argv[0] == str(user_env)
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_TOKEN"))}
    km.start_kernel(cwd="/", env=env)
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        code = f"%load_ext nemotron_magics\n%nemotron config base_url={server.base_url('nvidia')}"
        reply = kc.execute_interactive(code, timeout=60)
        assert reply["content"]["status"] == "ok", reply["content"]
        messages: list[dict] = []
        reply = kc.execute_interactive(
            "%%nemotron\nWhy is the sky blue?", timeout=60, output_hook=messages.append
        )
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)

    outputs = fold_outputs(messages)
    errors = [o for o in outputs if o.output_type == "error" or o.get("name") == "stderr"]
    assert not errors, errors
    (bundle,) = [o.data for o in outputs if o.output_type == "display_data" and o.data]
    assert "Rayleigh scattering" in bundle[MIME]["content"]
    assert "Rayleigh scattering" in bundle["text/html"] and "text/markdown" in bundle


def test_the_wheel_carries_the_jupyterlab_extension(user_env: Path) -> None:
    """``pip install`` is the whole installation: JupyterLab finds the prebuilt extension there."""
    share = user_env.parent.parent / "share" / "jupyter" / "labextensions" / "nemotron-magics"
    package = json.loads((share / "package.json").read_text(encoding="utf-8"))
    version = _sh(user_env, "-c", "import nemotron_magics; print(nemotron_magics.__version__)", cwd=Path("/"))
    assert package["version"] == version.strip(), "one version for Python and JavaScript"
    assert (share / package["jupyterlab"]["_build"]["load"]).is_file(), "the built remoteEntry is installed"
    install = json.loads((share / "install.json").read_text(encoding="utf-8"))
    assert install["packageName"] == "nemotron-magics"

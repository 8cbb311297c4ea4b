"""``python _llama_server.py ARGS``: llama-cpp-python's server, with llama.cpp's weight repacking off.

Run as a script by path (never imported by the package), so the server process needs only
llama-cpp-python, not this package. On CPUs with AMX (Sapphire Rapids and later Xeons) the AMX
repack ("extra buffer types") of Q4 weights segfaults in the first decode (ggml-org/llama.cpp#20824;
seen here with llama-cpp-python 0.3.36). llama-server has ``--no-repack`` for this; llama-cpp-python
does not expose it, so this sets the model-params field itself. Repacking buys nothing for a small
Q4 model elsewhere; the guard keeps older builds, which lack the field, working.
"""

import runpy

import llama_cpp.llama_cpp as ll

_defaults = ll.llama_model_default_params


def _model_params():  # type: ignore[no-untyped-def]
    params = _defaults()
    if hasattr(params, "use_extra_bufts"):
        params.use_extra_bufts = False
    return params


ll.llama_model_default_params = _model_params
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)

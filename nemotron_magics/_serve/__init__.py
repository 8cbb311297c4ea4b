"""``serve()``: Nemotron on your own GPUs (or CPU), one recipe per engine on the one supervisor.

``_spec`` holds the vocabulary (checkpoints, a request, the plan a recipe builds), ``_gpus`` reads
``nvidia-smi`` and recommends what fits, the recipe modules build each engine's command line,
``_server`` runs a plan on :mod:`.._process` and hands back a :class:`~._server.Server`, and
``_magic`` is the ``%nemotron serve`` / ``%nemotron gpus`` skin. Importing this package imports
nothing heavy: the embedded engine reuses the llama.cpp recipe's command line from here.
"""

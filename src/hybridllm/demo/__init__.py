"""``hybridllm demo``: the engine end to end on embedded defaults, no keys, no network.

With the local tier installed (``hybridllm[local]``) a real model answers in-process
(:mod:`.local_run`); without it, the mock upstream does (:mod:`.mock_run`).
"""

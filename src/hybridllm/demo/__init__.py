"""``hybridllm demo``: the engine end to end on embedded defaults, no keys, no network."""

"""The HTTP gateway: OpenAI- and Anthropic-compatible routes over one engine.

- :mod:`~hybridllm.server.app`: the ASGI app (``create_app``, also the uvicorn factory);
- :mod:`~hybridllm.server.gateway`: the model routes (chat completions, messages, route);
- :mod:`~hybridllm.server.inbound`: body limit, forbidden fields, hints;
- :mod:`~hybridllm.server.auth`: virtual keys;
- :mod:`~hybridllm.server.openai_front`, :mod:`~hybridllm.server.anthropic_front`: the protocols;
- :mod:`~hybridllm.server.envelope`: errors in the caller's envelope;
- :mod:`~hybridllm.server.sse`: the streaming response; :mod:`~hybridllm.server.metrics`: names.
"""

from hybridllm.server.app import create_app

__all__ = ["create_app"]

"""The OpenAPI 3.1 document of the gateway's own routes, served at ``/openapi.json``.

Hand-written (no framework introspection), filled in from the config: the ``model`` enum lists
"auto" and the deployments, the ``tier`` hint the tiers that exist, and the security schemes
appear only when virtual keys are configured.
"""

from __future__ import annotations

from typing import Any

from hybridllm.config.models import Config
from hybridllm.server.inbound import HINT_HEADERS

__all__ = ["openapi_document"]

_S = dict[str, Any]


def _ref(name: str) -> _S:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_body(schema: _S) -> _S:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _errors(envelope: str, *statuses: int) -> dict[str, _S]:
    descriptions = {
        400: "Bad request: malformed JSON, wrong types, bad hint, forbidden field",
        401: "Missing or invalid API key",
        404: "Unknown model (feedback: unknown request_id)",
        413: "Body larger than server.max_body_bytes",
        429: "Rate limited or over budget (Retry-After when known)",
        502: "Upstream error",
        503: "No deployment available",
        504: "Upstream timeout",
    }
    return {
        str(s): {
            "description": descriptions[s],
            "content": {"application/json": {"schema": _ref(envelope)}},
        }
        for s in statuses
    }


def _hint_parameters(tiers: list[int]) -> list[_S]:
    schemas: dict[str, _S] = {
        "task": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,64}$"},
        "complexity": {"type": "string", "enum": ["low", "medium", "high"]},
        "cost_center": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,64}$"},
        "tier": {"type": "integer", "enum": tiers},
        "private": {"type": "string", "enum": ["true", "false"]},
        "batch_size": {"type": "integer", "minimum": 1, "maximum": 1000000000},
    }
    return [
        {"name": header, "in": "header", "required": False, "schema": schemas[name]}
        for header, name in HINT_HEADERS.items()
    ]


def _schemas(models: list[str], tiers: list[int]) -> dict[str, _S]:
    text_part = {
        "type": "object",
        "required": ["type", "text"],
        "properties": {"type": {"const": "text"}, "text": {"type": "string"}},
    }
    message = {
        "type": "object",
        "required": ["role", "content"],
        "properties": {
            "role": {"type": "string", "enum": ["system", "user", "assistant"]},
            "content": {
                "oneOf": [{"type": "string"}, {"type": "array", "items": text_part}],
            },
            "name": {"type": "string"},
        },
    }
    function = {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
            "description": {"type": "string"},
            "parameters": {"type": "object"},
        },
    }
    hints = {
        "type": "object",
        "description": "Routing hints; the same names as the x-hybridllm-* headers.",
        "additionalProperties": False,
        "properties": {
            "task": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,64}$"},
            "complexity": {"type": "string", "enum": ["low", "medium", "high"]},
            "cost_center": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,64}$"},
            "tier": {"type": "integer", "enum": tiers},
            "private": {"type": "boolean"},
            "batch_size": {"type": "integer", "minimum": 1, "maximum": 1000000000},
        },
    }
    model = {"type": "string", "enum": models}
    return {
        "ChatCompletionRequest": {
            "type": "object",
            "required": ["model", "messages"],
            "properties": {
                "model": model,
                "messages": {"type": "array", "minItems": 1, "maxItems": 8, "items": message},
                "max_tokens": {"type": "integer", "minimum": 1, "maximum": 4096},
                "temperature": {"type": "number", "minimum": 0, "maximum": 2},
                "top_p": {"type": "number", "minimum": 0, "maximum": 1},
                "stop": {"type": "array", "items": {"type": "string"}, "maxItems": 4},
                "stream": {"type": "boolean"},
                "stream_options": {
                    "type": "object",
                    "properties": {"include_usage": {"type": "boolean"}},
                },
                "tools": {
                    "type": "array",
                    "maxItems": 4,
                    "items": {
                        "type": "object",
                        "required": ["type", "function"],
                        "properties": {"type": {"const": "function"}, "function": function},
                    },
                },
                "user": {"type": "string"},
                "hybridllm": hints,
            },
        },
        "MessagesRequest": {
            "type": "object",
            "required": ["model", "max_tokens", "messages"],
            "properties": {
                "model": model,
                "max_tokens": {"type": "integer", "minimum": 1, "maximum": 4096},
                "system": {"type": "string"},
                "messages": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 8,
                    "items": {
                        "type": "object",
                        "required": ["role", "content"],
                        "properties": {
                            "role": {"type": "string", "enum": ["user", "assistant"]},
                            "content": {
                                "oneOf": [
                                    {"type": "string"},
                                    {"type": "array", "items": text_part},
                                ]
                            },
                        },
                    },
                },
                "temperature": {"type": "number", "minimum": 0, "maximum": 1},
                "stop_sequences": {"type": "array", "items": {"type": "string"}, "maxItems": 4},
                "stream": {"type": "boolean"},
                "hybridllm": hints,
            },
        },
        "FeedbackRequest": {
            "type": "object",
            "required": ["request_id", "score"],
            "additionalProperties": False,
            "properties": {
                "request_id": {
                    "type": "string",
                    "pattern": "^[A-Za-z0-9._:-]{1,128}$",
                    "description": "The x-request-id header of the answer being scored.",
                },
                "score": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": 1,
                    "description": "1 = a good answer, 0 = a useless one.",
                },
                "comment": {"type": "string", "maxLength": 2000},
            },
        },
        "OpenAIError": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["message", "type"],
                    "properties": {
                        "message": {"type": "string"},
                        "type": {"type": "string"},
                        "code": {"type": ["string", "null"]},
                        "param": {"type": ["string", "null"]},
                    },
                }
            },
        },
        "AnthropicError": {
            "type": "object",
            "required": ["type", "error"],
            "properties": {
                "type": {"const": "error"},
                "error": {
                    "type": "object",
                    "required": ["type", "message"],
                    "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
                },
            },
        },
    }


def openapi_document(config: Config) -> _S:
    models = ["auto", *config.deployments]
    tiers = sorted({d.tier for d in config.deployments.values()})
    hint_params = _hint_parameters(tiers)
    json_ok = {"content": {"application/json": {"schema": {"type": "object"}}}}
    sse_ok = {"text/event-stream": {"schema": {"type": "string"}}}
    model_errors = (400, 401, 404, 413, 429, 502, 503, 504)
    doc: _S = {
        "openapi": "3.1.0",
        "info": {
            "title": "hybridllm gateway",
            "version": "0.1.0",
            "description": "OpenAI- and Anthropic-compatible LLM gateway that routes each "
            "request to the cheapest deployment that does it well.",
        },
        "paths": {
            "/v1/chat/completions": {
                "post": {
                    "operationId": "createChatCompletion",
                    "parameters": hint_params,
                    "requestBody": _json_body(_ref("ChatCompletionRequest")),
                    "responses": {
                        "200": {
                            "description": "A chat completion, or an SSE stream of chunks",
                            "content": {**json_ok["content"], **sse_ok},
                        },
                        **_errors("OpenAIError", *model_errors),
                    },
                }
            },
            "/v1/messages": {
                "post": {
                    "operationId": "createMessage",
                    "parameters": hint_params,
                    "requestBody": _json_body(_ref("MessagesRequest")),
                    "responses": {
                        "200": {
                            "description": "An Anthropic message, or an SSE stream of events",
                            "content": {**json_ok["content"], **sse_ok},
                        },
                        **_errors("AnthropicError", *model_errors),
                    },
                }
            },
            "/v1/route": {
                "post": {
                    "operationId": "routeRequest",
                    "description": "The routing decision for a chat request; no model is called.",
                    "parameters": hint_params,
                    "requestBody": _json_body(_ref("ChatCompletionRequest")),
                    "responses": {
                        "200": {"description": "The decision", **json_ok},
                        **_errors("OpenAIError", 400, 401, 404, 413),
                    },
                }
            },
            "/v1/feedback": {
                "post": {
                    "operationId": "createFeedback",
                    "description": "Score an answer for `hybridllm learn` (docs/learning.md).",
                    "requestBody": _json_body(_ref("FeedbackRequest")),
                    "responses": {
                        "200": {"description": "The feedback was stored", **json_ok},
                        **_errors("OpenAIError", 400, 401, 404, 413),
                    },
                }
            },
            "/v1/models": {
                "get": {
                    "operationId": "listModels",
                    "responses": {
                        "200": {"description": "'auto' and every deployment", **json_ok},
                        **_errors("OpenAIError", 401),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "health",
                    "security": [],
                    "responses": {"200": {"description": "The process is up", **json_ok}},
                }
            },
            "/readyz": {
                "get": {
                    "operationId": "ready",
                    "security": [],
                    "responses": {
                        "200": {"description": "At least one deployment is usable", **json_ok},
                        "503": {"description": "No deployment is usable", **json_ok},
                    },
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "responses": {
                        "200": {
                            "description": "Prometheus text exposition",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        **_errors("OpenAIError", 401),
                    },
                }
            },
        },
        "components": {"schemas": _schemas(models, tiers)},
    }
    if config.server.keys:
        doc["components"]["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
        }
        doc["security"] = [{"bearer": []}, {"apiKey": []}]
    return doc

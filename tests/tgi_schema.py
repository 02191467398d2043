"""TGI's `POST /generate` as JSON Schemas (draft 2020-12), for tests: what a request may hold and what answers look like.

Written here from TGI's published OpenAPI document (docs/openapi.json, info.version 3.3.6-dev0, read at commit
db931fc of huggingface/text-generation-inference) and its router's request validation, keeping the stricter of
the two where they differ: the document allows top_p = 1 and max_new_tokens = 0, the router refuses both; the
document wants seed > 0, the router takes 0. Unknown fields are refused here (TGI would ignore them silently, so a
misspelt parameter would never take effect).
"""

from __future__ import annotations

FINISH_REASONS = ("length", "eos_token", "stop_sequence")
# status -> TGI's error_type for the errors /generate answers with
ERRORS = {422: "validation", 424: "generation", 429: "overloaded", 500: "incomplete_generation"}


def _nullable(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "null"}]}


_positive_int = {"type": "integer", "exclusiveMinimum": 0}
_logprob = _nullable({"type": "number"})

PARAMETERS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "adapter_id": _nullable({"type": "string"}),
        "best_of": _nullable(_positive_int),
        "decoder_input_details": {"type": "boolean"},
        "details": {"type": "boolean"},
        "do_sample": {"type": "boolean"},
        "frequency_penalty": _nullable({"type": "number", "exclusiveMinimum": -2}),
        "grammar": _nullable({"type": "object", "required": ["type", "value"],
                              "properties": {"type": {"enum": ["json", "regex", "json_schema"]}}}),
        "max_new_tokens": _nullable({"type": "integer", "minimum": 1, "maximum": 2**31 - 1}),
        "repetition_penalty": _nullable({"type": "number", "exclusiveMinimum": 0}),
        "return_full_text": _nullable({"type": "boolean"}),
        "seed": _nullable({"type": "integer", "exclusiveMinimum": 0, "maximum": 2**64 - 1}),
        "stop": {"type": "array", "items": {"type": "string"}, "maxItems": 4},
        "temperature": _nullable({"type": "number", "exclusiveMinimum": 0}),
        "top_k": _nullable({"type": "integer", "exclusiveMinimum": 0, "maximum": 2**31 - 1}),
        "top_n_tokens": _nullable(_positive_int),
        "top_p": _nullable({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}),
        "truncate": _nullable({"type": "integer", "minimum": 0}),
        "typical_p": _nullable({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}),
        "watermark": {"type": "boolean"},
    },
}

REQUEST = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["inputs"],
    "additionalProperties": False,
    "properties": {"inputs": {"type": "string"}, "parameters": PARAMETERS},
}

_token = {
    "type": "object",
    "required": ["id", "text", "logprob", "special"],
    "properties": {"id": {"type": "integer", "minimum": 0}, "text": {"type": "string"}, "logprob": _logprob,
                   "special": {"type": "boolean"}},
}
_prefill_token = {
    "type": "object",
    "required": ["id", "text", "logprob"],
    "properties": {"id": {"type": "integer", "minimum": 0}, "text": {"type": "string"}, "logprob": _logprob},
}
_details = {
    "type": "object",
    "required": ["finish_reason", "generated_tokens", "prefill", "tokens"],
    "properties": {
        "finish_reason": {"enum": list(FINISH_REASONS)},
        "generated_tokens": {"type": "integer", "minimum": 0},
        "prefill": {"type": "array", "items": _prefill_token},
        "seed": _nullable({"type": "integer", "minimum": 0}),
        "tokens": {"type": "array", "items": _token},
        "top_tokens": {"type": "array", "items": {"type": "array", "items": _token}},
        "best_of_sequences": _nullable({"type": "array"}),
    },
}

RESPONSE = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["generated_text"],
    "properties": {"generated_text": {"type": "string"}, "details": _nullable(_details)},
}

ERROR = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["error", "error_type"],
    "properties": {"error": {"type": "string"}, "error_type": {"type": "string"}},
}


def request_errors(body) -> list[str]:
    """Every way `body` breaks the request schema (empty when it is a valid /generate request)."""
    from jsonschema import Draft202012Validator

    return [f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}"
            for e in Draft202012Validator(REQUEST).iter_errors(body)]


def check_response(body: dict, status: int = 200) -> None:
    """Raise jsonschema.ValidationError unless `body` is what TGI may answer with `status`."""
    from jsonschema import Draft202012Validator

    Draft202012Validator(RESPONSE if status == 200 else ERROR).validate(body)
    if status != 200:
        assert body["error_type"] == ERRORS[status], (status, body)

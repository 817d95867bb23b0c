"""OpenAPI additions: the error format on every operation (drf-spectacular postprocessing)."""

from __future__ import annotations

from typing import Any

from bms_portal.api.errors import ERROR_CODES

ERROR_COMPONENT = "Error"
_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every 4xx/5xx answer of the API (docs/api.md lists the codes).",
    "properties": {
        "error": {"type": "string", "enum": list(ERROR_CODES), "description": "Machine code."},
        "detail": {
            "description": "A message; for `invalid`, the messages per field or parameter.",
            "anyOf": [
                {"type": "string"},
                {"type": "object", "additionalProperties": True},
                {"type": "array", "items": {}},
            ],
        },
    },
    "required": ["error", "detail"],
    "example": {"error": "not_found", "detail": "No Battery matches the given query."},
}
_RESPONSES = {
    "400": "Invalid parameters or body (`invalid`, `parse_error`).",
    "401": "No credentials, or an unknown, revoked or expired token.",
    "403": "Visible but not changeable by the caller (`permission_denied`).",
    "404": "No such object among those the caller may see (`not_found`).",
    "429": "Rate limit reached (`throttled`); wait `Retry-After` seconds.",
}


def add_error_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """Document the shared error answers on every API operation that does not name its own."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas[ERROR_COMPONENT] = _ERROR_SCHEMA
    ref = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, description in _RESPONSES.items():
                responses.setdefault(
                    status,
                    {"description": description, "content": {"application/json": {"schema": ref}}},
                )
    return result

"""The published API schema, corrected where the app answers differently from FastAPI's
defaults: a 422 carries `{"detail": [{"field", "message"}]}` (a malformed request: the
validation handler in app.web.error_pages) or `{"detail": "…", "field": "…"}` (a refused
value), in the caller's language, never FastAPI's `loc`/`msg`/`type` list."""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

VALIDATION_ERROR = {
    "title": "ValidationError",
    "type": "object",
    "required": ["field", "message"],
    "properties": {
        "field": {"type": "string", "description": "the input that was refused"},
        "message": {"type": "string", "description": "why, in the caller's language"},
    },
}
HTTP_VALIDATION_ERROR = {
    "title": "HTTPValidationError",
    "type": "object",
    "required": ["detail"],
    "properties": {
        # A malformed request lists each refused input; a rule of the service refuses with one
        # message (and the field it concerns, when there is one).
        "detail": {
            "anyOf": [
                {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}},
                {"type": "string"},
            ]
        },
        "field": {"type": "string"},
    },
}


def install(app: FastAPI) -> None:
    def schema() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schemas = document.get("components", {}).get("schemas", {})
            if "HTTPValidationError" in schemas:
                schemas["HTTPValidationError"] = HTTP_VALIDATION_ERROR
                schemas["ValidationError"] = VALIDATION_ERROR
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = schema  # type: ignore[method-assign]

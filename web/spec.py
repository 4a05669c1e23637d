"""What an API route is, and the OpenAPI 3.1 document built from the route table and the models.

Each route (the table is `web.api.routes`) names its input models (path, query, JSON body
or a streamed upload), its result model and the roles that may call it; `openapi()` turns
the table into `/openapi.json`, so the document cannot drift from what the handlers accept.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from models.api import ActionResult, ErrorBody
from models.case import CASE_ID_PATTERN
from models.users import Role

REF = "#/components/schemas/{model}"
EVERYONE = frozenset(Role)
SUPERVISORS = frozenset({Role.SUPERVISOR})
COORDINATORS = frozenset({Role.COORDINATOR})


@dataclass(frozen=True)
class Upload:
    """A streamed multipart body: file parts go straight into the encrypted store."""

    min_files: int = 1
    max_files: int = 50


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Callable[..., Awaitable[BaseModel]]
    summary: str
    result: type[BaseModel]
    roles: frozenset[Role] = EVERYONE
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    upload: Upload | None = None
    status: int = 200
    tags: tuple[str, ...] = field(default=("cases",))

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


_ERRORS = {
    "401": "no valid API token",
    "403": "the token's role may not do this",
    "404": "no such case (or not in the token's programs)",
    "409": "the case refused the change (its message says why)",
    "413": "the body is larger than the API accepts",
    "422": "the input is not valid",
}


def openapi(routes: list[Route], *, title: str, version: str) -> dict[str, Any]:
    models: set[type[BaseModel]] = {ErrorBody}
    for r in routes:
        models.update(m for m in (r.result, r.body, r.query) if m is not None)
    keyed = [(m, "validation") for m in models] + [(m, "serialization") for m in models]
    refs, top = models_json_schema(keyed, ref_template=REF)  # type: ignore[arg-type]
    schemas: dict[str, Any] = top.get("$defs", {})

    def ref(model: type[BaseModel], mode: str) -> dict[str, Any]:
        return dict(refs[(model, mode)])  # type: ignore[index]

    error = {"application/json": {"schema": ref(ErrorBody, "serialization")}}
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        params: list[dict[str, Any]] = []
        if "{case_id}" in r.path:
            params.append(
                {
                    "name": "case_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": CASE_ID_PATTERN},
                }
            )
        if r.query is not None:
            props = r.query.model_json_schema(ref_template=REF)["properties"]
            for name, info in r.query.model_fields.items():
                params.append(
                    {"name": name, "in": "query", "required": info.is_required(), "schema": props[name]}
                )
        op: dict[str, Any] = {
            "operationId": r.operation_id,
            "summary": r.summary,
            "tags": list(r.tags),
            "security": [{"bearerAuth": []}],
            "parameters": params,
            "responses": {
                str(r.status): {
                    "description": "done",
                    "content": {"application/json": {"schema": ref(r.result, "serialization")}},
                },
                **(
                    {
                        "202": {
                            "description": "accepted; the case is still carrying it out",
                            "content": {"application/json": {"schema": ref(r.result, "serialization")}},
                        }
                    }
                    if r.result is ActionResult
                    else {}
                ),
                **{code: {"description": text, "content": error} for code, text in _ERRORS.items()},
            },
            "x-roles": sorted(role.value for role in r.roles),
        }
        if r.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(r.body, "validation")}},
            }
        if r.upload is not None:
            files: dict[str, Any] = {
                "type": "array",
                "items": {"type": "string", "format": "binary"},
                "maxItems": r.upload.max_files,
            }
            if r.upload.min_files:
                files["minItems"] = r.upload.min_files
            op["requestBody"] = {
                "required": r.upload.min_files > 0,
                "content": {
                    "multipart/form-data": {
                        "schema": {"type": "object", "properties": {"file": files}},
                    }
                },
            }
        paths.setdefault(r.path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
    }

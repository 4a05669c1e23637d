"""What an API route is, and the OpenAPI 3.1 document built from the route table and the models.

Each route (the table is `web.api.routes`) names its input models (path, query, JSON body
or a streamed upload), its result model and the roles that may call it; `openapi()` turns
the table into `/openapi.json`, so the document cannot drift from what the handlers accept.
The document states every limit the server enforces on a request's form (lengths, patterns,
formats, list sizes, the programs this service runs and each one's exclusions), so a request
the document allows is never refused as invalid. Links lead from an opened case to every
call on it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from models.api import PROGRAMS_MARK, ActionResult, ErrorBody, OpenCase
from models.case import CASE_ID_SCHEMA
from models.program import Program
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
    params: type[BaseModel] | None = None  # the path's parameters after the case id
    upload: Upload | None = None
    status: int = 200
    tags: tuple[str, ...] = field(default=("cases",))
    # Answers for a case whose workflow history the server no longer keeps (namespace retention):
    # the case DB still has it, or its erasure's stub, and its program scopes it.
    after_history: bool = False

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


_ERRORS = {
    "401": "no valid API token",
    "403": "the token's role may not do this",
    "404": "no such case (or not in the token's programs)",
    "409": "the case refused the change (its message says why)",
    "413": "the body is larger than the API accepts",
    "415": "the body is not application/json",
    "422": "the input is not valid",
    "503": "the workflow service or the document store did not answer in time; check before trying again",
}


def _name_programs(node: Any, names: list[str]) -> None:
    """Turn each field marked as a program name into the list of this service's programs."""
    if isinstance(node, dict):
        if node.pop(PROGRAMS_MARK, False):
            node["enum"] = names
        for value in node.values():
            _name_programs(value, names)
    elif isinstance(node, list):
        for value in node:
            _name_programs(value, names)


def _exclusions_by_program(programs: Mapping[str, Program]) -> list[dict[str, Any]]:
    """For each program, the exclusions an opened case may assert (they differ by program)."""
    return [
        {
            "if": {"properties": {"program": {"const": name}}, "required": ["program"]},
            "then": {
                "properties": {
                    "facts": {"properties": {"exclusions": {"items": {"enum": rules.exclusion_aliases()}}}}
                }
            },
        }
        for name, rules in sorted(programs.items())
    ]


def _case_links(routes: list[Route]) -> dict[str, Any]:
    """From an opened case to every call on it (OpenAPI links: clients and fuzzers follow them)."""
    return {
        r.operation_id: {
            "operationId": r.operation_id,
            "parameters": {"case_id": "$response.body#/case_id"},
        }
        for r in routes
        if "{case_id}" in r.path
    }


def openapi(
    routes: list[Route], *, title: str, version: str, programs: Mapping[str, Program] | None = None
) -> dict[str, Any]:
    models: set[type[BaseModel]] = {ErrorBody}
    for r in routes:
        models.update(m for m in (r.result, r.body, r.query) if m is not None)
    keyed = [(m, "validation") for m in models] + [(m, "serialization") for m in models]
    refs, top = models_json_schema(keyed, ref_template=REF)  # type: ignore[arg-type]
    schemas: dict[str, Any] = top.get("$defs", {})

    def ref(model: type[BaseModel], mode: str) -> dict[str, Any]:
        return dict(refs[(model, mode)])  # type: ignore[index]

    names = sorted(programs or {})
    _name_programs(schemas, names)
    if programs:
        opened = ref(OpenCase, "validation")["$ref"].rsplit("/", 1)[-1]  # "OpenCase-Input" or so
        schemas[opened]["allOf"] = _exclusions_by_program(programs)
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
                    "schema": dict(CASE_ID_SCHEMA),
                }
            )
        if r.params is not None:
            props = r.params.model_json_schema(ref_template=REF)["properties"]
            params += [{"name": n, "in": "path", "required": True, "schema": props[n]} for n in props]
        if r.query is not None:
            props = r.query.model_json_schema(ref_template=REF)["properties"]
            _name_programs(props, names)
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
        if r.status == 201 and "{case_id}" not in r.path:  # it creates a case
            op["responses"][str(r.status)]["links"] = _case_links(routes)
        if r.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(r.body, "validation")}},
            }
        if r.upload is not None:
            files: dict[str, Any] = {
                "type": "array",
                "items": {"type": "string", "format": "binary", "minLength": 1},  # no empty file
                "maxItems": r.upload.max_files,
            }
            if r.upload.min_files:
                files["minItems"] = r.upload.min_files
            op["requestBody"] = {
                "required": r.upload.min_files > 0,
                "content": {
                    "multipart/form-data": {
                        # `file` parts only, in number as the route takes them.
                        "schema": {
                            "type": "object",
                            "properties": {"file": files},
                            "required": ["file"] if r.upload.min_files else [],
                            "additionalProperties": False,
                        },
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

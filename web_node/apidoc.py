"""A small OpenAPI 3.1 builder: a declarative table of operations, and pydantic models for bodies.

The component schemas are the models' JSON Schemas (pydantic writes JSON Schema 2020-12, which
OpenAPI 3.1 takes as it is), so every field's type and range is written once, in the model.
`web_node.openapi` holds the web node's own table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

OPENAPI_VERSION = "3.1.0"
_SCHEMAS = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Param:
    """A query or path parameter; `repeatable` ones are arrays sent as `?name=a&name=b`."""

    name: str
    description: str
    schema: Mapping[str, Any]
    location: Literal["query", "path"] = "query"
    repeatable: bool = False
    example: Any = None

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "name": self.name,
            "in": self.location,
            "required": self.location == "path",
            "description": self.description,
            "schema": {"type": "array", "items": dict(self.schema)} if self.repeatable else dict(self.schema),
        }
        if self.repeatable:
            spec.update(style="form", explode=True)
        if self.example is not None:
            spec["example"] = self.example
        return spec


@dataclass(frozen=True)
class Answer:
    """One response: a JSON body described by `model`, other `content` (media type -> schema), or none."""

    description: str
    model: type[BaseModel] | None = None
    content: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    """One documented route. Parameters and responses given as text name shared components."""

    method: str
    path: str
    operation_id: str
    summary: str
    responses: Mapping[int, Answer | str]
    description: str = ""
    parameters: tuple[Param | str, ...] = ()
    body: type[BaseModel] | None = None
    security: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApiTable:
    """Everything the document says: the operations and the components they share."""

    title: str
    version: str
    description: str
    operations: tuple[Operation, ...]
    parameters: Mapping[str, Param] = field(default_factory=dict)
    answers: Mapping[str, Answer] = field(default_factory=dict)
    security_schemes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def build_document(table: ApiTable) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `table`, its schemas generated from the models it names."""
    answers = [*table.answers.values()] + [
        a for op in table.operations for a in op.responses.values() if isinstance(a, Answer)
    ]
    models: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {}
    for op in table.operations:
        if op.body is not None:
            models[(op.body, "validation")] = None
    for answer in answers:
        if answer.model is not None:
            models[(answer.model, "serialization")] = None
    refs, definitions = models_json_schema(list(models), ref_template=_SCHEMAS)

    def body_ref(model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return {"content": {"application/json": {"schema": refs[(model, mode)]}}}

    def answer_spec(answer: Answer | str) -> dict[str, Any]:
        if isinstance(answer, str):
            return {"$ref": f"#/components/responses/{answer}"}
        spec: dict[str, Any] = {"description": answer.description}
        if answer.model is not None:
            spec.update(body_ref(answer.model, "serialization"))
        elif answer.content:
            spec["content"] = {media: {"schema": dict(schema)} for media, schema in answer.content.items()}
        return spec

    def param_spec(param: Param | str) -> dict[str, Any]:
        return {"$ref": f"#/components/parameters/{param}"} if isinstance(param, str) else param.spec()

    paths: dict[str, dict[str, Any]] = {}
    for op in table.operations:
        spec: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary}
        if op.description:
            spec["description"] = op.description
        if op.security:
            spec["security"] = [{name: []} for name in op.security]
        if op.parameters:
            spec["parameters"] = [param_spec(p) for p in op.parameters]
        if op.body is not None:
            spec["requestBody"] = {"required": True, **body_ref(op.body, "validation")}
        spec["responses"] = {str(status): answer_spec(a) for status, a in sorted(op.responses.items())}
        paths.setdefault(op.path, {})[op.method.lower()] = spec
    components: dict[str, Any] = {
        "securitySchemes": {name: dict(scheme) for name, scheme in table.security_schemes.items()},
        "parameters": {name: p.spec() for name, p in table.parameters.items()},
        "responses": {name: answer_spec(a) for name, a in table.answers.items()},
        "schemas": definitions.get("$defs", {}),
    }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": table.title, "version": table.version, "description": table.description},
        "paths": paths,
        "components": {name: part for name, part in components.items() if part},
    }


def operations(document: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    """(METHOD, path) of every operation a document describes."""
    for path, methods in document["paths"].items():
        for method in methods:
            yield method.upper(), path

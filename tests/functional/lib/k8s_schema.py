"""Strict schema validation of rendered Kubernetes objects, shared by every render test.

Core kinds are validated with kubernetes-validate against the strict OpenAPI schema of the
pinned Kubernetes version (unknown fields are errors). Custom resources are validated with
jsonschema against the CRD schemas in ../shared/schemas (ORCH_SCHEMAS), made strict the way the
API server's pruning makes them: an object schema that lists properties and neither allows
additional properties nor preserves unknown fields rejects any field it does not list. An object
of a kind no schema knows is an error, never a silent pass.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate.utils as kv_utils
import yaml

ROOT = Path(__file__).resolve().parents[3]
SCHEMAS = Path(os.environ.get("ORCH_SCHEMAS", ROOT.parent / "shared" / "schemas"))

# kubernetes-validate re-reads and re-parses its schema files for every object: cache them.
kv_utils.schema_contents = functools.lru_cache(maxsize=None)(kv_utils.schema_contents)


class SchemaError(AssertionError):
    """A rendered object does not validate."""


@functools.lru_cache(maxsize=1)
def pinned_kubernetes_version() -> str:
    """The Kubernetes version pinned once for the collection (roles/cluster/defaults/main.yml)."""
    defaults = yaml.safe_load((ROOT / "roles" / "cluster" / "defaults" / "main.yml").read_text())
    return str(defaults["cluster_kubernetes_version"])


def load_documents(text: str) -> list[dict[str, Any]]:
    """Every non-empty YAML document of a multi-document string, lists flattened."""
    objects: list[dict[str, Any]] = []
    for doc in yaml.safe_load_all(text):
        if doc is None:
            continue
        if doc.get("kind") == "List" or (isinstance(doc.get("items"), list) and doc.get("kind", "").endswith("List")):
            objects.extend(doc["items"])
        else:
            objects.append(doc)
    return objects


_GO_INLINE_FLAGS = re.compile(r"\(\?([ims]+)\)")


def _python_pattern(pattern: str) -> str:
    """CRD patterns are Go (RE2) regexes, which accept inline flags such as (?i) anywhere; Python
    accepts them only at the start (e.g. Calico's '^(?i)(Info|Debug)?$')."""
    flags = "".join(_GO_INLINE_FLAGS.findall(pattern))
    return f"(?{flags})" + _GO_INLINE_FLAGS.sub("", pattern) if flags else pattern


def _strict(schema: Any) -> Any:
    """A copy of an OpenAPI v3 CRD schema in which unlisted fields are errors."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {
        key: _python_pattern(value) if key == "pattern" and isinstance(value, str) else _strict(value)
        for key, value in schema.items()
    }
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@functools.cache
def crd_schema(group: str, version: str, kind: str) -> dict[str, Any] | None:
    """The strict schema of a custom resource kind, or None when ../shared/schemas has none."""
    path = SCHEMAS / "crds" / group / f"{kind.lower()}_{version}.json"
    if not path.is_file():
        return None
    schema = _strict(json.loads(path.read_text()))
    # The catalogue's schemas do not constrain the object root: metadata, apiVersion and kind.
    props = schema.setdefault("properties", {})
    props["apiVersion"] = {"type": "string", "enum": [f"{group}/{version}"]}
    props["kind"] = {"type": "string", "enum": [kind]}
    props["metadata"] = _METADATA
    schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata"})
    return schema


_NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253}
_METADATA = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": _NAME,
        "namespace": _NAME,
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "finalizers": {"type": "array", "items": {"type": "string"}},
    },
}


def describe(obj: dict[str, Any]) -> str:
    """kind/namespace/name of an object, for messages."""
    meta = obj.get("metadata") or {}
    where = f"{meta.get('namespace')}/" if meta.get("namespace") else ""
    return f"{obj.get('kind')} {where}{meta.get('name')}"


def validate_object(obj: dict[str, Any], version: str | None = None) -> None:
    """Raise SchemaError unless obj validates strictly against its schema."""
    version = version or pinned_kubernetes_version()
    api_version = obj.get("apiVersion", "")
    kind = obj.get("kind", "")
    if not api_version or not kind:
        raise SchemaError(f"object without apiVersion/kind: {obj!r:.200}")
    group, _, ver = api_version.rpartition("/")
    schema = crd_schema(group, ver, kind) if group and "." in group else None
    if schema is not None:
        validator = jsonschema.Draft7Validator(schema)
        errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
        if errors:
            lines = [f"  {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors[:10]]
            raise SchemaError(f"{describe(obj)} ({api_version}):\n" + "\n".join(lines))
        return
    if group and "." in group and not re.search(r"(^|\.)k8s\.io$", group):
        raise SchemaError(f"{describe(obj)}: no schema for {api_version} {kind} in {SCHEMAS}")
    try:
        kv_utils.validate(obj, version, strict=True)
    except kv_utils.SchemaNotFoundError as exc:
        raise SchemaError(f"{describe(obj)}: no schema for {api_version} {kind} in Kubernetes {version}") from exc
    except kv_utils.ValidationError as exc:
        path = "/".join(str(p) for p in exc.absolute_path)
        raise SchemaError(f"{describe(obj)} ({api_version}): {path or '<root>'}: {exc.message}") from exc


def validate_all(objects: list[dict[str, Any]], version: str | None = None) -> list[str]:
    """Validate every object; return one message per invalid object (empty when all are valid)."""
    problems = []
    for obj in objects:
        try:
            validate_object(copy.deepcopy(obj), version)
        except SchemaError as exc:
            problems.append(str(exc))
    return problems

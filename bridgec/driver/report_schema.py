"""The JSON form of the op report: ``SCHEMA`` (a JSON-Schema subset, documented in
docs/report-schema.md) and ``validate``, which checks a report against it with no dependency."""

from __future__ import annotations

from bridgec.core.ops.status import STATUSES

SCHEMA_ID = "bridgec-report/1"

_NUMBER = {"type": "number"}
_COMPARISON = {
    "type": "object",
    "required": {
        "output": {"type": "string"},
        "runtime": {"type": "string"},
        "max_abs": _NUMBER,
        "max_rel": _NUMBER,
        "passed": {"type": "boolean"},
        "note": {"type": "string"},
    },
}
_OUTPUT_CHECK = {
    "type": "object",
    "required": {
        "name": {"type": "string"},
        "max_abs": _NUMBER,
        "max_rel": _NUMBER,
        "passed": {"type": "boolean"},
        "nonfinite": {"type": "integer"},
        "size": {"type": "integer"},
        "note": {"type": "string"},
    },
}
SCHEMA: dict = {
    "type": "object",
    "required": {
        "schema": {"const": SCHEMA_ID},
        "target": {"type": "string"},
        "pipeline": {"type": "string"},
        "possible": {"type": "boolean"},
        "summary": {"type": "string"},
        "counts": {"type": "object", "required": {s: {"type": "integer"} for s in STATUSES}},
        "rows": {
            "type": "array",
            "items": {
                "type": "object",
                "required": {
                    "op": {"type": "string"},
                    "count": {"type": "integer"},
                    "status": {"enum": list(STATUSES)},
                    "how": {"type": "string"},
                    "kernel": {"enum": [None, "CPU+GPU", "CPU", "GPU", "none"]},
                    "nodes": {"type": "array", "items": {"type": "string"}},
                    "because": {"type": "object"},
                },
            },
        },
        "inputs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": {
                    "name": {"type": "string"},
                    "model_dtype": {"type": "string"},
                    "coreml_dtype": {"type": "string"},
                    "note": {"type": "string"},
                    "backend": {"type": "string", "enum": ["Core ML", "Core AI"]},
                    "line": {"type": "string"},
                },
            },
        },
        "interface": {
            "type": "array",
            "items": {
                "type": "object",
                "required": {
                    "role": {"enum": ["input", "output", "state"]},
                    "name": {"type": "string"},
                    "kind": {"type": "string"},
                    "dtype": {"type": "string"},
                    "shape": {"type": "array", "items": {"type": "integer"}},
                    "color_space": {"type": "string"},
                    "width": {"type": "integer"},
                    "height": {"type": "integer"},
                    "flexibility": {"type": "string"},
                    "classifier": {"type": "string"},
                    "line": {"type": "string"},
                },
            },
        },
        "check": {
            "nullable": True,
            "type": "object",
            "required": {
                "status": {"enum": ["checked", "failed", "not checked"]},
                "line": {"type": "string"},
                "reference": {"type": "string"},
                "precision": {"type": "string"},
                "tolerance": _NUMBER,
                "reason": {"type": "string"},
                "shapes": {"type": "array", "items": {"type": "string"}},
                "user_inputs": {"type": "boolean"},
                "notes": {"type": "array", "items": {"type": "string"}},
                "outputs": {"type": "array", "items": _OUTPUT_CHECK},
                "compression": {  # --compress: the written model is the checked one, compressed
                    "nullable": True,
                    "type": "object",
                    "required": {
                        "mode": {"type": "string"},
                        "granularity": {"type": "string"},
                        "size_before": {"type": "integer"},
                        "size_after": {"type": "integer"},
                        "ratio": _NUMBER,
                        "outputs": {"type": "array", "items": _OUTPUT_CHECK},  # empty: not measured
                        "reason": {"type": "string"},
                        "tolerance": {"nullable": True, **_NUMBER},  # an explicit --tolerance held it to
                    },
                },
            },
        },
        "verification": {
            "nullable": True,
            "type": "object",
            "required": {
                "passed": {"type": "boolean"},
                "reference": {"type": "string"},
                "comparisons": {"type": "array", "items": _COMPARISON},
            },
        },
        "provenance": {  # where the report comes from: bridgec.driver.provenance.Provenance
            "nullable": True,
            "type": "object",
            "required": {
                "bridgec_version": {"type": "string"},
                "command": {"type": "string"},  # as typed (shell-quoted), or the Python call
                "input": {"type": "string"},
                "input_sha256": {"type": "string"},  # "" for a model given in memory
                "target": {"type": "string"},
                "format": {"type": "string"},
                "precision": {"type": "string"},
                "pipeline": {"type": "string"},
            },
        },
    },
}

_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "integer": int,
    "number": (int, float),
}


def validate(value: object, schema: dict | None = None, where: str = "$") -> list[str]:
    """Every way ``value`` breaks ``schema`` (default: the report schema), as "path: problem"."""
    schema = SCHEMA if schema is None else schema
    if value is None and schema.get("nullable"):
        return []
    if "const" in schema:
        return [] if value == schema["const"] else [f"{where}: expected {schema['const']!r}, got {value!r}"]
    if "enum" in schema:
        return [] if value in schema["enum"] else [f"{where}: {value!r} is not one of {schema['enum']}"]
    kind = schema["type"]
    if not isinstance(value, _TYPES[kind]) or (kind in ("integer", "number") and isinstance(value, bool)):
        return [f"{where}: expected {kind}, got {type(value).__name__}"]
    problems: list[str] = []
    if kind == "object":
        required = schema.get("required", {})
        for key, sub in required.items():
            if key not in value:
                problems.append(f"{where}: missing {key!r}")
            else:
                problems += validate(value[key], sub, f"{where}.{key}")
        problems += [f"{where}: unexpected {key!r}" for key in value if required and key not in required]
    elif kind == "array":
        for i, item in enumerate(value):
            problems += validate(item, schema["items"], f"{where}[{i}]")
    return problems

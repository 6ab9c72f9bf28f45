"""The oracle for the launcher's requests: botocore's own service models (helpers shared by the EMR tests)."""

from __future__ import annotations

import json
from pathlib import Path

REGION = "us-east-1"
REPO = Path(__file__).resolve().parents[2]


def _shape_errors(value, shape, path: str) -> list[str]:
    """What botocore's ParamValidator leaves out: enum membership, checked against the model's own enums."""
    errors: list[str] = []
    if shape is None:
        return errors
    if shape.type_name == "structure" and isinstance(value, dict):
        for k, v in value.items():
            if k in shape.members:
                errors += _shape_errors(v, shape.members[k], f"{path}.{k}")
    elif shape.type_name == "list" and isinstance(value, list):
        for i, v in enumerate(value):
            errors += _shape_errors(v, shape.member, f"{path}[{i}]")
    elif shape.type_name == "map" and isinstance(value, dict):
        for k, v in value.items():
            errors += _shape_errors(v, shape.value, f"{path}[{k!r}]")
    elif shape.type_name == "string" and getattr(shape, "enum", None) and value not in shape.enum:
        errors.append(f"{path}: {value!r} is not one of {shape.enum}")
    return errors


def model_errors(service: str, operation: str, params: dict) -> list[str]:
    """Every way ``params`` disagrees with botocore's model of ``service.operation``: missing or unknown
    members, wrong types, out-of-range values (botocore's validator), and enum values (ours, same model)."""
    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model(service)
    op = model.operation_model(operation)  # raises if the operation does not exist
    report = ParamValidator().validate(params, op.input_shape)
    errors = [report.generate_report()] if report.has_errors() else []
    return errors + _shape_errors(params, op.input_shape, operation)


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]

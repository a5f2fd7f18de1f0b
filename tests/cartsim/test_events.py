"""`EVENT_FIELDS` describes `CartEvent` as pydantic's own JSON Schema of it does."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from pydantic import Field, create_model

from cartsim.events import EVENT_FIELDS, PUBLIC_FIELDS, CartEvent, fields_of

JSON_TYPES = {str: "string", int: "integer", bool: "boolean"}


def test_each_field_agrees_with_the_json_schema_of_the_model() -> None:
    schema = CartEvent.model_json_schema()
    assert [field.name for field in EVENT_FIELDS] == list(schema["properties"])
    assert list(PUBLIC_FIELDS) == schema["required"]
    for field in EVENT_FIELDS:
        spec: dict[str, Any] = schema["properties"][field.name]
        options = spec.get("anyOf", [spec])
        value = next(option for option in options if option.get("type") != "null")
        value = schema["$defs"][value["$ref"].rsplit("/", 1)[1]] if "$ref" in value else value
        assert field.nullable == (len(options) == 2), field.name
        assert field.choices == tuple(value.get("enum", ())), field.name
        assert field.minimum == value.get("minimum"), field.name
        if value.get("format") == "date-time":
            assert field.type.__name__ == "datetime"
        else:
            assert JSON_TYPES[field.type] == value["type"], field.name
        assert field.description == spec.get("description", "") != "", field.name


@pytest.mark.parametrize(
    "annotation",
    [Annotated[str, Field(max_length=3)], float, int | str, Annotated[int, Field(gt=0)]],
)
def test_a_field_the_stores_cannot_type_or_check_is_refused(annotation: Any) -> None:
    model = create_model("Odd", value=(annotation, ...))
    with pytest.raises(TypeError, match=r"^Odd\.value: "):
        fields_of(model)

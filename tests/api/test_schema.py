"""The OpenAPI schema is complete and valid; every list answers in a bounded number of queries."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command

from tests.api.conftest import API, operations, token_client

pytestmark = pytest.mark.django_db


def test_the_schema_validates_without_warnings(tmp_path: Path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yml"))


def test_every_operation_has_a_description_and_documented_errors(schema):
    for path, ops in schema["paths"].items():
        if not path.startswith(API):
            continue
        for method, operation in ops.items():
            if method == "parameters":
                continue
            assert operation.get("description") or operation.get("summary"), (method, path)
            assert {"401", "404", "429"} <= set(operation["responses"]), (method, path)


def test_the_main_endpoints_have_examples(schema):
    for path in (f"{API}batteries/{{id}}/readings/", f"{API}latest/", f"{API}tokens/"):
        text = str(schema["paths"][path])
        assert "examples" in text, path


def test_every_list_answers_in_a_bounded_number_of_queries(
    schema, fleet, foreign, django_assert_max_num_queries
):
    api = token_client(fleet.admin)
    for path, _ in operations(schema, "get"):
        if "{" in path or path.endswith("/latest/") or "/reports/" in path:  # not lists
            continue
        with django_assert_max_num_queries(8):
            response = api.get(path)
        assert response.status_code == 200, path

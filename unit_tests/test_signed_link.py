"""A customer export's signed download link reaches the CDK's secret filter as soon as its answer is
decoded: whoever holds the link can read every person in the workspace for 15 minutes, and the CDK logs
response bodies in debug mode."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import requests
from airbyte_cdk.utils import airbyte_secrets_utils
from airbyte_cdk.utils.airbyte_secrets_utils import filter_secrets

from source_customerio.http.error_table import payload_of
from unit_tests.builders import US

LINK = (
    "https://exports.example-bucket.com/cio/ws-1/export-7.json.gz?X-Amz-Signature=5ec12e7&X-Amz-Expires=900"
)
QUERY = "X-Amz-Signature=5ec12e7&X-Amz-Expires=900"
PATH = "/cio/ws-1/export-7.json.gz"


@pytest.fixture(autouse=True)
def no_secrets_yet(monkeypatch) -> None:
    """The CDK's list of secrets, empty for each test and restored after it."""
    monkeypatch.setattr(airbyte_secrets_utils, "__SECRETS_FROM_CONFIG", [])


def answer(url: str | None, body: Any, request_url: str | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response._content = orjson.dumps(body)
    response.url = url  # type: ignore[assignment]
    if request_url is not None:
        response.request = requests.Request("GET", request_url).prepare()
    return response


def hidden(text: str) -> bool:
    return filter_secrets(text) != text


@pytest.mark.parametrize(
    ("url", "request_url"),
    [
        (f"{US}/exports/7/download", f"{US}/exports/7/download"),
        (f"{US}/exports/7/download/", f"{US}/exports/7/download/"),
        (f"{US}/exports/7/download", None),  # a response without its request
    ],
    ids=["download", "trailing slash", "no request"],
)
def test_the_signed_link_its_signature_and_its_path_are_filtered_from_then_on(url, request_url):
    response = answer(url, {"url": LINK}, request_url=request_url)
    assert payload_of(response) == {"url": LINK}
    assert filter_secrets(f"GET {LINK} answered 200") == "GET **** answered 200"
    assert filter_secrets(f"signature: {QUERY}") == "signature: ****"
    assert filter_secrets(f"file {PATH}") == "file ****"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/exports/7", {"url": LINK}),  # the export's own record, not its download
        ("/exports/7/download/more", {"url": LINK}),
        ("/campaigns", {"url": LINK}),
        ("/exports/7/download", [LINK]),
        ("/exports/7/download", {"link": LINK}),
        ("/exports/7/download", {"url": None}),
        ("/exports/7/download", {"url": 7}),
        ("/exports/7/download", {"url": ""}),
    ],
)
def test_nothing_else_is_taken_for_a_secret(path, body):
    response = answer(f"{US}{path}", body, request_url=f"{US}{path}")
    assert payload_of(response) == body
    assert not hidden(f"GET {LINK} {QUERY} {PATH} /v1/campaigns")


def test_a_link_to_the_root_of_its_host_hides_the_link_and_signature_but_not_every_slash():
    link = "https://exports.example-bucket.com/?sig=5ec12e7"
    response = answer(f"{US}/exports/7/download", {"url": link}, request_url=f"{US}/exports/7/download")
    assert payload_of(response) == {"url": link}
    assert filter_secrets(f"{link} sig=5ec12e7") == "**** ****"
    assert filter_secrets("GET /v1/campaigns") == "GET /v1/campaigns"


def test_a_short_path_is_a_secret_too():
    link = "https://exports.example-bucket.com/x?sig=5ec12e7"
    response = answer(f"{US}/exports/7/download", {"url": link}, request_url=f"{US}/exports/7/download")
    assert payload_of(response) == {"url": link}
    assert filter_secrets("file /x") == "file ****"

"""JSON errors: one stable code per HTTP status (extranet.errors.STATUS_CODES) beside the API's own
codes (extranet.api.API_ERROR_CODES), all of them in the OpenAPI document."""

from __future__ import annotations

import re
from pathlib import Path

from flask import abort

from extranet.api import API_ERROR_CODES
from extranet.errors import CSRF_CODE, STATUS_CODES, code_for

ROOT = Path(__file__).resolve().parents[2]


def test_every_status_has_its_own_code():
    assert len(set(STATUS_CODES.values())) == len(STATUS_CODES)
    assert (code_for(403), code_for(405), code_for(500)) == ("forbidden", "method_not_allowed", "internal_error")
    assert code_for(418) == "http_418"
    by_code = {code: status for status, code in STATUS_CODES.items()}
    for code, (status, _text) in API_ERROR_CODES.items():  # a shared name means the same status
        assert by_code.get(code, status) == status, code
    assert CSRF_CODE not in by_code and CSRF_CODE not in API_ERROR_CODES


def test_http_errors_under_the_api_answer_their_codes(app, client):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/api/v1/test-forbidden")
    def forbidden():
        abort(403)

    @app.get("/api/v1/test-conflict")
    def conflict():
        abort(409)

    @app.get("/api/v1/test-crash")
    def crash():
        raise RuntimeError("boom")

    cases = [("GET", "/api/v1/nowhere", 404), ("DELETE", "/api/v1/orders", 405), ("GET", "/api/v1/oauth/token", 405),
             ("GET", "/api/v1/test-forbidden", 403), ("GET", "/api/v1/test-conflict", 409),
             ("GET", "/api/v1/test-crash", 500)]
    for method, path, status in cases:
        response = client.open(path, method=method)
        assert response.status_code == status, path
        assert response.json["error"]["code"] == STATUS_CODES[status], path
        assert response.json["error"]["message"]
    assert "boom" not in client.get("/api/v1/test-crash").get_data(as_text=True)


def test_web_pages_keep_their_html_error_pages(client):
    response = client.get("/nowhere-at-all")
    assert response.status_code == 404 and response.mimetype == "text/html"


def test_the_openapi_document_lists_every_code(client):
    schema = client.get("/api/v1/openapi.json").json["components"]["schemas"]["Error"]
    code = schema["properties"]["error"]["properties"]["code"]
    documented = set(code["enum"])
    assert set(STATUS_CODES.values()) <= documented and set(API_ERROR_CODES) <= documented and CSRF_CODE in documented
    for name, (status, _text) in API_ERROR_CODES.items():
        assert f"{name} ({status})" in code["description"]
    # every code the API code raises is declared, with the status it is raised with
    source = (ROOT / "hub" / "api.py").read_text() + (ROOT / "extranet" / "api.py").read_text()
    raised = set(re.findall(r'(?:ApiError|_error)\((\d{3}), "([a-z_]+)"', source))
    assert raised and {(str(API_ERROR_CODES[c][0]), c) for _s, c in raised} == raised

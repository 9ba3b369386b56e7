"""/api/v1/openapi.json: a valid OpenAPI 3.1 document that covers every route and matches real answers."""

from __future__ import annotations

import pytest

from tests.extranet.test_api import acme, clients  # noqa: F401  (fixtures)


@pytest.fixture
def spec(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.json


def test_the_document_is_valid_openapi_3_1(spec):
    assert spec["openapi"].startswith("3.1")
    try:
        from openapi_spec_validator import validate
    except ImportError:  # structural checks below still run
        pytest.skip("openapi-spec-validator is not installed")
    validate(spec)


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_every_api_route_is_documented_with_security_and_errors(app, spec):
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            path = rule.rule
            for converter in ("int:", "path:"):
                path = path.replace(f"<{converter}", "<")
            path = path.replace("<", "{").replace(">", "}")
            routes |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == documented
    schemes = spec["components"]["securitySchemes"]
    assert schemes["oauth2"]["flows"]["clientCredentials"]["tokenUrl"] == "/api/v1/oauth/token"
    scopes = set(schemes["oauth2"]["flows"]["clientCredentials"]["scopes"])
    assert scopes == {"orders:read", "orders:write", "despatches:read", "invoices:read", "catalog:read"}
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            security = op.get("security", spec["security"])
            if path.endswith(("/openapi.json", "/oauth/token")):
                continue
            [(name, needed)] = security[0].items()
            assert name == "oauth2" and len(needed) == 1 and needed[0] in scopes
            assert {"401", "403"} <= set(op["responses"]), (path, method)
            for code, answer in op["responses"].items():
                if code.startswith(("4", "5")):
                    assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    for ref in set(_refs(spec)):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in spec["components"]["schemas"]
    error = spec["components"]["schemas"]["Error"]["properties"]["error"]
    assert set(error["required"]) == {"code", "message"}


def _validator(spec, name):
    jsonschema = pytest.importorskip("jsonschema")
    schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def test_real_answers_match_the_schemas(client, spec, acme, world):  # noqa: F811
    cases = [
        ("/api/v1/orders", "OrderPage"),
        (f"/api/v1/orders/{world.acme_order}", "OrderDetail"),
        ("/api/v1/despatches", "DespatchPage"),
        ("/api/v1/invoices", "InvoicePage"),
        ("/api/v1/catalog", "CatalogPage"),
        ("/api/v1/catalog/WID-100", "CatalogItem"),
        ("/api/v1/prices", "PricePage"),
        ("/api/v1/orders/999999", "Error"),
        ("/api/v1/orders?per_page=0", "Error"),
    ]
    for url, name in cases:
        body = client.get(url, headers=acme).json
        errors = list(_validator(spec, name).iter_errors(body))
        assert not errors, (url, [e.message for e in errors])
    ids = [i["id"] for i in client.get("/api/v1/despatches", headers=acme).json["items"]]
    assert not list(_validator(spec, "Despatch").iter_errors(client.get(f"/api/v1/despatches/{ids[0]}",
                                                                        headers=acme).json))
    ids = [i["id"] for i in client.get("/api/v1/invoices", headers=acme).json["items"]]
    assert not list(_validator(spec, "Invoice").iter_errors(client.get(f"/api/v1/invoices/{ids[0]}",
                                                                       headers=acme).json))
    order = {"number": "SPEC-1", "lines": [{"supplier_sku": "WID-100", "quantity": "2"}]}
    assert not list(_validator(spec, "OrderRequest").iter_errors(order))
    created = client.post("/api/v1/orders", headers=acme, json=order)
    assert created.status_code == 201
    assert not list(_validator(spec, "OrderDetail").iter_errors(created.json))


def test_token_answer_matches_its_schema(client, spec, clients):  # noqa: F811
    client_id, secret = clients["acme"]
    body = client.post("/api/v1/oauth/token", data={"grant_type": "client_credentials", "client_id": client_id,
                                                    "client_secret": secret}).json
    assert not list(_validator(spec, "Token").iter_errors(body))

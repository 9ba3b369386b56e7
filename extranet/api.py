"""``/api/v1``: the partner REST API, OAuth2 client credentials (authlib), and its OpenAPI document.

A partner's system gets a token at ``/api/v1/oauth/token`` (client id and
secret from ``kontor api client create``) and calls the resources with
``Authorization: Bearer <token>``. Each resource needs one scope
(:data:`hub.api_models.SCOPES`); the token's client belongs to one partner,
and every read goes through that partner's :class:`hub.portal.PartnerScope`,
so another partner's id answers 404 exactly like a missing one.

Errors are ``{"error": {"code": ..., "message": ...}}`` (plus ``field`` when
one request field is at fault); the token endpoint answers OAuth2 errors
as RFC 6749 section 5.2 says. The routes are declared once in :data:`ROUTES`,
which both registers them and writes ``/api/v1/openapi.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector, current_token
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from extranet.errors import CSRF_CODE, STATUS_CODES
from extranet.extensions import db
from hub import api as service
from hub.api_models import SCOPES
from hub.models import MAX_ID
from hub.portal import ORDER_STATUSES, NotFound, PartnerScope

__all__ = ["bp", "init_api", "ROUTES", "API_ERROR_CODES", "openapi_document"]

bp = Blueprint("api", __name__, url_prefix="/api/v1")



def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


# --- OAuth2: the authorization server (per app) and the resource protector -------------------


class _ClientCredentials(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


class _TokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> Any:
        return service.authenticate_token(db.session, token_string)


# The API's own error codes (beside extranet.errors.STATUS_CODES, one per HTTP status), each with
# the status it comes with; /api/v1/openapi.json lists them all.
API_ERROR_CODES = {
    "invalid_request": (400, "A request field is wrong; field names it."),
    "invalid_json": (400, "The body is not JSON."),
    "unauthorized": (401, "No bearer token was sent."),
    "unsupported_token_type": (401, "The Authorization header is not a bearer token."),
    "invalid_token": (401, "The token is unknown, expired or revoked."),
    "insufficient_scope": (403, "The token lacks the scope of this resource."),
    "not_found": (404, "No such record for this partner."),
    "unsupported_media_type": (415, "The body is not application/json."),
    "invalid_value": (422, "A field's value cannot be written in the partner's EDI messages (length, format or "
                      "character set); field names it."),
    "order_rejected": (422, "The order cannot be accepted; details lists every problem."),
    "credit_limit_exceeded": (422, "The order would take the partner over its credit limit; nothing was stored."),
}

_MESSAGES = {
    "missing_authorization": "a bearer token is required (Authorization: Bearer <token from /api/v1/oauth/token>)",
    "unsupported_token_type": "only bearer tokens are accepted",
    "invalid_token": "the token is unknown, expired or revoked; get a new one from /api/v1/oauth/token",
    "insufficient_scope": "the token lacks the scope this resource needs",
}


class _Protector(ResourceProtector):
    def raise_error_response(self, error: Any) -> None:
        code = error.error if error.error != "missing_authorization" else "unauthorized"
        message = _MESSAGES.get(error.error, error.description or error.error)
        status = 403 if error.error == "insufficient_scope" else 401
        headers = {"WWW-Authenticate": f'Bearer realm="kontor-api", error="{error.error}"'}
        if error.error == "missing_authorization":
            headers["WWW-Authenticate"] = 'Bearer realm="kontor-api"'
        abort(_error(status, code, message, headers))


require_oauth = _Protector()
require_oauth.register_token_validator(_TokenValidator(realm="kontor-api"))


def init_api(app: Flask) -> None:
    """Bind an authorization server to ``app`` (one per application) and register the blueprint."""
    app.config.setdefault("OAUTH2_TOKEN_EXPIRES_IN", {"client_credentials": int(service.TOKEN_LIFETIME.total_seconds())})
    app.config.setdefault("OAUTH2_SCOPES_SUPPORTED", list(SCOPES))
    server = AuthorizationServer()
    server.init_app(
        app,
        query_client=lambda client_id: service.query_client(db.session, client_id),
        save_token=lambda token, req: service.save_token(db.session, token, req.client),
    )
    server.register_grant(_ClientCredentials)
    app.extensions["kontor_oauth2"] = server
    app.register_blueprint(bp)


def _scope() -> PartnerScope:
    """The token's partner: the one way an API view reaches partner data."""
    return PartnerScope(db.session, current_token.client.partner_id)


@bp.errorhandler(service.ApiError)
def _api_error(exc: service.ApiError) -> ResponseReturnValue:
    return jsonify(exc.body()), exc.status


@bp.errorhandler(NotFound)
def _not_found(exc: NotFound) -> ResponseReturnValue:
    return _error(404, "not_found", "no such record for this partner")


def _id(value: int) -> int:
    if value > MAX_ID:
        raise NotFound(str(value))
    return value


def _json_body() -> Any:
    if not request.is_json:
        raise service.ApiError(415, "unsupported_media_type", "$: send the order as application/json", field="$")
    try:
        return json.loads(request.get_data(as_text=True) or "null", parse_float=Decimal)
    except ValueError as exc:
        raise service.ApiError(400, "invalid_json", f"$: the body is not JSON ({exc})", field="$") from None


# --- the route table ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    name: str
    where: str  # query, path
    schema: dict[str, Any]
    description: str
    required: bool = False


@dataclass(frozen=True)
class Route:
    rule: str  # Flask rule below /api/v1
    method: str
    endpoint: str
    scope: str | None  # None: no token needed
    summary: str
    response: str  # a schema name in components.schemas
    status: int = 200
    params: tuple[Param, ...] = ()
    body: str | None = None  # request schema name
    errors: tuple[int, ...] = ()
    view: Callable[..., ResponseReturnValue] | None = field(default=None, compare=False)


PAGE = (
    Param("page", "query", {"type": "integer", "minimum": 1, "default": 1}, "Page number, from 1."),
    Param("per_page", "query", {"type": "integer", "minimum": 1, "maximum": service.MAX_PER_PAGE, "default": 25},
          "Items per page."),
)
ORDER_ID = Param("order_id", "query", {"type": "integer", "minimum": 1}, "Only those of this order.")


def _path_id(name: str, what: str) -> Param:
    return Param(name, "path", {"type": "integer", "minimum": 1}, f"The {what}'s id.", required=True)


def orders_list() -> ResponseReturnValue:
    return jsonify(service.list_orders(_scope(), request.args))


def orders_create() -> ResponseReturnValue:
    body = _json_body()
    settings = current_app.config["KONTOR_SETTINGS"]
    created = service.create_order(_scope(), settings, current_token.client, body)
    response = jsonify(created)
    if created["status"] == "cancelled":  # a cancellation (function 1) changes an order, creates none
        response.status_code = 200
        response.headers["Content-Location"] = url_for("api.orders_get", order_id=created["id"])
        return response
    response.status_code = 201
    response.headers["Location"] = url_for("api.orders_get", order_id=created["id"])
    return response


def orders_get(order_id: int) -> ResponseReturnValue:
    return jsonify(service.get_order(_scope(), _id(order_id)))


def despatches_list() -> ResponseReturnValue:
    return jsonify(service.list_despatches(_scope(), request.args))


def despatches_get(despatch_id: int) -> ResponseReturnValue:
    return jsonify(service.get_despatch(_scope(), _id(despatch_id)))


def invoices_list() -> ResponseReturnValue:
    return jsonify(service.list_invoices(_scope(), request.args))


def invoices_get(invoice_id: int) -> ResponseReturnValue:
    return jsonify(service.get_invoice(_scope(), _id(invoice_id)))


def catalog_list() -> ResponseReturnValue:
    return jsonify(service.list_catalog(_scope(), request.args))


def catalog_get(sku: str) -> ResponseReturnValue:
    return jsonify(service.get_product(_scope(), sku))


def prices_list() -> ResponseReturnValue:
    return jsonify(service.list_prices(_scope(), request.args))


def token() -> ResponseReturnValue:
    return current_app.extensions["kontor_oauth2"].create_token_response()


def openapi() -> ResponseReturnValue:
    return jsonify(openapi_document())


ROUTES: tuple[Route, ...] = (
    Route("/oauth/token", "POST", "token", None, "Get a bearer token (OAuth2 client credentials)", "Token",
          body="TokenRequest", errors=(400, 401), view=token),
    Route("/orders", "GET", "orders_list", "orders:read", "List the partner's orders, newest first", "OrderPage",
          params=PAGE + (
              Param("status", "query", {"type": "string", "enum": list(ORDER_STATUSES)}, "Only orders in this status."),
              Param("number", "query", {"type": "string", "maxLength": 35}, "Part of the order number."),
              Param("created_from", "query", {"type": "string", "format": "date"}, "Created on or after this day."),
              Param("created_to", "query", {"type": "string", "format": "date"}, "Created on or before this day."),
          ), errors=(400,), view=orders_list),
    Route("/orders", "POST", "orders_create", "orders:write",
          "Place an order (a canonical Order document; answered like an EDI order)", "OrderDetail", status=201,
          body="OrderRequest", errors=(400, 415, 422), view=orders_create),
    Route("/orders/<int:order_id>", "GET", "orders_get", "orders:read",
          "One order with its lines and its chain (responses, despatches, invoices, messages)", "OrderDetail",
          params=(_path_id("order_id", "order"),), errors=(404,), view=orders_get),
    Route("/despatches", "GET", "despatches_list", "despatches:read", "List the partner's despatch advices",
          "DespatchPage", params=PAGE + (ORDER_ID,), errors=(400,), view=despatches_list),
    Route("/despatches/<int:despatch_id>", "GET", "despatches_get", "despatches:read",
          "One despatch advice with its canonical document", "Despatch",
          params=(_path_id("despatch_id", "despatch advice"),), errors=(404,), view=despatches_get),
    Route("/invoices", "GET", "invoices_list", "invoices:read", "List the partner's invoices, newest first",
          "InvoicePage", params=PAGE + (
              ORDER_ID,
              Param("issued_from", "query", {"type": "string", "format": "date"}, "Issued on or after this day."),
              Param("issued_to", "query", {"type": "string", "format": "date"}, "Issued on or before this day."),
          ), errors=(400,), view=invoices_list),
    Route("/invoices/<int:invoice_id>", "GET", "invoices_get", "invoices:read",
          "One invoice with its canonical document", "Invoice",
          params=(_path_id("invoice_id", "invoice"),), errors=(404,), view=invoices_get),
    Route("/catalog", "GET", "catalog_list", "catalog:read",
          "Active products with the partner's unit price and quantity breaks", "CatalogPage",
          params=PAGE + (
              Param("q", "query", {"type": "string", "maxLength": 100}, "Search name, SKU or GTIN."),
              Param("category", "query", {"type": "string", "maxLength": 80}, "Only this category."),
              Param("in_stock", "query", {"type": "boolean", "default": False},
                    "Only products with stock (true/false; products without stock tracking are left out)."),
              Param("contract", "query", {"type": "boolean", "default": False},
                    "Only products with a contract price of the partner valid today (true/false)."),
          ), errors=(400,), view=catalog_list),
    Route("/catalog/<path:sku>", "GET", "catalog_get", "catalog:read", "One product by SKU with the partner's prices",
          "CatalogItem", params=(Param("sku", "path", {"type": "string"}, "Our article number.", required=True),),
          errors=(404,), view=catalog_get),
    Route("/prices", "GET", "prices_list", "catalog:read",
          "The partner's contract prices valid on a day, one row per product and quantity break", "PricePage",
          params=PAGE + (
              Param("on", "query", {"type": "string", "format": "date"}, "The day (default: today)."),
              Param("sku", "query", {"type": "string", "maxLength": 40}, "Only this product."),
          ), errors=(400,), view=prices_list),
    Route("/openapi.json", "GET", "openapi", None, "This document", "OpenApi", view=openapi),
)

for _route in ROUTES:
    _view = _route.view
    assert _view is not None
    if _route.scope is not None:
        _view = require_oauth(_route.scope)(_view)
    bp.add_url_rule(_route.rule, _route.endpoint, _view, methods=[_route.method])


# --- OpenAPI 3.1 ----------------------------------------------------------------------------------


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_TEXT = {"type": "string"}
_TEXT_OR_NULL = {"type": ["string", "null"]}
_DATE = {"type": ["string", "null"], "format": "date"}
_TIME = {"type": "string", "format": "date-time"}
_AMOUNT = {"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "description": "An exact decimal, as text."}
_AMOUNT_OR_NULL = {"type": ["string", "null"], "pattern": r"^-?\d+(\.\d+)?$"}
_INT_OR_NULL = {"type": ["integer", "null"]}
_DOCUMENT = {"type": "object", "description": "The canonical document (edi.documents JSON form)."}


def _object(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    schema["required"] = required if required is not None else list(properties)
    schema.update(extra)
    return schema


def _page(item: str) -> dict[str, Any]:
    return _object({
        "items": {"type": "array", "items": _ref(item)},
        "page": {"type": "integer", "minimum": 1},
        "per_page": {"type": "integer", "minimum": 1},
        "total": {"type": "integer", "minimum": 0},
        "pages": {"type": "integer", "minimum": 1},
    })


def _schemas() -> dict[str, Any]:
    message = _object({"id": {"type": "integer"}, "direction": {"type": "string", "enum": ["in", "out"]},
                       "document_type": _TEXT_OR_NULL, "state": _TEXT, "interchange_ref": _TEXT_OR_NULL,
                       "created_at": _TIME})
    ack = _object({"id": {"type": "integer"}, "document_type": _TEXT_OR_NULL, "state": _TEXT, "created_at": _TIME})
    order = {
        "id": {"type": "integer"}, "number": _TEXT, "status": {"type": "string", "enum": list(ORDER_STATUSES)},
        "source": {"type": "string", "enum": ["edi", "portal", "api"]}, "order_date": _DATE,
        "requested_delivery": _DATE, "currency": _TEXT, "total": _AMOUNT, "created_at": _TIME,
    }
    line = _object({
        "line_no": _TEXT, "sku": _TEXT_OR_NULL, "gtin": _TEXT_OR_NULL, "description": _TEXT_OR_NULL,
        "quantity": _AMOUNT, "confirmed_quantity": _AMOUNT_OR_NULL, "unit": _TEXT_OR_NULL,
        "unit_price": _AMOUNT_OR_NULL, "line_amount": _AMOUNT_OR_NULL,
        "status": {"type": "string", "enum": ["open", "accepted", "changed", "rejected"]},
    })
    link = _object({
        "kind": {"type": "string", "enum": ["order", "order_response", "despatch_advice", "invoice"]},
        "number": _TEXT, "id": _INT_OR_NULL,
        "messages": {"type": "array", "items": _ref("ChainMessage")},
        "acknowledgements": {"type": "array", "items": _ref("ChainAcknowledgement")},
    })
    despatch = {
        "id": {"type": "integer"}, "number": _TEXT, "order_id": _INT_OR_NULL, "order_number": _TEXT_OR_NULL,
        "despatch_date": _DATE, "expected_delivery": _DATE, "carrier": _TEXT_OR_NULL,
        "tracking_number": _TEXT_OR_NULL, "created_at": _TIME,
    }
    invoice = {
        "id": {"type": "integer"}, "number": _TEXT, "document_code": _TEXT, "order_id": _INT_OR_NULL,
        "order_number": _TEXT_OR_NULL, "issue_date": _DATE, "due_date": _DATE, "currency": _TEXT,
        "total": _AMOUNT, "tax_total": _AMOUNT, "created_at": _TIME,
    }
    price_break = _object({"min_quantity": _AMOUNT, "price": _AMOUNT, "currency": _TEXT, "valid_from": _DATE,
                           "valid_to": _DATE})
    party = _object({
        "role": {"type": "string", "description": "UN/CEFACT 3035: BY buyer, DP delivery party, ..."},
        "id": _TEXT_OR_NULL, "id_agency": _TEXT_OR_NULL, "name": _TEXT_OR_NULL, "street": _TEXT_OR_NULL,
        "city": _TEXT_OR_NULL, "postcode": _TEXT_OR_NULL, "country": _TEXT_OR_NULL, "vat_number": _TEXT_OR_NULL,
        "contact": _TEXT_OR_NULL,
    }, required=["role"], additionalProperties=False)
    number_like = {"type": ["string", "number"], "description": "An exact decimal; text is safest."}
    order_line = _object({
        "line_no": {"type": "string", "description": "Default: the line's position, from 1."},
        "gtin": _TEXT_OR_NULL, "supplier_sku": _TEXT_OR_NULL, "buyer_sku": _TEXT_OR_NULL,
        "description": _TEXT_OR_NULL, "quantity": number_like, "unit": _TEXT_OR_NULL,
        "net_price": number_like | {"type": ["string", "number", "null"]},
        "price_basis": number_like | {"type": ["string", "number", "null"]},
        "line_amount": number_like | {"type": ["string", "number", "null"]},
        "requested_delivery": _DATE,
    }, required=["quantity"], additionalProperties=False)
    error_codes = sorted(set(API_ERROR_CODES) | set(STATUS_CODES.values()) | {CSRF_CODE})
    return {
        "Error": _object({"error": _object({
            "code": {"type": "string", "enum": error_codes,
                     "description": "Stable, for programs. " + "; ".join(
                         f"{code} ({status}): {text}" for code, (status, text) in sorted(API_ERROR_CODES.items()))
                     + ". Any other HTTP error: " + ", ".join(
                         f"{code} ({status})" for status, code in sorted(STATUS_CODES.items()))
                     + f"; {CSRF_CODE} (400) for a form without its CSRF token."},
            "message": {"type": "string", "description": "For people; starts with the field at fault."},
            "field": {"type": "string", "description": "The request field at fault, when there is one."},
            "details": {"type": "array", "items": _TEXT, "description": "Every problem, for order_rejected."},
        }, required=["code", "message"])}),
        "OAuthError": _object({"error": _TEXT, "error_description": _TEXT}, required=["error"]),
        "TokenRequest": _object({
            "grant_type": {"type": "string", "const": "client_credentials"},
            "scope": {"type": "string", "description": "Space-separated; default: all the client's scopes."},
            "client_id": {"type": "string", "description": "With client_secret_post only."},
            "client_secret": {"type": "string", "description": "With client_secret_post only."},
        }, required=["grant_type"]),
        "Token": _object({"access_token": _TEXT, "token_type": {"type": "string", "const": "Bearer"},
                          "expires_in": {"type": "integer"}, "scope": _TEXT}),
        "OrderSummary": _object(order),
        "OrderLine": line,
        "ChainMessage": message,
        "ChainAcknowledgement": ack,
        "ChainLink": link,
        "OrderDetail": _object(order | {
            "lines": {"type": "array", "items": _ref("OrderLine")},
            "chain": {"type": "array", "items": _ref("ChainLink")},
            "document": _DOCUMENT,
        }),
        "OrderPage": _page("OrderSummary"),
        "Party": party,
        "OrderRequestLine": order_line,
        "OrderRequest": _object({
            "document": {"type": "string", "const": "Order"},
            "number": {"type": "string", "minLength": 1, "maxLength": 35, "description": "Your order number."},
            "document_code": {"type": "string", "description": "1001: 220 order (default), 221, 226."},
            "function": {"type": "string", "enum": ["9", "5", "1"],
                         "description": "1225: 9 original (default), 5 replace, 1 cancel."},
            "issue_date": {"type": "string", "format": "date", "description": "Default: today."},
            "requested_delivery": _DATE,
            "currency": _TEXT_OR_NULL,
            "contract_ref": _TEXT_OR_NULL,
            "parties": {"type": "array", "items": _ref("Party"),
                        "description": "The buyer is always the token's partner; added when missing."},
            "notes": {"type": "array", "items": _TEXT},
            "lines": {"type": "array", "items": _ref("OrderRequestLine"), "minItems": 1},
        }, required=["number", "lines"], additionalProperties=False),
        "DespatchSummary": _object(despatch),
        "Despatch": _object(despatch | {"document": _DOCUMENT}),
        "DespatchPage": _page("DespatchSummary"),
        "InvoiceSummary": _object(invoice),
        "Invoice": _object(invoice | {"document": _DOCUMENT}),
        "InvoicePage": _page("InvoiceSummary"),
        "PriceBreak": price_break,
        "CatalogItem": _object({
            "sku": _TEXT, "gtin": _TEXT_OR_NULL, "name": _TEXT, "description": _TEXT_OR_NULL,
            "category": _TEXT_OR_NULL, "unit": _TEXT, "list_price": _AMOUNT,
            "unit_price": {**_AMOUNT, "description": "For one unit: the contract price, else the list price."},
            "currency": _TEXT, "contract": {"type": "boolean"},
            "breaks": {"type": "array", "items": _ref("PriceBreak")},
            "stock": {"type": "string", "enum": ["in stock", "low stock", "out of stock", "on request"]},
        }),
        "CatalogPage": _page("CatalogItem"),
        "Price": _object({"sku": _TEXT, "gtin": _TEXT_OR_NULL, **price_break["properties"]}),
        "PricePage": _page("Price"),
        "OpenApi": {"type": "object", "description": "An OpenAPI 3.1 document."},
    }


_ERROR_TEXT = {
    400: "The request is wrong; the message names the field.",
    401: "No valid bearer token (or, at the token endpoint, no valid client credentials).",
    403: "The token lacks the scope of this resource.",
    404: "No such record for this partner.",
    415: "The body is not application/json.",
    422: "The order cannot be accepted (order_rejected: unknown items, duplicate number, ...; details lists every"
         " problem) or is over the credit limit (credit_limit_exceeded).",
}


def _openapi_path(rule: str) -> str:
    path = rule
    for converter in ("int:", "path:"):
        path = path.replace(f"<{converter}", "<")
    return path.replace("<", "{").replace(">", "}")


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 description of :data:`ROUTES` (every path, schema, scope and error)."""
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        operation: dict[str, Any] = {
            "operationId": route.endpoint,
            "summary": route.summary,
            "responses": {},
        }
        if route.params:
            operation["parameters"] = [
                {"name": p.name, "in": p.where, "required": p.required or p.where == "path",
                 "description": p.description, "schema": p.schema}
                for p in route.params
            ]
        if route.body == "TokenRequest":
            operation["requestBody"] = {"required": True, "content": {
                "application/x-www-form-urlencoded": {"schema": _ref("TokenRequest")}}}
            operation["security"] = [{"clientBasic": []}, {}]
            operation["description"] = ("Authenticate with HTTP Basic (client_secret_basic) or with client_id and "
                                        "client_secret in the form (client_secret_post). Errors follow RFC 6749 5.2.")
        elif route.body:
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(route.body)}}}
        if route.scope:
            operation["security"] = [{"oauth2": [route.scope]}]
            operation["description"] = f"Needs the scope `{route.scope}`."
        elif route.endpoint == "openapi":
            operation["security"] = [{}]
        operation["responses"][str(route.status)] = {
            "description": "OK" if route.status == 200 else "Created",
            "content": {"application/json": {"schema": _ref(route.response)}},
        }
        if route.status == 201:
            operation["responses"]["201"]["headers"] = {
                "Location": {"description": "The new order.", "schema": {"type": "string"}}}
        if route.endpoint == "orders_create":
            operation["responses"]["200"] = {
                "description": "A cancellation (function 1): the cancelled order.",
                "content": {"application/json": {"schema": _ref(route.response)}},
            }
        error_schema = "OAuthError" if route.endpoint == "token" else "Error"
        codes = set(route.errors) | ({401, 403} if route.scope else set())
        for code in sorted(codes):
            operation["responses"][str(code)] = {
                "description": _ERROR_TEXT[code],
                "content": {"application/json": {"schema": _ref(error_schema)}},
            }
        paths.setdefault(f"/api/v1{_openapi_path(route.rule)}", {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Kontor partner API",
            "version": "1.0.0",
            "description": (
                "Orders, despatch advices, invoices, catalogue and contract prices of one partner. "
                "Get a token with the OAuth2 client-credentials grant at /api/v1/oauth/token, then send "
                "`Authorization: Bearer <token>`. Amounts and quantities are exact decimals as JSON strings; "
                "dates are ISO 8601. Records of other partners answer 404."
            ),
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "oauth2": {
                    "type": "oauth2",
                    "description": "Client credentials of an API client (kontor api client create).",
                    "flows": {"clientCredentials": {"tokenUrl": "/api/v1/oauth/token", "scopes": dict(SCOPES)}},
                },
                "clientBasic": {"type": "http", "scheme": "basic",
                                "description": "client_id and client_secret, at the token endpoint only."},
            },
        },
        "security": [{"oauth2": []}],
    }

"""A partner's user never reaches another partner's data: every portal route, tried with the other's ids."""

from __future__ import annotations

import re

import pytest

from tests.extranet.conftest import login, post

#: Portal routes with an id, and the world attribute naming the other partner's record to try.
ID_ROUTES = {
    "portal.order": ("GET", "beta_order"),
    "portal.reorder": ("POST", "beta_order"),
    "portal.message": ("GET", "beta_message"),
    "portal.cart_remove": ("POST", None),  # products are shared; removing only touches one's own cart
}


def test_every_portal_route_with_an_id_is_covered(app):
    routes = {rule.endpoint for rule in app.url_map.iter_rules()
              if rule.endpoint.startswith("portal.") and rule.arguments}
    assert routes == set(ID_ROUTES), "add new portal routes with ids to ID_ROUTES"


@pytest.mark.parametrize("endpoint", [e for e, (_, attr) in ID_ROUTES.items() if attr])
def test_other_partners_records_are_not_found(app, acme_client, world, endpoint):
    method, attr = ID_ROUTES[endpoint]
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    argument = next(iter(rule.arguments))
    path = re.sub(r"<[^>]+>", str(getattr(world, attr)), rule.rule)
    if method == "GET":
        response = acme_client.get(path)
    else:
        response = post(acme_client, path, token_from="/")
    assert response.status_code == 404, (endpoint, argument, path)


def test_own_records_are_found(acme_client, world):
    assert acme_client.get(f"/orders/{world.acme_order}").status_code == 200
    assert acme_client.get(f"/messages/{world.acme_message}").status_code == 200


def test_guessing_ids_reveals_nothing(acme_client, world):
    missing = acme_client.get("/orders/999999")
    foreign = acme_client.get(f"/orders/{world.beta_order}")
    assert missing.status_code == foreign.status_code == 404
    assert missing.get_data(as_text=True) == foreign.get_data(as_text=True)


def test_lists_hold_only_own_records(client, world):
    login(client, "buyer@beta.example")
    assert "PO-ACME-1" not in client.get("/orders").get_data(as_text=True)
    assert "PO-BETA-1" in client.get("/orders").get_data(as_text=True)
    messages = client.get("/messages").get_data(as_text=True)
    assert "IC0003" in messages or "PO-BETA-1" in messages
    assert "IC0001" not in messages and "IC0002" not in messages
    assert client.get(f"/orders/{world.acme_order}").status_code == 404
    assert client.get(f"/messages/{world.error_message}").status_code == 404

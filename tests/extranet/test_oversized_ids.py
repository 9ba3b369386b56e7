"""Oversized ids in portal paths are 404 and in query strings ignored, never a database OverflowError."""

from __future__ import annotations

import re

import pytest

from hub.monitor import MessageFilter
from hub.portal import MAX_ID, PartnerScope, valid_id

HUGE = "9" * 20


@pytest.mark.parametrize("value", [HUGE, str(2**63)])
def test_oversized_ids_in_paths_are_404(app, acme_client, value):
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.split(".")[0] in ("portal", "portal_extra")
             and "<int:" in r.rule]
    assert len(rules) >= 15
    for rule in rules:
        path = re.sub(r"<int:\w+>", value, rule.rule).replace("<any(despatch, invoice):kind>", "despatch")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = acme_client.open(path, method=method)
            assert response.status_code == 404, (method, path, response.status_code)


def test_the_largest_id_is_routed(acme_client):
    for path in (f"/orders/{MAX_ID}", f"/orders/{MAX_ID + 1}/chain", f"/invoices/{2**63 - 1}"):
        assert acme_client.get(path).status_code == 404  # routed: no such record


@pytest.mark.parametrize("path", ["/?after=" + HUGE, "/?before=" + HUGE, "/orders?page=" + HUGE,
                                  "/documents?page=" + HUGE, "/documents?kind=despatches&page=" + HUGE,
                                  "/messages?before=" + HUGE, "/?after=-5", "/orders?page=abc"])
def test_oversized_query_ids_are_ignored(acme_client, path):
    assert acme_client.get(path).status_code == 200


def test_the_scope_ignores_ids_no_database_can_hold(session, world):
    scope = PartnerScope(session, world.acme)
    assert valid_id(MAX_ID) == MAX_ID and valid_id(MAX_ID + 1) is None and valid_id(0) is None
    assert scope.catalog_slice(after=int(HUGE)).items  # the first page, the cursor ignored
    assert scope.orders(page=int(HUGE)).page == 1
    assert scope.messages(MessageFilter(), before=int(HUGE)) is not None
    for getter in (scope.order, scope.message):
        with pytest.raises(LookupError):
            getter(int(HUGE))


def test_a_catalogue_cursor_outside_the_assortment_is_ignored(session, world):
    """A restricted partner cannot learn where another product sorts by using its id as a cursor."""
    from hub.models import AssortmentItem, Partner

    session.get(Partner, world.acme).assortment_restricted = True
    session.add(AssortmentItem(partner_id=world.acme, product_id=world.widget))
    session.commit()
    scope = PartnerScope(session, world.acme)
    for cursor in ({"after": world.gadget}, {"before": world.gadget}):
        page = scope.catalog_slice(**cursor)
        assert [i.product.sku for i in page.items] == ["WID-100"]
        assert not page.has_prev and not page.has_next
    assert scope.catalog_slice(after=world.widget).has_prev  # a cursor inside it still works

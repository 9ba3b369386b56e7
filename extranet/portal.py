"""The distributor portal: catalogue, cart, quick order, CSV upload, checkout, orders, messages.

Every view reads partner data through :func:`extranet.security.portal_scope`;
a record of another partner raises :class:`hub.portal.NotFound`, shown as 404
(see :mod:`extranet.errors`).
The cart is kept in the signed session cookie, compactly: quantities by
product id, notes apart, at most :data:`MAX_CART_LINES` lines.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required

from extranet.extensions import login_manager
from extranet.forms import CatalogSearchForm, CheckoutForm, OrderSearchForm, QuickOrderForm, UploadForm, options
from extranet.portal_roles import check_write_role
from extranet.security import PARTNER_ORDER_ROLES, portal_scope, roles_required, safe_next
from hub.monitor import MessageFilter
from hub.portal import CART_NOTE_MAX, ORDER_STATUSES, ParsedRows, Row, parse_csv, parse_quick_order

__all__ = ["bp", "MAX_CART_LINES"]

bp = Blueprint("portal", __name__)

MAX_CART_LINES = 200
MAX_NOTE = CART_NOTE_MAX
MAX_COOKIE_BYTES = 3800


@bp.before_request
def _partners_only() -> ResponseReturnValue | None:
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if current_user.is_ops:
        return redirect(url_for("ops.messages"))
    check_write_role()
    return None


# --- the cart in the session ---------------------------------------------------------


def load_cart() -> dict[str, dict[str, str]]:
    quantities = session.get("cart", {})
    notes = session.get("cart_notes", {})
    return {pid: {"quantity": qty, "note": notes.get(pid, "")} for pid, qty in quantities.items()}


def save_cart(items: dict[str, dict[str, str]]) -> None:
    session["cart"] = {pid: item["quantity"] for pid, item in items.items()}
    session["cart_notes"] = {pid: item["note"][:MAX_NOTE] for pid, item in items.items() if item.get("note")}


def cookie_size() -> int:
    """The size the session cookie would have now (browsers drop cookies over 4 kB)."""
    serializer = current_app.session_interface.get_signing_serializer(current_app)  # type: ignore[attr-defined]
    return len(serializer.dumps(dict(session))) if serializer is not None else 0


def add_to_cart(parsed: ParsedRows) -> int:
    """Add resolved lines to the cart; returns how many were added.

    Stops (and says so) at :data:`MAX_CART_LINES` lines or when the session
    cookie would outgrow :data:`MAX_COOKIE_BYTES`.
    """
    items = load_cart()
    added = 0
    for product, quantity, note in parsed.lines:
        key = str(product.id)
        if key not in items and len(items) >= MAX_CART_LINES:
            flash(f"The cart holds at most {MAX_CART_LINES} lines; {len(parsed.lines) - added} were not added."
                  " Place this order first, then add the rest.", "error")
            break
        before = dict(items.get(key, {})) if key in items else None
        previous = Decimal(items[key]["quantity"]) if key in items else Decimal(0)
        old_note = items.get(key, {}).get("note", "")
        joined = "; ".join(n for n in (old_note, note) if n)
        if len(joined) > MAX_NOTE:
            flash(f"The notes for {product.sku} together are {len(joined)} characters long; the cart line keeps "
                  f"the first {MAX_NOTE}.", "error")
        items[key] = {
            "quantity": format((previous + quantity).normalize(), "f"),
            "note": joined[:MAX_NOTE],
        }
        save_cart(items)
        if cookie_size() > MAX_COOKIE_BYTES:
            if before is None:
                del items[key]
            else:
                items[key] = before
            save_cart(items)
            flash(f"The cart is full; {len(parsed.lines) - added} line(s) were not added."
                  " Place this order first, then add the rest.", "error")
            break
        added += 1
    return added


@bp.app_context_processor
def _cart_size() -> dict[str, Any]:
    if current_user.is_authenticated and not current_user.is_ops:
        return {"cart_lines": len(session.get("cart", {}))}
    return {"cart_lines": 0}


# --- catalogue -----------------------------------------------------------------------


@bp.get("/")
@login_required
def catalog() -> ResponseReturnValue:
    scope = portal_scope()
    form = CatalogSearchForm(request.args)
    form.category.choices = options([("", "All categories")] + [(c, c) for c in scope.categories()])
    # keyset paging: "next"/"previous" links carry a product id (after=/before=), no page numbers
    in_stock, contract = request.args.get("in_stock") == "1", request.args.get("contract") == "1"
    page = scope.catalog_slice(form.q.data or "", form.category.data or "",
                               after=request.args.get("after", type=int), before=request.args.get("before", type=int),
                               in_stock=in_stock, contract_only=contract)
    return render_template("portal/catalog.html", form=form, page=page, partner=scope.partner,
                           in_stock=in_stock, contract=contract)


@bp.post("/cart/add")
@roles_required(*PARTNER_ORDER_ROLES)
def cart_add() -> ResponseReturnValue:
    scope = portal_scope()
    row = Row(number=1, sku=request.form.get("sku", ""), quantity=request.form.get("quantity", "1").strip())
    parsed = scope.resolve_rows([row])
    for error in parsed.errors:
        flash(f"Not added: {error.message}.", "error")
    if parsed.lines and add_to_cart(parsed):
        product, quantity, _ = parsed.lines[0]
        flash(f"Added {format(quantity.normalize(), 'f')} × {product.name} to the cart.", "success")
    return redirect(safe_next(request.form.get("back"), url_for("portal.cart")))


@bp.get("/cart")
@login_required
def cart() -> ResponseReturnValue:
    scope = portal_scope()
    return render_template("portal/cart.html", cart=scope.cart(load_cart()), partner=scope.partner)


@bp.post("/cart/update")
@roles_required(*PARTNER_ORDER_ROLES)
def cart_update() -> ResponseReturnValue:
    scope = portal_scope()
    items = load_cart()
    products = {str(line.product.id): line.product for line in scope.cart(items).lines}
    for pid in list(items):
        value = request.form.get(f"quantity-{pid}")
        if value is None or pid not in products:
            continue
        if value.strip() in ("0", ""):
            del items[pid]
            continue
        parsed = scope.resolve_rows([Row(number=1, sku=products[pid].sku, quantity=value.strip())])
        if parsed.errors:
            flash(f"{products[pid].sku}: {parsed.errors[0].message}; the quantity was not changed.", "error")
        else:
            items[pid]["quantity"] = format(parsed.lines[0][1].normalize(), "f")
    save_cart(items)
    flash("The cart is updated.", "success")
    return redirect(url_for("portal.cart"))


@bp.post("/cart/remove/<int:product_id>")
@roles_required(*PARTNER_ORDER_ROLES)
def cart_remove(product_id: int) -> ResponseReturnValue:
    items = load_cart()
    items.pop(str(product_id), None)
    save_cart(items)
    flash("The line is removed from the cart.", "success")
    return redirect(url_for("portal.cart"))


@bp.post("/cart/clear")
@roles_required(*PARTNER_ORDER_ROLES)
def cart_clear() -> ResponseReturnValue:
    save_cart({})
    flash("The cart is empty.", "success")
    return redirect(url_for("portal.cart"))


# --- quick order and upload ----------------------------------------------------------


@bp.route("/quick-order", methods=["GET", "POST"])
@roles_required(*PARTNER_ORDER_ROLES)
def quick_order() -> ResponseReturnValue:
    form = QuickOrderForm()
    errors = []
    if form.validate_on_submit():
        parsed = portal_scope().resolve_rows(parse_quick_order(form.lines.data or ""))
        added = add_to_cart(parsed)
        errors = parsed.errors
        if added:
            flash(f"{added} line(s) added to the cart.", "success")
        if not errors:
            return redirect(url_for("portal.cart"))
        # Leave only the lines that need fixing in the box.
        form.lines.data = "\n".join(f"{e.row.sku} {e.row.quantity}".strip() for e in errors)
        return render_template("portal/quick_order.html", form=form, errors=errors), 422
    return render_template("portal/quick_order.html", form=form, errors=errors)


@bp.route("/upload", methods=["GET", "POST"])
@roles_required(*PARTNER_ORDER_ROLES)
def upload() -> ResponseReturnValue:
    form = UploadForm()
    if form.validate_on_submit():
        rows, fatal = parse_csv(form.file.data.read())
        if fatal and not rows:
            form.file.errors.append(fatal)
            return render_template("portal/upload.html", form=form, errors=[]), 422
        if fatal:
            flash(fatal, "error")
        return _rows_added(form, portal_scope().resolve_rows(rows))
    return render_template("portal/upload.html", form=form, errors=[]), 422 if form.errors else 200


@bp.post("/upload/fix")
@roles_required(*PARTNER_ORDER_ROLES)
def upload_fix() -> ResponseReturnValue:
    rows = []
    for index in request.form.getlist("row"):
        if request.form.get(f"skip-{index}"):
            continue
        rows.append(
            Row(
                number=int(index) if index.isdigit() else 0,
                sku=request.form.get(f"sku-{index}", "").strip(),
                quantity=request.form.get(f"quantity-{index}", "").strip().replace(",", "."),
                note=request.form.get(f"note-{index}", "").strip(),
            )
        )
    return _rows_added(UploadForm(formdata=None), portal_scope().resolve_rows(rows))


def _rows_added(form: UploadForm, parsed: ParsedRows) -> ResponseReturnValue:
    added = add_to_cart(parsed)
    if added:
        flash(f"{added} row(s) added to the cart.", "success")
    if not parsed.errors:
        return redirect(url_for("portal.cart"))
    return render_template("portal/upload.html", form=form, errors=parsed.errors), 422


# --- checkout and orders -------------------------------------------------------------


@bp.route("/checkout", methods=["GET", "POST"])
@roles_required(*PARTNER_ORDER_ROLES)
def checkout() -> ResponseReturnValue:
    scope = portal_scope()
    items = load_cart()
    form = CheckoutForm()
    problems: list[str] = []
    if form.validate_on_submit():
        result = scope.checkout(
            items,
            current_user.user,
            current_app.config["KONTOR_SETTINGS"],
            number=form.number.data or "",
            requested_delivery=form.requested_delivery.data,
            note=form.note.data or "",
        )
        if result.order is not None:
            save_cart({})
            flash(f"Thank you: order {result.order.number} is placed."
                  + (" It waits for approval by an admin of your company." if result.order.status == "pending_approval" else ""), "success")
            return redirect(url_for("portal.order", order_id=result.order.id))
        problems = result.problems
    cart = scope.cart(items)
    status = 422 if problems or form.errors else 200
    return render_template("portal/checkout.html", form=form, cart=cart, problems=problems), status


@bp.get("/orders")
@login_required
def orders() -> ResponseReturnValue:
    form = OrderSearchForm(request.args)
    form.status.choices = options([("", "Any status")] + [(s, s.replace("_", " ")) for s in ORDER_STATUSES])
    page = portal_scope().orders(form.q.data or "", form.status.data or "", page=request.args.get("page", 1, type=int))
    return render_template("portal/orders.html", form=form, page=page)


@bp.get("/orders/<int:order_id>")
@login_required
def order(order_id: int) -> ResponseReturnValue:
    detail = portal_scope().order_detail(order_id)
    return render_template("portal/order.html", detail=detail, order=detail.order)


@bp.post("/orders/<int:order_id>/reorder")
@roles_required(*PARTNER_ORDER_ROLES)
def reorder(order_id: int) -> ResponseReturnValue:
    items, skipped = portal_scope().reorder_items(order_id)
    return fill_cart(items, skipped, "the order")


def fill_cart(items: dict[str, dict[str, str]], skipped: list[str], source: str) -> ResponseReturnValue:
    """Put the lines of ``source`` (an earlier order, a template) in the cart, say what did not fit
    or is no longer sold, and show the cart."""
    added = merge_into_cart(items)
    flash(f"{added} line(s) of {source} are in the cart; check the quantities and order.", "success")
    if added < len(items):
        flash(cart_full_message(len(items) - added, f"of {source}"), "error")
    if skipped:
        flash("Not available any more: " + ", ".join(skipped) + ".", "error")
    return redirect(url_for("portal.cart"))


def merge_into_cart(items: dict[str, dict[str, str]]) -> int:
    """Add ``items`` to the session cart (quantities of products already in it are added up);
    the number of items that found a place (the cart stops at :data:`MAX_CART_LINES` lines)."""
    cart = load_cart()
    added = 0
    for pid, item in items.items():
        if pid in cart:
            cart[pid]["quantity"] = format((Decimal(cart[pid]["quantity"]) + Decimal(item["quantity"])).normalize(), "f")
        elif len(cart) < MAX_CART_LINES:
            cart[pid] = item
        else:
            continue
        added += 1
    save_cart(cart)
    return added


def cart_full_message(left_out: int, what: str) -> str:
    return (f"The cart holds at most {MAX_CART_LINES} lines: {left_out} line(s) {what} were not added. "
            "Order what is in the cart first, then add the rest.")


@bp.get("/documents")
@login_required
def documents() -> ResponseReturnValue:
    scope = portal_scope()
    kind = "despatches" if request.args.get("kind") == "despatches" else "invoices"
    number = request.args.get("page", 1, type=int)
    page = scope.despatches(page=number) if kind == "despatches" else scope.invoices(page=number)
    orders = scope.order_numbers(d.order_id for d in page.items)
    return render_template("portal/documents.html", kind=kind, page=page, orders=orders)


# --- the partner's own message flow --------------------------------------------------


@bp.get("/messages")
@login_required
def messages() -> ResponseReturnValue:
    before = request.args.get("before", type=int)
    found = portal_scope().messages(MessageFilter(), before=before)
    return render_template("portal/messages.html", found=found)


@bp.get("/messages/<int:message_id>")
@login_required
def message(message_id: int) -> ResponseReturnValue:
    return render_template("portal/message.html", message=portal_scope().message(message_id))

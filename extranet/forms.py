"""The extranet's forms (Flask-WTF: every POST form carries a CSRF token)."""

from __future__ import annotations

from typing import Iterable

from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import (
    DateField,
    DecimalField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

__all__ = [
    "LoginForm",
    "ActionForm",
    "AddToCartForm",
    "QuickOrderForm",
    "UploadForm",
    "CheckoutForm",
    "RepairForm",
    "MessageFilterForm",
    "OrderSearchForm",
    "CatalogSearchForm",
    "options",
]


def options(pairs: Iterable[tuple[object, str]]) -> list[SelectChoice]:
    """Select options from (value, label) pairs."""
    return [SelectChoice(str(value), label) for value, label in pairs]


class LoginForm(FlaskForm):
    email = EmailField("E-mail address", validators=[DataRequired(), Length(max=200)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])
    next = HiddenField()


class ActionForm(FlaskForm):
    """A button-only form (sign out, remove, reorder): just the CSRF token."""


class AddToCartForm(FlaskForm):
    product_id = HiddenField(validators=[DataRequired()])
    quantity = DecimalField("Quantity", places=None, validators=[DataRequired(), NumberRange(min=0.001, max=1_000_000)])


class QuickOrderForm(FlaskForm):
    lines = TextAreaField(
        "Order lines",
        description="One line per product: SKU or GTIN, then the quantity. Example: AB-1001 12",
        validators=[DataRequired(), Length(max=50_000)],
    )


class UploadForm(FlaskForm):
    file = FileField(
        "CSV file",
        description="Columns sku, quantity and an optional note; a header row is allowed.",
        validators=[FileRequired(), FileAllowed(["csv", "txt"], "Upload a .csv file.")],
    )


class CheckoutForm(FlaskForm):
    number = StringField(
        "Your order number",
        description="Optional: your purchase order number. Left empty, one is made for you.",
        validators=[Optional(), Length(max=35)],
    )
    requested_delivery = DateField("Requested delivery date", validators=[Optional()])
    note = TextAreaField("Note for us", validators=[Optional(), Length(max=350)])


class RepairForm(FlaskForm):
    comment = TextAreaField(
        "Comment",
        description="Why you do this; it is kept in the message's trace and the audit log.",
        validators=[DataRequired(message="A comment is required."), Length(max=2000)],
    )


class _GetForm(FlaskForm):
    class Meta:
        csrf = False


class CatalogSearchForm(_GetForm):
    q = StringField("Search", description="Name, SKU or GTIN", validators=[Optional(), Length(max=100)])
    category = SelectField("Category", choices=[], validate_choice=False)
    page = IntegerField(validators=[Optional()])


class OrderSearchForm(_GetForm):
    q = StringField("Order number", validators=[Optional(), Length(max=35)])
    status = SelectField("Status", choices=[], validate_choice=False)
    page = IntegerField(validators=[Optional()])


class MessageFilterForm(_GetForm):
    partner = SelectField("Partner", choices=[], validate_choice=False)
    direction = SelectField(
        "Direction", choices=options([("", "Any"), ("in", "Inbound"), ("out", "Outbound")]), validate_choice=False
    )
    document_type = SelectField("Document type", choices=[], validate_choice=False)
    state = SelectField("State", choices=[], validate_choice=False)
    date_from = DateField("From", validators=[Optional()])
    date_to = DateField("To", validators=[Optional()])
    reference = StringField("Interchange or message reference", validators=[Optional(), Length(max=35)])
    business_ref = StringField("Business reference", validators=[Optional(), Length(max=35)])
    text = StringField("Text", validators=[Optional(), Length(max=100)])
    before = IntegerField(validators=[Optional()])

"""``kontor api ...``: API clients of the partner REST API.

``kontor api client create ACME --scope orders:read --scope orders:write``
prints the client id and the secret (shown this once; only its hash is
kept). ``kontor api client list`` and ``kontor api client revoke CLIENT_ID``
manage them. Added to the main command by :func:`register`.
"""

from __future__ import annotations

import click

__all__ = ["register"]


def _session_factory(ctx: click.Context):
    from hub.db import make_engine, make_session_factory

    return make_session_factory(make_engine(ctx.obj.settings.database))


@click.group("api")
def api() -> None:
    """The partner REST API (/api/v1): its OAuth2 clients."""


@api.group("client")
def client() -> None:
    """OAuth2 clients (client-credentials grant) of partners."""


@client.command("create")
@click.argument("partner")
@click.option("--scope", "scopes", multiple=True, required=True,
              help="A scope the client may ask for (repeat, or space/comma-separated): orders:read, "
                   "orders:write, despatches:read, invoices:read, catalog:read.")
@click.option("--name", default="", help="A label for the client (default: '<PARTNER> API client').")
@click.pass_context
def client_create(ctx: click.Context, partner: str, scopes: tuple[str, ...], name: str) -> None:
    """Create an API client for PARTNER (its code) and print its id and secret."""
    from hub.api import create_client

    with _session_factory(ctx)() as session:
        try:
            created = create_client(session, partner, list(scopes), name=name)
        except (LookupError, ValueError) as exc:
            raise click.UsageError(str(exc)) from None
        click.echo(f"client_id:     {created.client.client_id}")
        click.echo(f"client_secret: {created.secret}")
        click.echo(f"scope:         {created.client.scope}")
        click.echo("Keep the secret now: it is stored only as a hash and cannot be shown again.", err=True)


@client.command("list")
@click.pass_context
def client_list(ctx: click.Context) -> None:
    """Every API client: id, partner, scopes, state, last token."""
    from sqlalchemy import select

    from hub.api_models import ApiClient

    with _session_factory(ctx)() as session:
        for c in session.scalars(select(ApiClient).order_by(ApiClient.id)):
            state = "active" if c.active else "revoked"
            last = f"{c.last_used_at:%Y-%m-%d %H:%M}" if c.last_used_at else "never"
            click.echo(f"{c.client_id}\t{c.partner.code}\t{state}\t{c.scope}\tlast token {last}")


@client.command("revoke")
@click.argument("client_id")
@click.pass_context
def client_revoke(ctx: click.Context, client_id: str) -> None:
    """Switch a client off; its tokens stop working at once."""
    from sqlalchemy import select

    from hub.accounts import audit
    from hub.api_models import ApiClient

    with _session_factory(ctx)() as session:
        found = session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
        if found is None:
            raise click.UsageError(f"no API client {client_id!r}")
        found.active = False
        audit(session, "cli", "api.client.revoked", target=f"api_client:{client_id}", partner_id=found.partner_id)
        session.commit()
        click.echo(f"{client_id}: revoked")


def register(main: click.Group) -> None:
    """Add ``kontor api`` to the main command group."""
    main.add_command(api)

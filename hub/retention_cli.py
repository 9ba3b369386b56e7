"""``kontor retention run [--dry-run]``: archive or purge old payloads now (the scheduler does it daily)."""

from __future__ import annotations

import click

__all__ = ["register"]


def register(main: click.Group) -> None:
    """Add the ``retention`` command group to the ``kontor`` command line."""

    @main.group()
    def retention() -> None:
        """Payload retention ([retention] in kontor.toml)."""

    @retention.command("run")
    @click.option("--dry-run", is_flag=True, help="Count what would be archived or purged; change nothing.")
    @click.pass_obj
    def retention_run(state, dry_run: bool) -> None:
        """Archive (gzip files) or purge payloads older than [retention] payload_days.

        Payloads of invoice messages are kept for [retention] invoice_years.
        """
        from hub.db import make_engine, make_session_factory
        from hub.retention import run_retention

        settings = state.settings
        engine = make_engine(settings.database)
        try:
            with make_session_factory(engine)() as session:
                report = run_retention(session, settings, actor="kontor retention run", dry_run=dry_run)
        finally:
            engine.dispose()
        click.echo(report.summary())

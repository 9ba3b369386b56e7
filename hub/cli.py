"""The ``kontor`` command line.

Thin by design: each command loads the settings, calls a service and reports.
Exit codes: 0 success, 1 the work found problems (e.g. invalid EDI files),
2 wrong usage or configuration.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from pathlib import Path

import click

from hub.settings import Settings, SettingsError, load_settings

__all__ = ["main"]

log = logging.getLogger("kontor")


class _State:
    def __init__(self, config: str | None):
        self.config = config
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self.config)
            except SettingsError as exc:
                raise click.UsageError(f"configuration: {exc}") from None
        return self._settings


pass_state = click.make_pass_decorator(_State)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config", type=click.Path(dir_okay=False), envvar="KONTOR_CONFIG",
              help="Settings file (default: config/kontor.toml).")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(package_name="kontor", prog_name="kontor")
@click.pass_context
def main(ctx: click.Context, config: str | None, verbose: int) -> None:
    """Kontor: B2B extranet and EDI integration hub.

    Distributors order in the portal or send EDIFACT/UBL; the hub
    translates, records and answers every document. Settings come from
    config/kontor.toml and KONTOR_* environment variables.
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = _State(config)


def _session_factory(settings: Settings):
    from hub.db import make_engine, make_session_factory

    return make_session_factory(make_engine(settings.database))


# -- database ------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
@click.option("--revision", default="heads", show_default=True, help="Target revision.")
@pass_state
def db_upgrade(state: _State, revision: str) -> None:
    """Create or migrate the database to the latest schema."""
    from hub.db import upgrade

    upgrade(state.settings.database, revision)
    click.echo(f"database at {revision}: {_safe_url(state.settings.database)}")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# -- partners ------------------------------------------------------------------------


@main.group()
def partners() -> None:
    """Partner profiles (config/partners/*.toml)."""


def _load_partners(settings: Settings, directory: Path | None = None) -> list[str]:
    from hub.partners import load_profiles, sync_partners
    from hub.secrets import seal_channel_secrets

    folder = directory or settings.partners_path
    if not folder.is_dir():
        raise click.UsageError(f"partner folder {folder} does not exist")
    profiles = load_profiles(folder)
    with _session_factory(settings)() as session:
        changes = sync_partners(session, profiles)
        # the files' secrets are encrypted in the load's own transaction: plaintext is never committed
        sealed = seal_channel_secrets(session, settings)
    if sealed:
        changes.append(f"secrets of {sealed} channel(s) stored encrypted")
    return changes


@partners.command("load")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              help="Folder of partner files (default: config/partners).")
@pass_state
def partners_load(state: _State, directory: Path | None) -> None:
    """Check the partner files and write them into the database."""
    from hub.errors import ProfileError

    try:
        for line in _load_partners(state.settings, directory):
            click.echo(line)
    except ProfileError as exc:
        raise click.UsageError(str(exc)) from None


@partners.command("check")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path))
@pass_state
def partners_check(state: _State, directory: Path | None) -> None:
    """Check the partner files without touching the database."""
    from hub.errors import ProfileError
    from hub.partners import load_profiles

    try:
        profiles = load_profiles(directory or state.settings.partners_path)
    except ProfileError as exc:
        raise click.UsageError(str(exc)) from None
    for profile in profiles:
        click.echo(f"{profile.code}: {profile.name} ({len(profile.channels)} channel(s)) ok")


# -- running -------------------------------------------------------------------------


def _serve(app, host: str, port: int, threads: int = 8):
    from waitress.server import create_server

    return create_server(app, host=host, port=port, threads=threads, ident="kontor")


@main.command()
@click.option("--demo", is_flag=True, help="Load demo partners, catalog, prices and users first.")
@click.option("--host", help="Listen address (default from settings).")
@click.option("--port", type=int, help="Port of the portal, ops console, API and AS2 endpoint.")
@pass_state
def run(state: _State, demo: bool, host: str | None, port: int | None) -> None:
    """The whole hub in one process: portal, ops, API, AS2, SFTP mailboxes and a worker."""
    from hub.db import upgrade

    settings = state.settings
    upgrade(settings.database)
    for line in _load_partners(settings):
        log.info("partners: %s", line)
    session_factory = _session_factory(settings)
    if demo:
        from hub.demo import load_demo

        with session_factory() as session:
            load_demo(session, settings)
            session.commit()
        _prepare_demo_folders(settings, session_factory)

    from extranet import create_app
    from hub.worker import Worker

    app = create_app(settings, session_factory=session_factory)
    worker = Worker(settings, session_factory, name="embedded")
    worker_thread = threading.Thread(target=worker.run, name="worker", daemon=True)
    worker_thread.start()
    mailbox = _start_mailboxes(settings, session_factory)
    server = _serve(app, host or settings.web_host, port if port is not None else settings.web_port)
    base = f"http://{server.effective_host}:{server.effective_port}"
    _banner(settings, base, demo, mailbox)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        worker.stop_event.set()
        if mailbox is not None:
            mailbox.stop()
        worker_thread.join(timeout=10)


def _prepare_demo_folders(settings: Settings, session_factory) -> None:
    from sqlalchemy import select

    from hub.models import Channel
    from hub.settings import BASE_DIR

    with session_factory() as session:
        for channel in session.scalars(select(Channel).where(Channel.kind == "folder")):
            for key in ("inbound", "outbound"):
                value = (channel.settings or {}).get(key)
                if value:
                    path = Path(value)
                    (path if path.is_absolute() else BASE_DIR / path).mkdir(parents=True, exist_ok=True)


def _start_mailboxes(settings: Settings, session_factory):
    """The hosted SFTP mailbox server, when enabled and available in this build."""
    if not settings.sftp_enabled:
        return None
    try:
        from hub.mailboxes import start_mailbox_server
    except ImportError:
        log.warning("hosted SFTP mailboxes are not available in this build")
        return None
    return start_mailbox_server(settings, session_factory)


def _banner(settings: Settings, base: str, demo: bool, mailbox) -> None:
    click.echo("")
    click.echo("Kontor is running.")
    click.echo(f"  portal       {base}/")
    click.echo(f"  ops console  {base}/ops")
    click.echo(f"  partner API  {base}/api/v1")
    click.echo(f"  AS2          {base}/as2")
    click.echo(f"  health       {base}/healthz")
    if mailbox is not None:
        click.echo(f"  SFTP         sftp://{settings.sftp_host}:{mailbox.port}  (hosted mailboxes)")
    click.echo(f"  database     {_safe_url(settings.database)}")
    if demo:
        from hub.demo import DEMO_PASSWORD, DEMO_USERS

        click.echo("")
        click.echo(f"Demo sign-ins (password {DEMO_PASSWORD}):")
        for email, name, code, role in DEMO_USERS:
            click.echo(f"  {email:28} {role:12} {code or 'operations'}")
        click.echo("")
        click.echo("Try the EDI road: copy an ORDERS file into var/partners/ACME/in/;")
        click.echo("the ORDRSP appears in var/partners/ACME/out/ and the order in the portal.")
    click.echo("Stop with Ctrl+C.")
    sys.stdout.flush()


@main.command()
@click.option("--host", help="Listen address (default from settings).")
@click.option("--port", type=int, help="Port (default from settings).")
@click.option("--threads", type=int, default=8, show_default=True)
@pass_state
def web(state: _State, host: str | None, port: int | None, threads: int) -> None:
    """Serve the portal, ops console, API and AS2 endpoint (no worker)."""
    from extranet import create_app

    settings = state.settings
    app = create_app(settings)
    server = _serve(app, host or settings.web_host, port if port is not None else settings.web_port, threads)
    click.echo(f"serving on http://{server.effective_host}:{server.effective_port}")
    server.run()


@main.command()
@click.option("--once", is_flag=True, help="Work until nothing is due, then exit.")
@click.option("--no-poll", is_flag=True, help="Leave the periodic duties (polling, alerts, retention) to other nodes; expired leases are still released.")
@click.option("--name", help="Worker name in message traces (default host:pid:random).")
@click.option("--one-by-one", is_flag=True,
              help="Apply every message through the pipeline in its own transaction, plain new orders too "
                   "(no batch road; slower, for diagnosis).")
@pass_state
def worker(state: _State, once: bool, no_poll: bool, name: str | None, one_by_one: bool) -> None:
    """Claim and process messages; any number may run against PostgreSQL."""
    import signal

    from hub.worker import Worker

    settings = state.settings
    w = Worker(settings, _session_factory(settings), name=name, batch_road=not one_by_one)
    if once:
        if not no_poll:
            w.tick()
        click.echo(f"{w.drain()} message(s) done")
        return
    signal.signal(signal.SIGTERM, lambda *_: w.stop_event.set())
    try:
        w.run(poll=not no_poll)
    except KeyboardInterrupt:
        w.stop_event.set()


@main.group()
def demo() -> None:
    """Demo data."""


@demo.command("load")
@pass_state
def demo_load(state: _State) -> None:
    """Load the demo catalog, prices and users (after `kontor partners load`)."""
    from hub.demo import load_demo

    settings = state.settings
    with _session_factory(settings)() as session:
        for line in load_demo(session, settings):
            click.echo(line)
        session.commit()


# -- catalogue, contract prices, assortments ---------------------------------------------


def _load_file(state: _State, loader, path: Path, noun: str, **options) -> None:
    """Run a catalogue loader; its errors one a line (``FILE: line N column C: message``), exit 1."""
    from hub.catalog_load import LoadError

    with _session_factory(state.settings)() as session:
        try:
            result = loader(session, path, **options)
        except LoadError as exc:
            for error in exc.errors:
                click.echo(error)
            click.echo(f"{path.name}: {len(exc.errors)} error(s); nothing was loaded", err=True)
            sys.exit(1)
    click.echo(f"{path.name}: {result.summary(noun)}"
               + (f" ({', '.join(result.partners)})" if result.partners else ""))


@main.group()
def catalog() -> None:
    """The product catalogue."""


@catalog.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_state
def catalog_load(state: _State, file: Path) -> None:
    """Create or update products by SKU from a CSV file (all rows or none).

    \b
    Columns: sku, name, list_price (required); gtin, description, category,
    unit, currency, tax_rate, stock (empty: not tracked), active (yes/no).
    """
    from hub.catalog_load import load_products

    _load_file(state, load_products, file, "products")


@main.group()
def prices() -> None:
    """Partners' contract prices."""


@prices.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="The file is the whole price list of the partners it names:"
              " their other prices are removed.")
@pass_state
def prices_load(state: _State, file: Path, replace: bool) -> None:
    """Create or update contract prices from a CSV file (all rows or none).

    \b
    Columns: partner, sku, price (required); currency, min_quantity (a
    quantity break, default 1), valid_from, valid_to (YYYY-MM-DD, inclusive).
    """
    from hub.catalog_load import load_prices

    _load_file(state, load_prices, file, "prices", replace=replace)


@main.group()
def assortment() -> None:
    """Partners' assortments (the products a partner may see and order)."""


@assortment.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_state
def assortment_load(state: _State, file: Path) -> None:
    """Replace the assortments of the partners named in a CSV file (columns partner, sku or category).

    Those partners see only these products and categories from now on.
    """
    from hub.catalog_load import load_assortment

    _load_file(state, load_assortment, file, "assortment entries")


@assortment.command("open")
@click.argument("partner")
@pass_state
def assortment_open(state: _State, partner: str) -> None:
    """Let PARTNER see the whole catalogue again."""
    from hub.catalog_load import open_assortment

    with _session_factory(state.settings)() as session:
        try:
            found = open_assortment(session, partner)
        except LookupError as exc:
            raise click.UsageError(str(exc)) from None
        click.echo(f"{found.code}: sees the whole catalogue")


# -- edi -------------------------------------------------------------------------------


@main.group()
def edi() -> None:
    """The translator: validate, translate and render EDI files (no database needed)."""


def _strictness(leniencies: tuple[str, ...]):
    from edi.options import Strictness

    try:
        return Strictness.from_names(leniencies)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--lenient") from None


@edi.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--lenient", "leniencies", multiple=True, metavar="NAME",
              help="Allow a named leniency (repeatable), e.g. missing-unz, utf8-as-unoc.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal for large files).")
def edi_validate(files: tuple[str, ...], leniencies: tuple[str, ...], progress: bool | None) -> None:
    """Check EDIFACT or UBL files; exit 0 when every file is valid, 1 otherwise.

    \b
    Each problem is printed on its own line as
      FILE: segment N (TAG) element E[.C]: message
    or, for a problem that has no segment position,
      FILE: message REF: message      (REF: the UNH message reference)
      FILE: interchange: message      (the interchange as a whole)
    warnings end in "(warning)".
    """
    from edi.translate import validate_file

    strictness = _strictness(leniencies)
    bad = 0
    for name in files:
        size = Path(name).stat().st_size
        show = progress if progress is not None else (sys.stderr.isatty() and size > 5_000_000)
        if show:
            from tqdm import tqdm

            with tqdm(total=size, unit="B", unit_scale=True, desc=Path(name).name, file=sys.stderr) as bar:
                issues, messages = validate_file(Path(name), strictness=strictness, on_progress=bar.update)
        else:
            issues, messages = validate_file(Path(name), strictness=strictness)
        errors = [i for i in issues if i.is_error]
        for issue in issues:
            click.echo(issue.format(name))
        if errors:
            bad += 1
        elif messages == 0:
            click.echo(f"{name}: interchange: no message found")
            bad += 1
    sys.exit(1 if bad else 0)


_OUT_OPTION = click.option(
    "--out", "out_dir", type=click.Path(file_okay=False), default=None,
    help="UBL only: write one XML file per document into this folder (needed for more than one).",
)


def _ubl_name(index: int, document: object) -> str:
    """``1-Invoice-INV-2026-000001.xml``: position, type and number, safe as a file name."""
    import re

    number = re.sub(r"[^A-Za-z0-9._-]+", "_", str(getattr(document, "number", "") or ""))[:60].strip("._")
    return f"{index}-{type(document).__name__}{'-' + number if number else ''}.xml"


_CHECK_OPTION = click.option(
    "--check/--no-check", "check", default=True, show_default=True,
    help="UBL only: validate what was rendered (UBL 2.1 XSD and, for invoices, EN 16931) before writing it.",
)


def _write_ubl(file: str, documents: list, out_dir: str | None, check: bool = True) -> bool:
    """Render each document as UBL: one document to stdout, or one file each into ``out_dir``.

    An XML file holds one document, so several documents without ``out_dir``
    are refused (a UsageError) instead of being joined into something that is
    not well-formed. A document UBL cannot express is reported on stderr as
    ``FILE: document N (TYPE NUMBER): reason``. With ``check`` each rendered
    document is validated as a received one would be (:func:`edi.ubl.validate_ubl`:
    XSD, EN 16931); its issues are printed in the ``kontor edi validate`` line
    format (``FILE: PATH: [RULE] message``, FILE being the output file when
    there is one) and, when one is an error, the document is not written.
    Returns True when any document was not written.
    """
    from edi.errors import EdiError
    from edi.translate import render
    from edi.ubl import validate_ubl

    if len(documents) > 1 and out_dir is None:
        raise click.UsageError(
            f"{file}: {len(documents)} documents, and one UBL XML file holds one; give --out FOLDER"
            " to write one file per document"
        )
    problems = False
    folder = Path(out_dir) if out_dir is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    for index, document in enumerate(documents, start=1):
        try:
            xml = render(document, format="ubl")
        except EdiError as exc:
            what = f"{type(document).__name__} {getattr(document, 'number', '') or ''}".strip()
            click.echo(f"{file}: document {index} ({what}): cannot be written as UBL: {exc}", err=True)
            problems = True
            continue
        target = folder / _ubl_name(index, document) if folder is not None else None
        if check:
            issues = validate_ubl(xml)
            for issue in issues:
                click.echo(issue.format(str(target) if target is not None else file), err=True)
            if any(issue.is_error for issue in issues):
                what = f"{type(document).__name__} {getattr(document, 'number', '') or ''}".strip()
                click.echo(f"{file}: document {index} ({what}): the rendered UBL is not valid (paths above are in it);"
                           " not written (--no-check writes it anyway)", err=True)
                problems = True
                continue
        if target is None:
            sys.stdout.buffer.write(xml if xml.endswith(b"\n") else xml + b"\n")
        else:
            target.write_bytes(xml)
            click.echo(str(target))
    return problems


def _remember_progress(ctx: click.Context, _param: click.Parameter, value: bool | None) -> None:
    ctx.meta["kontor.edi.progress"] = value


def _translate_file(file: str, strictness):
    """edi.translate.translate_file (EDIFACT streamed) with the progress bar of 'edi validate'.

    The bar goes to stderr: forced by --progress / --no-progress, else shown
    on a terminal for files over 5 MB. A file that cannot be read exits 1.
    """
    from edi.errors import EdiError
    from edi.translate import translate_file

    progress = click.get_current_context().meta.get("kontor.edi.progress")
    size = Path(file).stat().st_size
    show = progress if progress is not None else (sys.stderr.isatty() and size > 5_000_000)
    try:
        if show:
            from tqdm import tqdm

            with tqdm(total=size, unit="B", unit_scale=True, desc=Path(file).name, file=sys.stderr) as bar:
                return translate_file(file, strictness=strictness, on_progress=bar.update, keep_messages=False)
        return translate_file(file, strictness=strictness, keep_messages=False)
    except EdiError as exc:
        click.echo(f"{file}: {exc}", err=True)
        sys.exit(1)


@edi.command("translate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--progress/--no-progress", default=None, expose_value=False, callback=_remember_progress,
              help="Progress bar (default: on a terminal for large files).")
@click.option("--format", "fmt", type=click.Choice(["json", "ubl"]), default="json", show_default=True)
@click.option("--lenient", "leniencies", multiple=True, metavar="NAME")
@_OUT_OPTION
@_CHECK_OPTION
def edi_translate(file: str, fmt: str, leniencies: tuple[str, ...], out_dir: str | None, check: bool) -> None:
    """Print the canonical documents of an EDIFACT or UBL file (JSON, or UBL XML)."""
    from edi.documents import to_dict
    from edi.translate import translate

    if out_dir is not None and fmt != "ubl":
        raise click.UsageError("--out writes UBL files; use it with --format ubl")
    translation = _translate_file(file, _strictness(leniencies))
    problems = False
    for issue in translation.all_issues():
        click.echo(issue.format(file), err=True)
        problems = problems or issue.is_error
    documents = [m.document for m in translation.messages if m.document is not None]
    if fmt == "json":
        data = [to_dict(d) for d in documents]
        click.echo(json.dumps(data[0] if len(data) == 1 else data, indent=2, ensure_ascii=False))
    else:
        problems = _write_ubl(file, documents, out_dir, check) or problems
    sys.exit(1 if problems or not documents else 0)


@edi.command("render")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["edifact", "ubl"]), default="edifact", show_default=True)
@click.option("--sender", default="4000001000005", show_default=True, help="UNB sender id.")
@click.option("--sender-qualifier", default="14", show_default=True)
@click.option("--recipient", default="RECIPIENT", show_default=True, help="UNB recipient id.")
@click.option("--recipient-qualifier", default="14", show_default=True)
@click.option("--reference", default="1", show_default=True, help="Interchange control reference.")
@click.option("--directory", type=click.Choice(["D96A", "D01B"]), default="D96A", show_default=True)
@click.option("--subset", type=click.Choice(["EANCOM", "UN"]), default="EANCOM", show_default=True)
@click.option("--charset", default="UNOC", show_default=True)
@_OUT_OPTION
@_CHECK_OPTION
def edi_render(file: str, fmt: str, sender: str, sender_qualifier: str, recipient: str,
               recipient_qualifier: str, reference: str, directory: str, subset: str, charset: str,
               out_dir: str | None, check: bool) -> None:
    """Render a canonical JSON document (or a list of them) as EDIFACT or UBL.

    EDIFACT puts a list in one interchange; UBL writes one XML document per
    file, so a list needs ``--out FOLDER``. The interchange is read back and
    validated against its directory before it is printed: when it is not
    valid EDIFACT (a value too long for its element...), its errors are
    printed as ``kontor edi validate`` prints them, nothing else, and the
    exit status is 1.
    """
    from edi.documents import DocumentFormatError, from_dict
    from edi.errors import EdiError
    from edi.translate import check_rendered, render_edifact

    if out_dir is not None and fmt != "ubl":
        raise click.UsageError("--out writes UBL files; use it with --format ubl")
    try:
        data = json.loads(Path(file).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise click.UsageError(f"{file}: not JSON: {exc}") from None
    items = data if isinstance(data, list) else [data]
    try:
        documents = [from_dict(item) for item in items]
        if fmt == "ubl":
            sys.exit(1 if _write_ubl(file, documents, out_dir, check) else 0)
        else:
            out = render_edifact(documents, sender=sender, sender_qualifier=sender_qualifier,
                                 recipient=recipient, recipient_qualifier=recipient_qualifier,
                                 control_ref=reference, directory=directory, subset=subset, charset=charset)
    except DocumentFormatError as exc:
        click.echo(f"{file}: {exc}", err=True)
        sys.exit(1)
    except EdiError as exc:
        for issue in exc.issues or []:
            click.echo(issue.format(file), err=True)
        click.echo(f"{file}: {exc}", err=True)
        sys.exit(1)
    issues = check_rendered(out)
    for issue in issues:
        click.echo(issue.format(file), err=True)
    if any(issue.is_error for issue in issues):
        click.echo(f"{file}: the rendered interchange is not valid EDIFACT (positions above are in it); not printed",
                   err=True)
        sys.exit(1)
    sys.stdout.buffer.write(out)
    if not out.endswith(b"\n"):
        sys.stdout.buffer.write(b"\n")


# -- operations users --------------------------------------------------------------------


@main.command("ops-users")
@click.argument("email", required=False)
@click.option("--role", type=click.Choice(["viewer", "operator", "admin"]),
              help="Create the user, or change its role: viewer reads, operator repairs, admin manages.")
@click.option("--name", help="The person's name (new users: the part before @ when left out).")
@click.option("--password-file", type=click.File("r"),
              help="Read the password from the first line of this file ('-' for standard input) instead of asking.")
@click.option("--no-password", is_flag=True,
              help="Set no password: the person sets one through the sign-in page's reset link.")
@click.option("--deactivate", is_flag=True, help="Deactivate the user (it keeps its name in the audit log).")
@pass_state
def ops_users(state: _State, email: str | None, role: str | None, name: str | None, password_file,
              no_password: bool, deactivate: bool) -> None:
    """List operations users, or create/update the one with EMAIL.

    \b
    kontor ops-users                                  list them
    kontor ops-users ana@example.com --role admin     create or update (asks for the password)
    kontor ops-users ana@example.com --deactivate
    The password is asked twice without echo, or read from --password-file; it is never printed.
    """
    from sqlalchemy import func, select

    from hub.accounts import OpsUserError, deactivate_ops_user, save_ops_user
    from hub.accounts import ops_users as list_ops_users
    from hub.models import User

    actor = "kontor ops-users"
    with _session_factory(state.settings)() as session:
        if email is None:
            if role or name or password_file or no_password or deactivate:
                raise click.UsageError("give the user's EMAIL")
            for user in list_ops_users(session):
                click.echo(f"{user.email:40} {user.role.removeprefix('ops_'):9} "
                           f"{'active' if user.active else 'inactive'}  {user.name}")
            return
        existing = session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
        try:
            if deactivate:
                if role or name or password_file or no_password:
                    raise click.UsageError("--deactivate takes no other option")
                if existing is None or existing.partner_id is not None:
                    raise click.UsageError(f"{email}: no operations user with this address")
                deactivate_ops_user(session, actor, existing.id)
                click.echo(f"{existing.email}: deactivated")
                return
            if existing is None and role is None:
                raise click.UsageError(f"{email}: a new user needs --role viewer, operator or admin")
            password: str | None = None
            if password_file is not None:
                password = password_file.readline().rstrip("\r\n")
                if not password:
                    raise click.UsageError("--password-file: the first line is empty")
            elif not no_password and (existing is None or not (role or name)):
                password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
            wanted = role or (existing.role if existing is not None else "viewer")
            user, created = save_ops_user(session, actor, email, role=wanted, name=name, password=password)
        except OpsUserError as exc:
            session.rollback()
            raise click.UsageError(str(exc)) from None
        click.echo(f"{user.email}: {'created' if created else 'updated'} as {user.role.removeprefix('ops_')}"
                   + ("" if password is not None or user.password_hash else
                      " (no password yet: the reset link of the sign-in page sets one)"))


__import__("hub.retention_cli").retention_cli.register(main)  # kontor retention
from hub.api_cli import register as _register_api; _register_api(main)  # noqa: E402,E702  kontor api


if __name__ == "__main__":  # pragma: no cover
    main()

"""A hub with one EDI partner on folders, the demo catalog and prices, on the test's database."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from hub.demo import load_demo
from hub.partners import load_profiles, sync_partners
from hub.worker import Worker

DATA = Path(__file__).resolve().parents[1] / "data"

PARTNER_TOML = """
code = "ACME"
name = "Acme Distribution GmbH"
country = "DE"
currency = "EUR"

[[identifiers]]
scheme = "GLN"
value = "4012345000009"

[documents]
directory = "D96A"
subset = "EANCOM"
acknowledgements = {acks}
order_response = true

[[channels]]
name = "drop"
kind = "folder"
inbound = "{root}/in"
outbound = "{root}/out"
settle_seconds = 0
"""


@dataclass
class HubEnv:
    settings: object
    session_factory: object
    inbound: Path
    outbound: Path

    def worker(self, name: str = "test-worker", **options) -> Worker:
        return Worker(self.settings, self.session_factory, name=name, **options)

    def drop(self, name: str, data: bytes) -> Path:
        path = self.inbound / name
        path.write_bytes(data)
        return path

    def run(self) -> int:
        """One polling tick and every due message worked off."""
        worker = self.worker()
        worker.tick(force=True)
        return worker.drain()

    def outbound_files(self) -> list[Path]:
        return sorted(p for p in self.outbound.iterdir() if p.is_file())


def make_env(settings, session_factory, acks='["CONTRL", "APERAK"]') -> HubEnv:
    root = settings.var_path / "partners" / "ACME"
    (root / "in").mkdir(parents=True)
    (root / "out").mkdir(parents=True)
    settings.partners_path.mkdir(parents=True, exist_ok=True)
    (settings.partners_path / "acme.toml").write_text(PARTNER_TOML.format(root=root, acks=acks))
    with session_factory() as session:
        sync_partners(session, load_profiles(settings.partners_path))
        load_demo(session, settings)
        session.commit()
    return HubEnv(settings, session_factory, root / "in", root / "out")


@pytest.fixture
def hub_env(settings, session_factory) -> HubEnv:
    return make_env(settings, session_factory)


@pytest.fixture
def orders_bytes() -> bytes:
    return (DATA / "orders_acme_d96a.edi").read_bytes()

"""order -> response -> despatch -> invoice, with messages and the partner's acknowledgements."""

from __future__ import annotations

from sqlalchemy import select

from edi.documents import Acknowledgement, MessageAck
from edi.translate import render_edifact
from hub import backoffice
from hub.chain import chain_for_message, chain_for_order
from hub.models import Message, Order
from hub.states import State


def test_the_whole_chain(hub_env, orders_bytes):
    hub_env.drop("po.edi", orders_bytes)
    hub_env.run()
    with hub_env.session_factory() as session:
        order = session.scalar(select(Order))
        backoffice.ship_order(session, hub_env.settings, order.id, actor="erp")
        backoffice.invoice_order(session, hub_env.settings, order.id, actor="erp")
    hub_env.run()
    with hub_env.session_factory() as session:
        invoic = session.scalar(select(Message).where(Message.document_type == "INVOIC"))
        assert invoic.state == State.DELIVERED
        ic_ref = invoic.interchange_ref
    # the partner acknowledges our INVOIC with a CONTRL
    contrl = Acknowledgement(kind="CONTRL", number="1", issue_date=__import__("datetime").date.today(),
                             interchange_ref=ic_ref, interchange_sender="4000001000005",
                             interchange_recipient="4012345000009", action="7",
                             messages=[MessageAck(reference="1", message_type="INVOIC", action="7")])
    hub_env.drop("contrl.edi", render_edifact([contrl], sender="4012345000009", sender_qualifier="14",
                                              recipient="4000001000005", recipient_qualifier="14",
                                              control_ref="ACK0001", subset="UN"))
    hub_env.run()
    with hub_env.session_factory() as session:
        order = session.scalar(select(Order))
        chain = chain_for_order(session, order)
        kinds = [(link.kind, [m.document_type for m in link.messages]) for link in chain.links]
        assert kinds == [("order", ["ORDERS"]), ("order_response", ["ORDRSP"]),
                         ("despatch_advice", ["DESADV"]), ("invoice", ["INVOIC"])]
        invoice_link = chain.links[-1]
        assert [a.document_type for a in invoice_link.acknowledgements] == ["CONTRL"]
        assert invoice_link.messages[0].state == State.ACKNOWLEDGED
        ack = invoice_link.acknowledgements[0]
        assert chain_for_message(session, ack).order.id == order.id
        assert chain.as_dict()["links"][3]["acknowledgements"][0]["type"] == "CONTRL"

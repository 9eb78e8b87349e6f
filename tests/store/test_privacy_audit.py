"""The scrub on both backends: audit entries naming an erased customer's contact points keep
who, what and when, and lose the person."""

from __future__ import annotations

from domain.audit import Actor
from domain.customers import CustomerUpsert
from store.store import Store
from tests.store.conftest import T0


def test_the_scrub_cuts_the_customer_out_of_audit_entries_and_keeps_them(store: Store) -> None:
    store.customers.upsert(
        CustomerUpsert(customer_id="c_1", email="ada_l@example.com", phone="+4915112345678"), T0
    )
    agent = Actor(name="sam", role="support", address="10.0.0.7")
    store.audit.record(agent, "suppression.remove", "email/ADA_L@Example.com", T0)
    store.audit.record(agent, "consent.change", "c_1", T0, {"source": "call", "email": False})
    store.audit.record(agent, "case.add_note", "other-case", T0, {"text": "mail +4915112345678"})
    store.audit.record(agent, "suppression.remove", "email/adaXl@example.com", T0)  # not hers
    store.privacy.begin("c_1", T0)
    store.privacy.scrub("c_1", T0)
    entries = store.audit.page().entries
    assert [(e.actor, e.role, e.action, e.at, e.address) for e in entries] == [
        ("sam", "support", action, T0, "10.0.0.7")
        for action in (
            "suppression.remove",
            "consent.change",
            "case.add_note",
            "suppression.remove",
        )
    ]
    assert [(e.target, e.details) for e in entries] == [
        ("email/[erased]", {}),
        ("c_1", {"source": "call", "email": False}),
        ("other-case", {"text": "mail [erased]"}),
        ("email/adaXl@example.com", {}),
    ]

"""The store facade: one engine, one repository per aggregate."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Engine

from store.audit import AuditLog
from store.callbacks import CallbackRepository
from store.cases import CaseRepository
from store.console_sessions import ConsoleSessionRepository
from store.customers import CustomerRepository
from store.db import make_engine
from store.deliveries import DeliveryQueue
from store.event_log import EventLog
from store.journeys import JourneyRepository
from store.keys import KeyRepository
from store.migrate import upgrade_engine
from store.outbox import Outbox
from store.privacy import PrivacyRepository
from store.projections import ProjectionRepository
from store.reports import ReportRepository
from store.runs import RunRepository
from store.segments import SegmentRepository
from store.send_ledger import SendLedger
from store.suppression import SuppressionList
from store.surveys import SurveyRepository


class Store:
    """Every repository over one engine; each method runs its own short transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.customers = CustomerRepository(engine)
        self.events = EventLog(engine)
        self.deliveries = DeliveryQueue(engine)
        self.journeys = JourneyRepository(engine)
        self.runs = RunRepository(engine)
        self.outbox = Outbox(engine)
        self.reports = ReportRepository(engine)
        self.projections = ProjectionRepository(engine)
        self.segments = SegmentRepository(engine)
        self.ledger = SendLedger(engine)
        self.suppressions = SuppressionList(engine)
        self.cases = CaseRepository(engine)
        self.callbacks = CallbackRepository(engine)
        self.surveys = SurveyRepository(engine)
        self.keys = KeyRepository(engine)
        self.console_sessions = ConsoleSessionRepository(engine)
        self.audit = AuditLog(engine)
        self.privacy = PrivacyRepository(engine)

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Store:
        """Connect to `url` (sqlite:///path or postgresql://...), upgrading the schema first."""
        engine = make_engine(url)
        if migrate:
            upgrade_engine(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

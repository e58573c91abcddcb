"""Unit of work: one transaction, the repositories over it, and the only commit."""

from __future__ import annotations

from types import TracebackType

from sqlmodel.ext.asyncio.session import AsyncSession

from app.db.engine import Database
from app.db.repositories import (
    CustomerRepository,
    IdempotencyRepository,
    InvoiceRepository,
    LedgerRepository,
    PaymentRepository,
    RefundRepository,
    SessionRepository,
    TenantRepository,
    WalletRepository,
)
from app.kit.deadline import committing


class UnitOfWork:
    """`write=True` for work that may move money: on SQLite it takes the write lock at BEGIN."""

    def __init__(self, db: Database, *, write: bool = False) -> None:
        self.db = db
        self.write = write

    async def __aenter__(self) -> UnitOfWork:
        engine = self.db.write_engine if self.write else self.db.engine
        self.session = AsyncSession(engine, expire_on_commit=False, autoflush=False)
        sqlite = self.db.is_sqlite
        self.tenants = TenantRepository(self.session, is_sqlite=sqlite)
        self.customers = CustomerRepository(self.session, is_sqlite=sqlite)
        self.wallets = WalletRepository(self.session, is_sqlite=sqlite)
        self.invoices = InvoiceRepository(self.session, is_sqlite=sqlite)
        self.payments = PaymentRepository(self.session, is_sqlite=sqlite)
        self.refunds = RefundRepository(self.session, is_sqlite=sqlite)
        self.ledger = LedgerRepository(self.session, is_sqlite=sqlite)
        self.sessions = SessionRepository(self.session, is_sqlite=sqlite)
        self.idempotency = IdempotencyRepository(self.session, is_sqlite=sqlite)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Closing rolls back whatever was not committed; loaded rows stay readable.
        await self.session.close()

    async def flush(self) -> None:
        await self.session.flush()

    async def commit(self) -> None:
        committing()  # a commit is never cancelled halfway by a time limit (app.kit.deadline)
        await self.session.commit()

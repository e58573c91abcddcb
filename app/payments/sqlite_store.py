"""`PaymentStore` on SQLite: the ORM through one `UnitOfWork` opened with the write lock
(`BEGIN IMMEDIATE`), held from the read to the commit, so the rows never move under a
payment. `read` claims a free idempotency key (the insert stands only if the payment
commits); `write` and `keep_refusal` answer "moved" only for a key another request had
already answered, as the PostgreSQL store does.
"""

from __future__ import annotations

from datetime import datetime
from types import TracebackType

from app.auth.tokens import session_ended
from app.db.engine import Database
from app.db.models import CUSTOMER_SUSPENDED, Payment
from app.db.uow import UnitOfWork
from app.events import shapes
from app.events.outbox import record
from app.ledger.entries import payment_entries
from app.payments.command import PayInvoice
from app.payments.receipt import Settlement, receipt_of, success_outcome
from app.payments.rules import payment_columns, status_after
from app.payments.store import Snapshot, Write


class SqliteStore:
    def __init__(self, db: Database) -> None:
        self.unit = UnitOfWork(db, write=True)

    async def __aenter__(self) -> SqliteStore:
        self.uow = await self.unit.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.unit.__aexit__(exc_type, exc, tb)  # rolls back what was not committed

    async def read(self, command: PayInvoice, wallet_currency: str | None) -> Snapshot:
        uow = self.uow
        if command.session_jti is not None:
            found = await uow.sessions.get_with_customer_status(command.session_jti)
            if found is None or session_ended(found[0].revoked_at, found[0].expires_at):
                return Snapshot(False, None, None, None, None, session_ended=True)
            if found[1] == CUSTOMER_SUSPENDED:
                return Snapshot(False, None, None, None, None, suspended=True)
        customer = await uow.customers.get(command.tenant_id, command.customer_id)
        if customer is None:
            return Snapshot(False, None, None, None, None)
        key = command.idempotency_key
        record = None
        if key is not None:  # claimed: the key's insert stands only if this payment commits
            fingerprint = command.fingerprint()
            record = await uow.idempotency.claim(customer.tenant_id, customer.id, key, fingerprint)
        invoice = await uow.invoices.get_by_number(customer.tenant_id, command.invoice_number)
        wallet = None
        if wallet_currency is not None:
            wallet = await uow.wallets.get_for_update(customer.id, wallet_currency)
        if record is None or record.outcome is None:  # free, or claimed by this payment
            return Snapshot(True, invoice, wallet, None, None)
        return Snapshot(True, invoice, wallet, record.fingerprint, record.outcome)

    async def write(self, write: Write) -> Settlement | None:
        uow = self.uow
        command, invoice, wallet, plan, now = (
            write.command,
            write.invoice,
            write.wallet,
            write.plan,
            write.now,
        )
        if write.fingerprint is not None and not await self._claim(command, write.fingerprint):
            return None
        wallet.balance -= plan.debit
        invoice.amount_paid += plan.amount
        invoice.discount_applied += plan.discount
        invoice.status = status_after(invoice.balance_due == 0)
        payment = Payment(**payment_columns(write.payment_id, command, invoice, wallet, plan, now))
        uow.payments.add(payment)
        uow.wallets.add(wallet)
        uow.invoices.add(invoice)
        await uow.flush()  # the payment row first: ledger entries refer to it
        uow.ledger.add_entries(payment_entries(payment, wallet, now))
        await uow.flush()
        receipt = receipt_of(payment.id, invoice, wallet, plan.amount)
        if write.fingerprint is not None:
            await self._keep(command, success_outcome(receipt))
        data = shapes.payment_succeeded(payment, invoice, wallet)
        await record(uow.session, command.tenant_id, "payment.succeeded", data, now)
        await uow.commit()
        return Settlement(receipt, lambda: (payment, invoice, wallet))

    async def keep_refusal(
        self, command: PayInvoice, fingerprint: str, outcome: str, now: datetime
    ) -> bool:
        if not await self._claim(command, fingerprint):
            return False
        await self._keep(command, outcome)
        await self.uow.commit()
        return True

    async def _claim(self, command: PayInvoice, fingerprint: str) -> bool:
        """Whether the key is this payment's: claimed by `read` (or now), not answered by
        another request (as on PostgreSQL, a taken key makes the caller decide again)."""
        key = command.idempotency_key
        assert key is not None
        held = await self.uow.idempotency.claim(
            command.tenant_id, command.customer_id, key, fingerprint
        )
        return held is None or held.outcome is None

    async def _keep(self, command: PayInvoice, outcome: str) -> None:
        """The outcome on the record claimed for this payment."""
        key = command.idempotency_key
        assert key is not None
        await self.uow.idempotency.save_outcome(
            command.tenant_id, command.customer_id, key, outcome
        )

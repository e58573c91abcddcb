"""Shared scenery for tests, one small module a concern, re-exported here so a test
imports it all from `tests.support`:

clients     the app over a test database, `gql`, `rest_pay`, `test_settings`
world       `make_world`, `invoice`, the `given_*` builders, the books of every check
documents   the GraphQL documents (PAY, the admin mutations, subscriptions)
keys        the test secret, asymmetric keys, tokens signed by hand
bad_tokens  every way an Authorization header is wrong, by name
snapshots   what the database holds, to prove what a request wrote
websocket   a graphql-transport-ws client and the app served in this process
(live, figures, fuzz_world, cli, leaks: imported by module, for the few that need them)
"""

from tests.support.bad_tokens import BAD_HEADERS, Header
from tests.support.clients import (
    REST_PAY,
    SEED_REQUEST,
    client_for,
    error_codes,
    gql,
    gql_on,
    pay_through_graphql,
    pay_with,
    rest_pay,
    test_settings,
)
from tests.support.documents import (
    CREATE_CUSTOMER,
    CREATE_INVOICE,
    INVOICE_UPDATED,
    PAY,
    PAY_OUTCOME,
    PAYMENTS,
    REVOKE,
    TOP_UP,
    VIEWER,
    VOID,
    WALLET_UPDATED,
)
from tests.support.keys import (
    EC_KEY,
    OTHER_SECRET,
    RSA_KEY,
    SECRET,
    claims_for,
    hs256_by_hand,
    public_pem,
    sign,
)
from tests.support.snapshots import (
    TRANSACTION_CONTROL,
    WalletBooks,
    counting_statements,
    ledger_imbalances,
    snapshot,
    snapshot_all,
    wallet_books,
)
from tests.support.websocket import PROTOCOL, SILENCE_SECONDS, GraphQLWs, Served, amount, serving
from tests.support.world import (
    BOLAS,
    DEMO_CLONE,
    ELSEWHERE,
    MISSING,
    OPEN,
    OTHER_CLONE,
    PAID,
    VOIDED,
    YEN,
    World,
    given_ada_session,
    given_books,
    invoice,
    make_payment,
    make_world,
    suspend,
    token_for,
)

__all__ = [
    "BAD_HEADERS",
    "BOLAS",
    "CREATE_CUSTOMER",
    "CREATE_INVOICE",
    "DEMO_CLONE",
    "EC_KEY",
    "ELSEWHERE",
    "INVOICE_UPDATED",
    "MISSING",
    "OPEN",
    "OTHER_CLONE",
    "OTHER_SECRET",
    "PAID",
    "PAY",
    "PAYMENTS",
    "PAY_OUTCOME",
    "PROTOCOL",
    "REST_PAY",
    "REVOKE",
    "RSA_KEY",
    "SECRET",
    "SEED_REQUEST",
    "SILENCE_SECONDS",
    "TOP_UP",
    "TRANSACTION_CONTROL",
    "VIEWER",
    "VOID",
    "VOIDED",
    "WALLET_UPDATED",
    "YEN",
    "GraphQLWs",
    "Header",
    "Served",
    "WalletBooks",
    "World",
    "amount",
    "claims_for",
    "client_for",
    "counting_statements",
    "error_codes",
    "given_ada_session",
    "given_books",
    "gql",
    "gql_on",
    "hs256_by_hand",
    "invoice",
    "ledger_imbalances",
    "make_payment",
    "make_world",
    "pay_through_graphql",
    "pay_with",
    "public_pem",
    "rest_pay",
    "serving",
    "sign",
    "snapshot",
    "snapshot_all",
    "suspend",
    "test_settings",
    "token_for",
    "wallet_books",
]

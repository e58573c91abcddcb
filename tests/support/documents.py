"""The GraphQL documents tests send, once each. A document selects every field its tests
read, so one PAY serves the tests of every union member."""

from __future__ import annotations

PAY = """
mutation Pay($input: PayInvoiceInput!) {
  payInvoice(input: $input) {
    __typename
    ... on PayInvoiceSuccess {
      replayed
      payment {
        id amount { amount currency } walletDebit { amount currency } exchangeRate
        discount { amount currency } reference memo accountingCode idempotencyKey createdAt
      }
      invoice {
        number status total { amount currency } amountPaid { amount currency }
        discountApplied { amount currency } balanceDue { amount currency }
        payments { id amount { amount } }
      }
      wallet { currency balance { amount currency } }
    }
    ... on Error { message code replayed }
    ... on CurrencyNotFound { currency }
    ... on InvoiceNotFound { number }
    ... on InvoiceOwnershipMismatch { number }
    ... on CurrencyMismatch { expected received }
    ... on InvoiceAlreadyPaid { number }
    ... on InvoiceVoid { number }
    ... on WalletNotFound { currency }
    ... on WrongAmount { reason balanceDue { amount currency } }
    ... on InsufficientFunds { balance { amount currency } required { amount currency } }
    ... on IdempotencyKeyReused { key }
  }
}
"""

# Only which member answered: for tests of what stands before the resolver (tokens, limits).
PAY_OUTCOME = """
mutation Pay($input: PayInvoiceInput!) {
  payInvoice(input: $input) { __typename }
}
"""

VIEWER = "query { viewer { id } }"

CREATE_CUSTOMER = """
mutation CreateCustomer($input: CreateCustomerInput!) {
  createCustomer(input: $input) {
    __typename
    ... on Customer { id name email status createdAt wallets { id } }
    ... on Error { message code }
    ... on InvalidInput { field reason }
    ... on CustomerEmailTaken { email }
  }
}
"""

CREATE_INVOICE = """
mutation CreateInvoice($input: CreateInvoiceInput!) {
  createInvoice(input: $input) {
    __typename
    ... on Invoice {
      id number status currency createdAt
      total { amount currency }
      balanceDue { amount }
      dueAt
      earlyPaymentDiscount { percent until }
      customer { id }
      payments { id }
    }
    ... on Error { message code }
    ... on InvalidInput { field reason }
    ... on InvoiceNumberTaken { number }
    ... on CustomerNotFound { customerId }
    ... on CurrencyNotFound { currency }
  }
}
"""

TOP_UP = """
mutation TopUp($input: TopUpWalletInput!) {
  topUpWallet(input: $input) {
    __typename
    ... on Wallet {
      id currency balance { amount currency }
      transactions(first: 1) {
        edges { node { kind amount { amount } balanceAfter { amount } reference } }
      }
    }
    ... on Error { message code }
    ... on InvalidInput { field reason }
    ... on CustomerNotFound { customerId }
    ... on CurrencyNotFound { currency }
  }
}
"""

VOID = """
mutation Void($number: Int!) {
  voidInvoice(number: $number) {
    __typename
    ... on Invoice { number status balanceDue { amount } }
    ... on Error { message code }
    ... on InvoiceNotFound { number }
    ... on InvoiceAlreadyPaid { number }
    ... on InvoiceVoid { number }
    ... on InvoiceHasPayments { number }
  }
}
"""

REVOKE = """
mutation Revoke($jti: String!) {
  revokeSession(jti: $jti) {
    __typename
    ... on RevokeSessionSuccess { jti revokedAt }
    ... on Error { message code }
    ... on SessionNotFound { jti }
  }
}
"""

INVOICE_UPDATED = """
subscription Invoice($number: Int!) {
  invoiceUpdated(number: $number) {
    number status amountPaid { amount } balanceDue { amount currency }
    payments { amount { amount } }
  }
}
"""

WALLET_UPDATED = """
subscription Wallet($currency: String!) {
  walletUpdated(currency: $currency) { currency balance { amount currency } }
}
"""

PAYMENTS = """
subscription {
  payments { id amount { amount currency } invoice { number status } wallet { balance { amount } } }
}
"""

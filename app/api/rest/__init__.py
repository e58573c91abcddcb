"""`POST /api/v1/billing/invoice/pay` (`route`) and its OpenAPI document (`openapi`)."""

"""Webhooks: a tenant's events POSTed, signed, to the endpoints it registers.

urls        the URL rules against SSRF: https, never a private or metadata address
            (checked on save and again at every connection, through `PinnedBackend`)
signing     secrets (`whsec_…`) and the Standard Webhooks signature headers
schedule    when the next attempt is due (WEBHOOK_RETRY_SCHEDULE, with jitter)
endpoints   the service: create, update, delete, rotate, list, deliveries, redeliver
sender      one POST of one delivery and what came back
dispatcher  claims due deliveries (FOR UPDATE SKIP LOCKED), sends them, records each
            attempt, disables an endpoint after 10 failed events, prunes old events
retention   events and their delivery records older than EVENT_RETENTION_DAYS, in batches
"""

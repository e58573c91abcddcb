"""`make bench`: invoicepay's throughput, latency and CPU cost per request against
PostgreSQL's own limit on this machine (see bench/run.py)."""

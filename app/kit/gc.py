"""The served process's garbage collector, tuned for a long-lived server.

Python's cyclic collector walks every tracked object in its oldest generation on each full
collection: after start-up that is the whole schema, the ORM's mappers and every imported
module (a few hundred thousand objects), and a full collection then stalls every request in
flight for tens of milliseconds. `freeze_startup` moves what start-up made into the
permanent generation (`gc.freeze`, as the Python docs advise for servers), so collections
walk only what requests make; objects are still freed by reference counting as before.
Measured with `make bench` (GraphQL payInvoice, 16 clients): see README, Performance.
"""

from __future__ import annotations

import gc


def freeze_startup() -> None:
    """Keep everything alive now out of every later collection. No collection first: it
    would run whatever finalizers are pending inside the running event loop (in tests, of
    connections an earlier app left behind, one of which blocked the loop for good)."""
    gc.freeze()

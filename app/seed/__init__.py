"""Data to try and to measure the service with: the demo tenant (`demo`) and many customers
in bulk (`bulk`)."""

from app.seed.bulk import seed_bulk
from app.seed.demo import DEMO_CLONE_ID, seed_demo

__all__ = ["DEMO_CLONE_ID", "seed_bulk", "seed_demo"]

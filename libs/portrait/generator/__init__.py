"""Synthetic data generator of Portrait: a raw landing zone (clickstream, orders, social, CRM)
driven by latent persons, and the truth behind it (archetypes, identities, future outcomes).

Everything is Spark column expressions over hashed keys: deterministic for a seed,
independent of partitioning, and linear in the scale factor.
"""

from .build import generate

__all__ = ["generate"]

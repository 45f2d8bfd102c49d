"""Identity: every identifier resolved to one `person_id`, and silver tables with it on every row.

The stage (`run`) merges day D into the identity graph and re-resolves only the persons D touches;
`run(..., rebuild=True)` resolves everything. Builders: `graph` (identifiers, links, hubs),
`components` (connected components), `resolution` (identifiers to persons, rows to persons),
`history` (stable ids, the change record), `incremental` (what day D touches), `cleaning`
(anomaly flags).
"""

from portrait.identity.resolution import latest_customers, resolve, with_person_id
from portrait.identity.run import INPUTS, OUTPUTS, RunConf, run

__all__ = ["INPUTS", "OUTPUTS", "RunConf", "latest_customers", "resolve", "run", "with_person_id"]

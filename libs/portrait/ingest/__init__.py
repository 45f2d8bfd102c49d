"""Ingest: landing-zone files and mapped orders exports -> bronze Delta tables, quarantine, audit.

See `portrait.ingest.run` for the stage and `portrait.ingest.mapping` for orders exports read by
configuration (`ingest.mappings`).
"""

from portrait.ingest.mapping import source as mapping_source
from portrait.ingest.mapping import to_orders
from portrait.ingest.run import INPUTS, OUTPUTS, RunConf, run
from portrait.ingest.validate import classify, parse_lines

__all__ = ["INPUTS", "OUTPUTS", "RunConf", "classify", "mapping_source", "parse_lines", "run", "to_orders"]

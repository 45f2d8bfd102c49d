"""Answers to people's questions about a lakehouse: `status` (tables, jobs, champions) and `person`
(one person's portrait, tags, scores with reasons and actions). Only re-exports."""

from portrait.inspect.person import PersonNotFound, find_person, format_person, person_view
from portrait.inspect.status import collect_status, format_status
from portrait.inspect.tables import NOT_AVAILABLE, optional_table, read_optional

__all__ = [
    "NOT_AVAILABLE",
    "PersonNotFound",
    "collect_status",
    "find_person",
    "format_person",
    "format_status",
    "optional_table",
    "person_view",
    "read_optional",
]

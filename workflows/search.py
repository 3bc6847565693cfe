"""The custom search attributes the Web UI filters on (registered by the dev stack).

Values are pseudonymous: states, therapy, disease, centre, dates and counts only.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

PATHWAY_STATE = SearchAttributeKey.for_keyword("PathwayState")
THERAPY = SearchAttributeKey.for_keyword("Therapy")
DISEASE = SearchAttributeKey.for_keyword("Disease")
CENTRE = SearchAttributeKey.for_keyword("Centre")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("NextDeadline")
ESCALATION_LEVEL = SearchAttributeKey.for_int("EscalationLevel")
OVERDUE = SearchAttributeKey.for_bool("Overdue")

#: name → type as the ``temporal`` CLI spells it (``--search-attribute NAME=TYPE``)
REGISTRATION: dict[str, str] = {
    "PathwayState": "Keyword",
    "Therapy": "Keyword",
    "Disease": "Keyword",
    "Centre": "Keyword",
    "NextDeadline": "Datetime",
    "EscalationLevel": "Int",
    "Overdue": "Bool",
}

"""The custom search attributes the Web UI filters on (registered by the dev stack).

Values are pseudonymous: states, therapy, disease, centre, dates and counts only.
Pathways and centres share ``Centre``; filter on ``WorkflowType`` to tell them apart
(``WorkflowType = "CentreWorkflow" AND CentreReadyCarT = false``).
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
# centre workflows: readiness per therapy and the soonest expiry of their evidence
CENTRE_READY_CART = SearchAttributeKey.for_bool("CentreReadyCarT")
CENTRE_READY_MSC = SearchAttributeKey.for_bool("CentreReadyMsc")
CENTRE_NEXT_EXPIRY = SearchAttributeKey.for_datetime("CentreNextExpiry")

#: therapy (``Therapy`` value) → its centre-readiness attribute
CENTRE_READY = {"car-t": CENTRE_READY_CART, "msc": CENTRE_READY_MSC}

#: name → type as the ``temporal`` CLI spells it (``--search-attribute NAME=TYPE``)
REGISTRATION: dict[str, str] = {
    "PathwayState": "Keyword",
    "Therapy": "Keyword",
    "Disease": "Keyword",
    "Centre": "Keyword",
    "NextDeadline": "Datetime",
    "EscalationLevel": "Int",
    "Overdue": "Bool",
    "CentreReadyCarT": "Bool",
    "CentreReadyMsc": "Bool",
    "CentreNextExpiry": "Datetime",
}

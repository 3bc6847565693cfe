"""Which version of the safety rules a pathway follows, fixed when it is referred.

Pathways referred before the rules below existed were checked with safe-looking defaults
(a cardiac re-check "fine" unless said otherwise, an empty washout list, consent flags never
read). Their histories are committed and replayed: the workflow handler re-runs the chart on
every replay, so the chart must still accept what those pathways were allowed to do.
The workflow decides the version once, behind ``workflow.patched`` (``RULES_PATCH``), and
writes it on the record (``PathwayRecord.safety_rules``); the chart only reads the record,
so ``states/`` needs no Temporal and a replayed pathway gets the rules it was referred under.

``EXPLICIT`` (2) and later:

- every fitness and eligibility answer is required and explicit (no default counts as an
  answer); a missing one refuses the action and names what is missing;
- the washout lists the patient's current treatments, or says ``none``;
- consent answers each element the protocol requires; a missing element refuses the next
  step;

Usage::

    if record.safety_rules >= EXPLICIT: ...
"""

from __future__ import annotations

#: defaults stood for answers (pathways referred before the explicit rules)
LEGACY = 1
#: every safety answer is explicit (see the module doc)
EXPLICIT = 2
#: the version a pathway referred now follows
CURRENT = EXPLICIT

#: the ``workflow.patched`` ID that gives a new pathway ``CURRENT`` (workflows/pathway.py)
RULES_PATCH = "safety-explicit-rules-v2"

#: how a patient on no current treatment is written in a washout (a deliberate answer)
NO_TREATMENT = "none"

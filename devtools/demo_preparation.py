"""The preparation tasks the demo's care team records (models/preparation.py), per therapy.

Usage::

    for key, details in recorded_tasks(Therapy.CAR_T, skip=("pregnancy_test",)):
        ...   # one record_task action each

The keys are those of the shipped protocols' ``preparation`` lists; the consent task is
recorded by the consent action itself, so it is not here.
"""

from __future__ import annotations

from models.protocol import Therapy

_INFORMATION = {"document": "PIS-CART-AID", "version": "v3.1"}
_TASKS: dict[Therapy, list[tuple[str, dict[str, str]]]] = {
    Therapy.CAR_T: [
        ("patient_information", _INFORMATION),
        ("referrer_mdtm", {}),
        ("fertility_counselling", {}),
        ("vaccination_review", {}),
        ("irradiated_blood", {}),
        ("contraception", {}),
        ("pregnancy_test", {"result": "negative"}),
        ("caregiver_and_stay", {}),
        ("alert_card", {}),
        ("driving_advice", {}),
    ],
    Therapy.MSC: [
        ("patient_information", {**_INFORMATION, "document": "PIS-MSC-AID"}),
        ("referrer_mdtm", {}),
        ("contraception", {}),
        ("pregnancy_test", {"result": "not applicable"}),
        ("vaccination_review", {}),
    ],
}


def recorded_tasks(
    therapy: Therapy, *, skip: tuple[str, ...] = ()
) -> list[tuple[str, dict[str, str]]]:
    """(task key, details) of the tasks the demo records before the steps they gate."""
    return [(key, details) for key, details in _TASKS[therapy] if key not in skip]

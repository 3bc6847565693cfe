"""The guards of explicit fitness and eligibility answers (models/safety_rules.py).

A pathway referred under ``EXPLICIT`` rules or later must answer every fitness question
itself: no default counts as "fine". Each guard lists everything missing in one refusal, so
the form is completed in one go. Pathways referred before keep their legacy rules (their
committed histories replay unchanged): every guard here returns at once for them.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, NoReturn

from models import actions as a
from models.fitness import CONSENT_WORDS
from models.protocol import Protocol
from models.record import PathwayRecord
from models.safety_rules import EXPLICIT, NO_TREATMENT
from states import errors as e
from states import safety_refusals as s


def _listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


class FitnessGuards:
    """Guards of explicit answers (mixed into ``PathwayChart``)."""

    record: PathwayRecord
    protocol: Protocol

    if TYPE_CHECKING:

        def refuse(self, cls: type[e.PathwayError], message: str) -> NoReturn: ...

    @property
    def explicit_rules(self) -> bool:
        return self.record.safety_rules >= EXPLICIT

    def _organ_limits(self, lvef: float | None, egfr: float | None, when: str) -> None:
        rules = self.protocol.fitness
        low = []
        if lvef is not None and lvef < rules.lvef_min_percent:
            low.append(f"LVEF {lvef:g} % (at least {rules.lvef_min_percent:g} %)")
        if egfr is not None and egfr < rules.egfr_min:
            low.append(f"eGFR {egfr:g} (at least {rules.egfr_min:g})")
        if low:
            self.refuse(
                s.OrganFunctionOutOfLimits,
                f"Organ function below this protocol's limits {when}: {'; '.join(low)}. "
                "The binôme reviews the case.",
            )

    def guard_work_up_answered(self, action: a.WorkUp, now: datetime) -> None:
        if not self.explicit_rules:
            return
        missing = [
            words
            for words, value in (
                ("LVEF (lvef_percent)", action.lvef_percent),
                ("eGFR (egfr)", action.egfr),
            )
            if value is None
        ]
        if missing:
            self.refuse(
                s.AnswerMissing,
                f"The work-up needs its organ-function values: {_listed(missing)} missing.",
            )

    def guard_organ_function_eligible(self, action: a.MdtmDecision, now: datetime) -> None:
        if not self.explicit_rules:
            return
        up = self.record.work_up_values
        self._organ_limits(up.get("lvef_percent"), up.get("egfr"), "in the work-up")

    def guard_fitness_answered(self, action: a.PreInfusionCheck, now: datetime) -> None:
        if not self.explicit_rules:
            return
        missing = []
        if action.cardiac_check_ok is None:
            missing.append("cardiac re-check (cardiac_check_ok)")
        if self.protocol.fitness.pregnancy_test and action.pregnancy_test is None:
            missing.append("pregnancy test (pregnancy_test: negative, positive or not_applicable)")
        if action.lvef_percent is None:
            missing.append("LVEF (lvef_percent)")
        if action.egfr is None:
            missing.append("eGFR (egfr)")
        if missing:
            self.refuse(
                s.AnswerMissing,
                f"The pre-treatment check is not complete: {_listed(missing)} missing. "
                "Every fitness answer must be given; none is assumed.",
            )
        if action.pregnancy_test == "positive":
            self.refuse(
                s.PregnancyTestPositive,
                "The pregnancy test is positive: no lymphodepletion or infusion; the binôme "
                "reviews the case.",
            )
        self._organ_limits(action.lvef_percent, action.egfr, "at the pre-treatment check")

    def guard_consent_answered(self, action: a.Consent, now: datetime) -> None:
        if not self.explicit_rules:
            return
        missing = [
            f"{CONSENT_WORDS[element]} ({element})"
            for element in ("trial_inclusion", "registry_consent")
            if getattr(action, element) is None
        ]
        if missing:
            self.refuse(
                s.AnswerMissing,
                f"Answer each consent element, yes or no: {_listed(missing)} missing.",
            )

    def guard_consent_complete(self, action: a.StaffAction, now: datetime) -> None:
        given = self.record.consent_given
        if not self.explicit_rules or given is None:
            return
        missing = [el for el in self.protocol.fitness.consent_elements if el not in given]
        if missing:
            self.refuse(
                s.ConsentIncomplete,
                f"This protocol requires {_listed([CONSENT_WORDS[m] for m in missing])}, "
                "not given: record the consent again once it is.",
            )

    def guard_treatments_listed(self, action: a.Washout, now: datetime) -> None:
        if not self.explicit_rules:
            return
        listed = [t.strip().lower() for t in action.treatments or []]
        if not listed:
            self.refuse(
                s.AnswerMissing,
                "List the patient's current treatments (treatments), or write "
                f'["{NO_TREATMENT}"] if there are none.',
            )
        if NO_TREATMENT in listed:
            if len(listed) > 1 or action.stopped:
                self.refuse(
                    e.MalformedAction,
                    f'The treatments say "{NO_TREATMENT}" and name drugs: give one or the other.',
                )
            return
        unknown = [t for t in listed if self.protocol.washout_rule(t) is None]
        if unknown:
            known = ", ".join(r.drug for r in self.protocol.washout)
            self.refuse(
                s.TreatmentUnknown,
                f"{_listed(unknown)}: not in this protocol's washout table ({known}). Ask the "
                "cell-therapy specialist how long it must be stopped.",
            )
        stopped = {d.drug.strip().lower() for d in action.stopped}
        unstopped = [
            t
            for t in listed
            if t not in stopped and (rule := self.protocol.washout_rule(t)) and rule.stop_before
        ]
        if unstopped:
            self.refuse(
                e.WashoutIncomplete,
                f"{_listed(unstopped)} must be stopped before leukapheresis: give the stop "
                "date of each (stopped).",
            )

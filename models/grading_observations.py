"""What staff observe at the bedside for CRS and ICANS grading, in the words of the ASTCT tables.

Usage::

    crs = CrsObservation(temperature_c=38.6, hypotension=True, vasopressors=1)
    icans = IcansObservation(ice_score=5, consciousness=Consciousness.AWAKENS_TO_VOICE)

An observation holds findings, never a grade: ``models/grading.py`` computes the grade from
the grading tables. The models check types only; whether the values make sense together
(an ICE score of 11, vasopressors without hypotension) is the grader's ``IncoherentObservation``,
so the refusal names the table it breaks. Each enum value is a row of the data file
(``protocols/grading/astct-2019.yaml``); loading the file checks that both cover each other.

Limitations: adults and children aged 12 or more (younger children are graded with CAPD, not
ICE); one observation is one moment, so "who has CRS and then receives tocilizumab" is the
caller's to say through ``treated_with``.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class CrsTreatment(StrEnum):
    """Treatment given for a CRS already diagnosed (some make fever no longer required)."""

    TOCILIZUMAB = "tocilizumab"
    CORTICOSTEROIDS = "corticosteroids"
    OTHER_ANTICYTOKINE = "other_anticytokine"
    ANTIPYRETIC = "antipyretic"


class OxygenDevice(StrEnum):
    NONE = "none"
    BLOW_BY = "blow_by"
    NASAL_CANNULA = "nasal_cannula"
    FACE_MASK = "face_mask"
    VENTURI_MASK = "venturi_mask"
    NON_REBREATHER_MASK = "non_rebreather_mask"
    CPAP = "cpap"
    BIPAP = "bipap"
    MECHANICAL_VENTILATION = "mechanical_ventilation"


class CrsSign(StrEnum):
    """A CRS sign the team attributes to another cause (e.g. fever from an infection)."""

    FEVER = "fever"
    HYPOTENSION = "hypotension"
    HYPOXIA = "hypoxia"


class Consciousness(StrEnum):
    ALERT = "alert"
    AWAKENS_SPONTANEOUSLY = "awakens_spontaneously"
    AWAKENS_TO_VOICE = "awakens_to_voice"
    AWAKENS_ONLY_TO_TOUCH = "awakens_only_to_touch"
    # or needs vigorous or repetitive tactile stimuli to arouse; stupor or coma
    UNAROUSABLE = "unarousable"


class Seizure(StrEnum):
    CLINICAL_RESOLVED_RAPIDLY = "clinical_resolved_rapidly"
    NONCONVULSIVE_ON_EEG_RESOLVED = "nonconvulsive_on_eeg_resolved"
    PROLONGED_OVER_5_MIN = "prolonged_over_5_min"
    REPETITIVE_WITHOUT_RETURN_TO_BASELINE = "repetitive_without_return_to_baseline"


class MotorFinding(StrEnum):
    HEMIPARESIS = "hemiparesis"
    PARAPARESIS = "paraparesis"
    TREMOR = "tremor"  # graded by CTCAE, never raises ICANS
    MYOCLONUS = "myoclonus"  # graded by CTCAE, never raises ICANS


class IcpSign(StrEnum):
    """Raised intracranial pressure or cerebral oedema (intracranial haemorrhage excluded)."""

    FOCAL_OEDEMA_ON_IMAGING = "focal_oedema_on_imaging"
    DIFFUSE_OEDEMA_ON_IMAGING = "diffuse_oedema_on_imaging"
    DECEREBRATE_OR_DECORTICATE_POSTURING = "decerebrate_or_decorticate_posturing"
    CRANIAL_NERVE_VI_PALSY = "cranial_nerve_vi_palsy"
    PAPILLOEDEMA = "papilloedema"
    CUSHINGS_TRIAD = "cushings_triad"


class IcansDomain(StrEnum):
    """An ICANS domain whose finding the team attributes to another cause (e.g. sedation)."""

    ICE_SCORE = "ice_score"
    CONSCIOUSNESS = "consciousness"
    SEIZURES = "seizures"
    MOTOR_FINDINGS = "motor_findings"
    RAISED_ICP = "raised_icp"


class _Observation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CrsObservation(_Observation):
    """Temperature, blood-pressure support and oxygen support at one moment."""

    temperature_c: float
    hypotension: bool = False
    # vasopressors other than vasopressin (ASTCT: "multiple vasopressors excluding vasopressin")
    vasopressors: int = 0
    vasopressin: bool = False
    oxygen: OxygenDevice = OxygenDevice.NONE
    oxygen_flow_l_min: float | None = None
    treated_with: frozenset[CrsTreatment] = frozenset()
    other_cause: frozenset[CrsSign] = frozenset()


class IcansObservation(_Observation):
    """ICE score and the neurological findings of one assessment."""

    ice_score: int
    consciousness: Consciousness = Consciousness.ALERT
    seizures: frozenset[Seizure] = frozenset()
    motor_findings: frozenset[MotorFinding] = frozenset()
    raised_icp: frozenset[IcpSign] = frozenset()
    other_cause: frozenset[IcansDomain] = frozenset()

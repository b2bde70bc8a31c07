"""QLQ-C30 questionnaires: validated and scored by ``trial.rules.qlq_c30`` (DOMAIN.md section 5,
section 7 rules 25-27). Item numbers and answers only, never item wording."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db import transaction

from trial.models import ItemKind, Patient, QolQuestionnaire, TreatmentLine
from trial.rules import qlq_c30
from trial.selectors import clinical_history  # noqa: F401  (registers the audit trail)
from trial.selectors.access import require_site_writer

from .audit import tracked_save
from .errors import NoOpenLine, rule_input_error
from .lines import check_clinical_date, latest_line, require_enrolled
from .schedule import schedule_item_mark_done


def _item_number(key: Any) -> Any:
    """JSON object keys are strings: "7" is item 7; anything else is left for the rule."""
    if isinstance(key, str) and key.strip().isdecimal():
        return int(key)
    return key


def qol_submit(
    *,
    patient: Patient,
    by: Any,
    completed_on: dt.date,
    responses: Mapping[Any, Any],
    today: dt.date,
) -> QolQuestionnaire:
    """Store a QLQ-C30 v3.0 form (``{item_number: answer or None}``) with its 15 scale scores
    and the summary score; marks the planned questionnaire done.

    Errors: qol_too_many_items (more than 30 entries), qol_unknown_item, qol_item_out_of_range,
    date_in_future, date_before_enrolment, not_enrolled; not_found / role_not_allowed.
    """
    require_site_writer(by, patient.site)
    require_enrolled(patient)
    check_clinical_date(patient, completed_on, today=today, field="completed_on")
    answers = {_item_number(key): value for key, value in responses.items()}
    if len(answers) != len(responses):
        raise rule_input_error(
            qlq_c30.QlqInputError("item numbers repeat", code="qol_unknown_item")
        )
    try:
        scores = qlq_c30.score_qlq_c30(answers)
    except qlq_c30.QlqInputError as exc:
        raise rule_input_error(exc) from exc
    with transaction.atomic(durable=True):
        line = TreatmentLine.objects.filter(patient=patient, ended_on=None).first() or latest_line(
            patient
        )
        if line is None:
            raise NoOpenLine()
        form = QolQuestionnaire(
            patient=patient,
            line=line,
            instrument="qlq_c30_v3",
            completed_on=completed_on,
            responses={str(item): answers[item] for item in sorted(answers)},
            **{scale.value.lower(): score for scale, score in scores.as_dict().items()},
            summary=scores.summary,
        )
        tracked_save(form, by=by)
        schedule_item_mark_done(
            patient=patient, kind=ItemKind.QOL, on=completed_on, ref=f"qol:{form.pk}", by=by
        )
    return form

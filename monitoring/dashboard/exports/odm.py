"""CDISC ODM 1.3.2 export of the clinical data with its full audit trail.

A ``Transactional`` ODM file (CDISC ODM 1.3.2 specification, sections 2.9 and 3.1.6): every
version of every tracked record (django-simple-history) is one ``ItemGroupData`` with
``TransactionType`` Insert (creation) or Update (a change) and an ``AuditRecord`` carrying who
(``UserRef``, the user defined in ``AdminData``), where (``LocationRef``, the patient's site),
when (``DateTimeStamp``) and why (``ReasonForChange``, the mandatory reason of every edit after
creation), followed by the record's item values in that version (a value removed by an update
is ``IsNull="Yes"``). ``SourceID`` names the history row. The metadata (``MetaDataVersion``)
describes each form, item group and item with its ODM data type.

Structure: one ``Study`` per export (the filtered protocol), one ``StudyEventDef`` "On study"
holding one form per domain (patients, eligibility, treatment, blood counts, adverse events,
tumour assessments, QoL, ctDNA, randomization), one ``SubjectData`` per patient keyed by the
trial number (never the screening number; ``NE-<id>`` for a patient never enrolled).

Streaming: one history query per item group, each ordered by patient, record and time, merged
with ``heapq.merge`` so the file is written subject by subject without holding the data in
memory. The query count depends on the number of item groups only.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from monitoring.models import CtdnaResult, CtdnaVariant, Sample
from randomization.models import Allocation, Crossover
from trial.models import (
    QLQ_C30_SCALE_FIELDS,
    SITE_ROLES,
    AdverseEvent,
    BloodCount,
    Cycle,
    DoseDecision,
    EligibilityAssessment,
    Patient,
    Protocol,
    QolQuestionnaire,
    Role,
    TargetLesion,
    TreatmentLine,
    TumourAssessment,
)
from trial.selectors.access import User, sites_visible_to, visible_site_ids

from ..filters import DashboardFilters
from ..selectors import patients
from .domains import CHUNK_SIZE
from .values import (
    mask_end_reason,
    mask_reason,
    mask_step,
    masked_unless_step1,
    plain,
    subject_key,
)

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
STUDY_EVENT_OID = "SE.ONSTUDY"
SYSTEM_USER_OID = "USR.SYSTEM"
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_TRANSACTIONS = {"+": "Insert", "~": "Update", "-": "Remove"}
_USER_TYPES = {
    Role.INVESTIGATOR: "Investigator",
    Role.COORDINATOR: "Investigator",
    Role.SPONSOR_MONITOR: "Sponsor",
    Role.DATA_MANAGER: "Sponsor",
    Role.STATISTICIAN: "Sponsor",
    Role.LAB: "Lab",
}

Mask = Callable[[Any, dict[str, Any]], Any]


@dataclass(frozen=True)
class Item:
    name: str
    mask: Mask | None = None


@dataclass(frozen=True)
class Group:
    oid: str
    form: str
    model: type[models.Model]
    patient_path: str  # from the historical row to the patient id
    items: tuple[Item, ...]
    arm_revealing: bool = False  # left out entirely for users who may not see arms

    @property
    def history_model(self) -> type[models.Model]:
        return self.model.history.model  # type: ignore[attr-defined]

    def data_type(self, name: str) -> str:
        return _data_type(self.model._meta.get_field(name))


def _data_type(field: models.Field) -> str:
    if isinstance(field, models.BooleanField):
        return "boolean"
    if isinstance(field, models.DateTimeField):
        return "datetime"
    if isinstance(field, models.DateField):
        return "date"
    if isinstance(field, models.ForeignKey | models.IntegerField | models.AutoField):
        return "integer"
    if isinstance(field, models.DecimalField | models.FloatField):
        return "float"
    return "text"


def _items(*names: str, masks: dict[str, Mask] | None = None) -> tuple[Item, ...]:
    masks = masks or {}
    return tuple(Item(name, masks.get(name)) for name in names)


def _step(value, row):  # noqa: ARG001
    return mask_step(value)


def _line_detail(value, row):
    return masked_unless_step1(value, row.get("step"))


def _end_reason(value, row):  # noqa: ARG001
    return mask_end_reason(value)


FORMS: tuple[tuple[str, str], ...] = (
    ("F.PATIENTS", "Patients"),
    ("F.ELIGIBILITY", "Eligibility"),
    ("F.TREATMENT", "Treatment"),
    ("F.BLOOD_COUNTS", "Blood counts"),
    ("F.ADVERSE_EVENTS", "Adverse events"),
    ("F.TUMOUR", "Tumour assessments"),
    ("F.QOL", "Quality of life"),
    ("F.CTDNA", "ctDNA"),
    ("F.RANDOMIZATION", "Randomization"),
)

GROUPS: tuple[Group, ...] = (
    Group(
        "IG.PATIENT",
        "F.PATIENTS",
        Patient,
        "id",
        _items(
            "protocol_version",
            "status",
            "step",
            "year_of_birth",
            "sex",
            "menopausal_status",
            "enrolled_on",
            "stratification",
            masks={"step": _step},
        ),
    ),
    Group(
        "IG.ELIGIBILITY",
        "F.ELIGIBILITY",
        EligibilityAssessment,
        "patient_id",
        _items("protocol_version", "assessed_on", "eligible", "failures", "normalised"),
    ),
    Group(
        "IG.TREATMENT_LINE",
        "F.TREATMENT",
        TreatmentLine,
        "patient_id",
        _items(
            "step",
            "regimen",
            "endocrine_drug",
            "palbociclib_dose_mg",
            "planned_c1d1",
            "started_on",
            "ended_on",
            "end_reason",
            masks={
                "step": _step,
                "regimen": _line_detail,
                "endocrine_drug": _line_detail,
                "end_reason": _end_reason,
            },
        ),
    ),
    Group(
        "IG.CYCLE",
        "F.TREATMENT",
        Cycle,
        "line__patient_id",
        _items(
            "line",
            "number",
            "planned_d1",
            "started_on",
            "status",
            "palbociclib_dose_mg",
            "dose_change_reason",
            "delay_reason",
            "hold_opened_on",
            "hold_reason",
            "hold_closed_on",
            "hold_close_reason",
        ),
    ),
    Group(
        "IG.DOSE_DECISION",
        "F.TREATMENT",
        DoseDecision,
        "line__patient_id",
        _items(
            "line",
            "blood_count",
            "status",
            "action",
            "reason_code",
            "current_dose_mg",
            "proposed_next_dose_mg",
            "confirmed_dose_mg",
            "applies_to_cycle",
            "signed_at",
            "signature_meaning",
        ),
    ),
    Group(
        "IG.BLOOD_COUNT",
        "F.BLOOD_COUNTS",
        BloodCount,
        "patient_id",
        _items(
            "line",
            "cycle_number",
            "cycle_day",
            "drawn_on",
            "anc_g_per_l",
            "wbc_g_per_l",
            "platelets_g_per_l",
            "haemoglobin_g_per_l",
            "lymphocytes_g_per_l",
            "anc_grade",
            "wbc_grade",
            "platelets_grade",
            "haemoglobin_grade",
            "lymphocytes_grade",
            "haem_max_grade",
            "ctcae_version",
            "temperature_c",
            "fever",
            "infection",
        ),
    ),
    Group(
        "IG.ADVERSE_EVENT",
        "F.ADVERSE_EVENTS",
        AdverseEvent,
        "patient_id",
        _items(
            "line",
            "term",
            "grade",
            "ctcae_version",
            "onset_on",
            "resolved_on",
            "attribution",
            "serious",
            "description",
            "sae_clock_started_at",
            "sae_report_due_at",
            "sae_reported_at",
        ),
    ),
    Group(
        "IG.TUMOUR_ASSESSMENT",
        "F.TUMOUR",
        TumourAssessment,
        "patient_id",
        _items(
            "line",
            "assessed_on",
            "modality",
            "is_baseline",
            "new_lesions",
            "non_target",
            "sum_mm",
            "nadir_sum_mm",
            "change_from_baseline_pct",
            "change_from_nadir_pct",
            "overall_response",
        ),
    ),
    Group(
        "IG.TARGET_LESION",
        "F.TUMOUR",
        TargetLesion,
        "assessment__patient_id",
        _items("assessment", "lesion_number", "location", "is_lymph_node", "diameter_mm"),
    ),
    Group(
        "IG.QOL",
        "F.QOL",
        QolQuestionnaire,
        "patient_id",
        _items("line", "completed_on", "instrument", "responses", *QLQ_C30_SCALE_FIELDS),
    ),
    Group(
        "IG.CTDNA_SAMPLE",
        "F.CTDNA",
        Sample,
        "patient_id",
        _items("sample_id", "drawn_on", "first_result_on", "turnaround_days"),
    ),
    Group(
        "IG.CTDNA_RESULT",
        "F.CTDNA",
        CtdnaResult,
        "patient_id",
        _items(
            "sample",
            "lab",
            "version",
            "amends",
            "amendment_reason",
            "collected_on",
            "analysed_on",
            "assay",
            "status",
            "failure_reason",
            "patient_status",
            "next_action",
            "turnaround_days",
        ),
    ),
    Group(
        "IG.CTDNA_VARIANT",
        "F.CTDNA",
        CtdnaVariant,
        "result__patient_id",
        _items(
            "result",
            "position",
            "gene",
            "protein_change",
            "vaf",
            "copies_per_ml",
            "in_panel",
            "change",
        ),
    ),
    Group(
        "IG.ALLOCATION",
        "F.RANDOMIZATION",
        Allocation,
        "patient_id",
        _items("design", "stratum", "levels", "arm", "allocated_on"),
        arm_revealing=True,
    ),
    Group(
        "IG.CROSSOVER",
        "F.RANDOMIZATION",
        Crossover,
        "patient_id",
        _items("allocation", "progression", "line", "decided_on"),
        arm_revealing=True,
    ),
)


def _text(value: Any) -> str:
    return _XML_INVALID.sub("", str(value))


def _attr(value: Any) -> str:
    return quoteattr(_text(value))


def _element(tag: str, value: Any) -> str:
    return f"<{tag}>{escape(_text(value))}</{tag}>"


def item_oid(group: Group, item: Item) -> str:
    return f"IT.{group.oid[3:]}.{item.name.upper()}"


def _attname(group: Group, item: Item) -> str:
    return group.model._meta.get_field(item.name).attname


def groups_for(*, mask: bool) -> tuple[Group, ...]:
    return tuple(g for g in GROUPS if not (mask and g.arm_revealing))


# --- metadata ------------------------------------------------------------------------------


def _metadata(protocol: Protocol, groups: tuple[Group, ...], mdv_oid: str) -> Iterator[str]:
    forms = [(oid, name) for oid, name in FORMS if any(g.form == oid for g in groups)]
    yield f"<Study OID={_attr(f'ST.{protocol.code}')}>"
    yield (
        "<GlobalVariables>"
        f"{_element('StudyName', protocol.code)}"
        f"{_element('StudyDescription', protocol.title)}"
        f"{_element('ProtocolName', protocol.code)}"
        "</GlobalVariables>"
    )
    yield f"<MetaDataVersion OID={_attr(mdv_oid)} Name={_attr('Clinical data export 1')}>"
    yield f'<Protocol><StudyEventRef StudyEventOID="{STUDY_EVENT_OID}" Mandatory="Yes"/></Protocol>'
    yield f'<StudyEventDef OID="{STUDY_EVENT_OID}" Name="On study" Repeating="No" Type="Common">'
    for order, (oid, _name) in enumerate(forms, start=1):
        yield f'<FormRef FormOID={_attr(oid)} OrderNumber="{order}" Mandatory="No"/>'
    yield "</StudyEventDef>"
    for oid, name in forms:
        yield f'<FormDef OID={_attr(oid)} Name={_attr(name)} Repeating="No">'
        for order, group in enumerate((g for g in groups if g.form == oid), start=1):
            yield (
                f'<ItemGroupRef ItemGroupOID={_attr(group.oid)} OrderNumber="{order}" '
                'Mandatory="No"/>'
            )
        yield "</FormDef>"
    for group in groups:
        name = group.model._meta.verbose_name
        yield f'<ItemGroupDef OID={_attr(group.oid)} Name={_attr(name)} Repeating="Yes">'
        for order, item in enumerate(group.items, start=1):
            yield (
                f'<ItemRef ItemOID={_attr(item_oid(group, item))} OrderNumber="{order}" '
                'Mandatory="No"/>'
            )
        yield "</ItemGroupDef>"
    for group in groups:
        for item in group.items:
            yield (
                f"<ItemDef OID={_attr(item_oid(group, item))} Name={_attr(item.name)} "
                f"DataType={_attr(group.data_type(item.name))}/>"
            )
    yield "</MetaDataVersion></Study>"


def _admin(protocol: Protocol, user: User | None, mdv_oid: str, effective: str) -> Iterator[str]:
    yield f"<AdminData StudyOID={_attr(f'ST.{protocol.code}')}>"
    yield f'<User OID="{SYSTEM_USER_OID}" UserType="Other"><LoginName>system</LoginName></User>'
    users = get_user_model().objects.all()
    site_ids = visible_site_ids(user)
    if site_ids is not None:
        # Site staff: not the staff of other sites (they cannot have written these records).
        users = users.filter(
            Q(staff__isnull=True) | ~Q(staff__role__in=SITE_ROLES) | Q(staff__sites__in=site_ids)
        ).distinct()
    users = users.values_list("pk", "username", "staff__role").order_by("pk")
    for pk, username, role in users.iterator(chunk_size=CHUNK_SIZE):
        yield (
            f'<User OID="USR.{pk}" UserType="{_USER_TYPES.get(role, "Other")}">'
            f"{_element('LoginName', username)}</User>"
        )
    for code in sites_visible_to(user).values_list("code", flat=True):
        yield (
            f'<Location OID={_attr(f"LOC.{code}")} Name={_attr(code)} LocationType="Site">'
            f"<MetaDataVersionRef StudyOID={_attr(f'ST.{protocol.code}')} "
            f'MetaDataVersionOID={_attr(mdv_oid)} EffectiveDate="{effective}"/></Location>'
        )
    yield "</AdminData>"


# --- clinical data -------------------------------------------------------------------------


def _history_rows(index: int, group: Group, patient_ids) -> Iterator[tuple]:
    """(patient id, group index, record id, time, history id, user id, type, reason,
    trial number, site code, {item: value}) for every version, in merge order."""
    path = group.patient_path
    live = Patient.objects.filter(pk=OuterRef(path))
    attnames = [_attname(group, item) for item in group.items]
    rows = (
        group.history_model.objects.filter(**{f"{path}__in": patient_ids})
        .annotate(
            subject_trial_number=Subquery(live.values("trial_number")[:1]),
            subject_site=Subquery(live.values("site__code")[:1]),
        )
        .values_list(
            path,
            "id",
            "history_date",
            "history_id",
            "history_user_id",
            "history_type",
            "history_change_reason",
            "subject_trial_number",
            "subject_site",
            *attnames,
        )
        .order_by(path, "id", "history_date", "history_id")
    )
    names = [item.name for item in group.items]
    for (
        patient_id,
        record_id,
        at,
        history_id,
        user_id,
        kind,
        reason,
        tn,
        site,
        *values,
    ) in rows.iterator(chunk_size=CHUNK_SIZE):
        yield (
            patient_id,
            index,
            record_id,
            at,
            history_id,
            user_id,
            kind,
            reason,
            tn,
            site,
            dict(zip(names, values, strict=True)),
        )


def _item_group(group: Group, row: tuple, *, mask: bool) -> str:
    _pid, _index, record_id, at, history_id, user_id, kind, reason, _tn, site, values = row
    transaction = _TRANSACTIONS.get(kind, "Update")
    parts = [
        f'<ItemGroupData ItemGroupOID={_attr(group.oid)} ItemGroupRepeatKey="{record_id}" '
        f'TransactionType="{transaction}">',
        "<AuditRecord>",
        f'<UserRef UserOID="{f"USR.{user_id}" if user_id else SYSTEM_USER_OID}"/>',
        f"<LocationRef LocationOID={_attr(f'LOC.{site}')}/>",
        _element("DateTimeStamp", at.isoformat()),
    ]
    if reason:
        parts.append(_element("ReasonForChange", mask_reason(reason) if mask else reason))
    parts.append(_element("SourceID", f"{group.model._meta.label}.history:{history_id}"))
    parts.append("</AuditRecord>")
    for item in group.items:
        value = values[item.name]
        if mask and item.mask is not None:
            value = item.mask(value, values)
        oid = _attr(item_oid(group, item))
        if value is None or value == "":
            if transaction == "Update":
                parts.append(f'<ItemData ItemOID={oid} TransactionType="Update" IsNull="Yes"/>')
            continue
        parts.append(
            f'<ItemData ItemOID={oid} TransactionType="{transaction}" Value={_attr(plain(value))}/>'
        )
    parts.append("</ItemGroupData>")
    return "".join(parts)


def count_rows(user: User | None, filters: DashboardFilters, *, mask: bool) -> int:
    """History rows the export writes (one count query per item group)."""
    ids = patients(user, filters).values("pk")
    return sum(
        g.history_model.objects.filter(**{f"{g.patient_path}__in": ids}).count()
        for g in groups_for(mask=mask)
    )


def odm_chunks(
    user: User | None,
    filters: DashboardFilters,
    *,
    mask: bool,
    progress: Callable[[int], None] | None = None,
) -> Iterator[str]:
    """The ODM document, in chunks of a few kilobytes."""
    protocol = Protocol.objects.get(pk=filters.protocol_id)
    groups = groups_for(mask=mask)
    now = timezone.now()
    mdv_oid = f"MDV.{protocol.code}.EXPORT1"
    study_oid = f"ST.{protocol.code}"
    yield '<?xml version="1.0" encoding="UTF-8"?>\n'
    yield (
        f'<ODM xmlns="{ODM_NS}" ODMVersion="1.3.2" FileType="Transactional" '
        f"FileOID={_attr(f'EXPORT.{protocol.code}.{now:%Y%m%dT%H%M%S%f}')} "
        f'CreationDateTime="{now.isoformat()}" Originator="adaptive-trial" '
        f'SourceSystem="adaptive-trial">\n'
    )
    yield "".join(_metadata(protocol, groups, mdv_oid)) + "\n"
    yield "".join(_admin(protocol, user, mdv_oid, now.date().isoformat())) + "\n"
    yield f"<ClinicalData StudyOID={_attr(study_oid)} MetaDataVersionOID={_attr(mdv_oid)}>\n"
    ids = patients(user, filters).values("pk")
    streams = [_history_rows(i, g, ids) for i, g in enumerate(groups)]
    subject = form = None
    buffer: list[str] = []
    written = 0
    for row in heapq.merge(*streams, key=lambda r: r[:5]):
        patient_id, index, *_rest = row
        group = groups[index]
        if patient_id != subject:
            if subject is not None:
                buffer.append("</FormData></StudyEventData></SubjectData>\n")
            buffer.append(
                f"<SubjectData SubjectKey={_attr(subject_key(row[8], patient_id))} "
                f'TransactionType="Upsert"><SiteRef LocationOID={_attr(f"LOC.{row[9]}")}/>'
                f'<StudyEventData StudyEventOID="{STUDY_EVENT_OID}" TransactionType="Upsert">'
            )
            subject, form = patient_id, None
        if group.form != form:
            if form is not None:
                buffer.append("</FormData>")
            buffer.append(f'<FormData FormOID={_attr(group.form)} TransactionType="Upsert">')
            form = group.form
        buffer.append(_item_group(group, row, mask=mask))
        written += 1
        if len(buffer) >= 200:
            yield "".join(buffer)
            buffer.clear()
            if progress is not None:
                progress(written)
    if subject is not None:
        buffer.append("</FormData></StudyEventData></SubjectData>\n")
    buffer.append("</ClinicalData>\n</ODM>\n")
    yield "".join(buffer)
    if progress is not None:
        progress(written)

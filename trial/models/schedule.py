"""Each patient's calendar: one row per planned assessment of a treatment line.

Rows are kept in step with the pure calendar (``trial.rules.schedule.build_calendar``) by
``trial.services.schedule.schedule_rebuild``: upserted by ``key``; done and missed rows never
move; rows no longer planned (after progression, beyond the horizon after a delay) are
cancelled, never deleted. The daily job moves statuses forward and sends reminders; its
indexes let it touch only rows whose window opens or closes, so its cost grows with the number
of due items, not with the number of patients.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from .base import TrialRecord, history_reason_field
from .patients import Patient
from .treatment import TreatmentLine


class ItemKind(models.TextChoices):
    CYCLE_VISIT = "cycle_visit", _("Cycle visit")
    BLOOD_COUNT = "blood_count", _("Blood count")
    CTDNA = "ctdna", _("ctDNA draw")
    IMAGING = "imaging", _("Imaging")
    QOL = "qol", _("QoL questionnaire")
    FULVESTRANT_INJECTION = "fulvestrant_injection", _("Fulvestrant injection")
    LOCOREGIONAL_TREATMENT = "locoregional_treatment", _("Locoregional treatment")
    SURVIVAL_CONTACT = "survival_contact", _("Survival follow-up contact")


class ItemStatus(models.TextChoices):
    UPCOMING = "upcoming", _("Upcoming")
    DUE = "due", _("Due")
    OVERDUE = "overdue", _("Overdue")
    DONE = "done", _("Done")
    MISSED = "missed", _("Missed")
    CANCELLED = "cancelled", _("No longer planned")


OPEN_ITEM_STATUSES = (ItemStatus.UPCOMING, ItemStatus.DUE, ItemStatus.OVERDUE)
FINAL_ITEM_STATUSES = (ItemStatus.DONE, ItemStatus.MISSED)


class ScheduleItem(TrialRecord):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="schedule_items")
    line = models.ForeignKey(TreatmentLine, on_delete=models.PROTECT, related_name="schedule_items")
    key = models.CharField(_("key"), max_length=64)
    kind = models.CharField(_("kind"), max_length=32, choices=ItemKind.choices)
    cycle = models.PositiveSmallIntegerField(_("cycle"), null=True, blank=True)
    cycle_day = models.PositiveSmallIntegerField(_("cycle day"), null=True, blank=True)
    anchor = models.CharField(_("anchor"), max_length=10)
    planned_on = models.DateField(_("planned on"))
    window_opens = models.DateField(_("window opens"))
    window_closes = models.DateField(_("window closes"))
    remind_from = models.DateField(_("remind from"))
    missed_after = models.DateField(_("missed after"))
    status = models.CharField(
        _("status"), max_length=12, choices=ItemStatus.choices, default=ItemStatus.UPCOMING
    )
    held = models.BooleanField(
        _("cycle on hold"),
        default=False,
        help_text=_("The cycle of this item is on hold: it is not recorded as missed."),
    )
    done_on = models.DateField(_("done on"), null=True, blank=True)
    done_ref = models.CharField(_("done by record"), max_length=64, blank=True)
    reminded_due_at = models.DateTimeField(_("due reminder sent at"), null=True, blank=True)
    reminded_overdue_at = models.DateTimeField(_("overdue reminder sent at"), null=True, blank=True)
    history = HistoricalRecords(history_change_reason_field=history_reason_field())

    class Meta:
        verbose_name = _("schedule item")
        verbose_name_plural = _("schedule items")
        ordering = ["planned_on", "kind", "key"]
        constraints = [
            models.UniqueConstraint(fields=["line", "key"], name="scheduleitem_unique_key"),
            models.CheckConstraint(
                condition=Q(window_opens__lte=models.F("planned_on"))
                & Q(window_closes__gte=models.F("planned_on")),
                name="scheduleitem_window_contains_planned",
            ),
            models.CheckConstraint(
                condition=Q(status="done", done_on__isnull=False)
                | (~Q(status="done") & Q(done_on__isnull=True)),
                name="scheduleitem_done_has_date",
            ),
        ]
        indexes = [
            # The daily job: window opening (upcoming -> due), closing (-> overdue), grace
            # passed (-> missed), and the two reminder stages.
            models.Index(fields=["status", "window_opens"], name="scheduleitem_opens"),
            models.Index(fields=["status", "window_closes"], name="scheduleitem_closes"),
            models.Index(fields=["status", "missed_after"], name="scheduleitem_missed"),
            models.Index(
                fields=["remind_from"],
                condition=Q(reminded_due_at__isnull=True, status__in=["upcoming", "due"]),
                name="scheduleitem_remind_due",
            ),
            models.Index(
                fields=["window_closes"],
                condition=Q(reminded_overdue_at__isnull=True, status__in=["overdue", "missed"]),
                name="scheduleitem_remind_overdue",
            ),
            # Completion lookups (a blood draw marks the item of its kind nearest its date).
            models.Index(fields=["patient", "kind", "planned_on"], name="scheduleitem_patient"),
            # The admin list's default order (Meta.ordering, then the admin's "-pk"): its first
            # page is read from the index instead of sorting every row; also for a status
            # and for held items, which are too few for a walk along the first index to find.
            models.Index(
                fields=["planned_on", "kind", "key", "-id"], name="scheduleitem_admin_order"
            ),
            models.Index(
                fields=["status", "planned_on", "kind", "key", "-id"],
                name="scheduleitem_admin_status",
            ),
            models.Index(
                fields=["planned_on", "kind", "key", "-id"],
                condition=Q(held=True),
                name="scheduleitem_admin_held",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} {self.key} {self.planned_on} ({self.status})"

"""Sites, staff roles and API tokens."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from .base import NoDeleteManager, history_reason_field


class Role(models.TextChoices):
    INVESTIGATOR = "investigator", _("Investigator")
    COORDINATOR = "coordinator", _("Research coordinator")
    DATA_MANAGER = "data_manager", _("Data manager")
    SPONSOR_MONITOR = "sponsor_monitor", _("Sponsor monitor")
    STATISTICIAN = "statistician", _("Statistician")
    LAB = "lab", _("Laboratory service account")


SITE_ROLES = frozenset({Role.INVESTIGATOR, Role.COORDINATOR})
CENTRAL_ROLES = frozenset({Role.DATA_MANAGER, Role.SPONSOR_MONITOR, Role.STATISTICIAN})
READ_ONLY_ROLES = frozenset({Role.SPONSOR_MONITOR, Role.STATISTICIAN, Role.LAB})


class Site(models.Model):
    code = models.SlugField(_("site code"), max_length=16, unique=True)
    name = models.CharField(_("name"), max_length=200)
    country = models.CharField(_("country (ISO 3166-1 alpha-2)"), max_length=2)
    active = models.BooleanField(_("active"), default=True)
    history = HistoricalRecords(history_change_reason_field=history_reason_field())

    objects = NoDeleteManager()

    class Meta:
        verbose_name = _("site")
        verbose_name_plural = _("sites")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(code__regex=r"^[A-Z0-9]{2,16}$"), name="site_code_format"
            )
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class StaffProfile(models.Model):
    """A user's role in the trial, the sites they work at, and their language."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="staff"
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    sites = models.ManyToManyField(Site, related_name="staff", blank=True, verbose_name=_("sites"))
    language = models.CharField(
        _("language"), max_length=8, choices=settings.LANGUAGES, default="en"
    )
    history = HistoricalRecords(
        history_change_reason_field=history_reason_field(), m2m_fields=[sites]
    )

    objects = NoDeleteManager()

    class Meta:
        verbose_name = _("staff profile")
        verbose_name_plural = _("staff profiles")

    def __str__(self) -> str:
        return f"{self.user.get_username()} ({self.get_role_display()})"

    @property
    def is_central(self) -> bool:
        return self.role in CENTRAL_ROLES

    @property
    def is_site_staff(self) -> bool:
        return self.role in SITE_ROLES

    @property
    def read_only(self) -> bool:
        return self.role in READ_ONLY_ROLES


class ApiToken(models.Model):
    """A bearer token, stored only as its SHA-256 digest; revocable and expiring."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_tokens"
    )
    digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(_("key prefix"), max_length=8)
    label = models.CharField(_("label"), max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = NoDeleteManager()

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user.get_username()})"

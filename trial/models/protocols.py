"""Protocols as data: each loaded YAML document is an immutable, hashed protocol version."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from .base import HardDeleteForbidden, NoDeleteManager


class Protocol(models.Model):
    code = models.SlugField(_("trial code"), max_length=32, unique=True)
    title = models.CharField(_("title"), max_length=300)

    objects = NoDeleteManager()

    class Meta:
        verbose_name = _("protocol")
        verbose_name_plural = _("protocols")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code

    def delete(self, *args, **kwargs):  # noqa: ARG002
        raise HardDeleteForbidden("protocols are never deleted")


class ProtocolVersion(models.Model):
    """One loaded protocol document. A changed file is a new version (an amendment)."""

    protocol = models.ForeignKey(Protocol, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField(_("version number"))
    document_version = models.CharField(_("document version"), max_length=32)
    content_sha256 = models.CharField(_("content SHA-256"), max_length=64)
    document = models.JSONField(_("protocol document"))
    source_name = models.CharField(_("source file"), max_length=200)
    loaded_at = models.DateTimeField(_("loaded at"), auto_now_add=True)

    objects = NoDeleteManager()

    class Meta:
        verbose_name = _("protocol version")
        verbose_name_plural = _("protocol versions")
        ordering = ["protocol__code", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["protocol", "number"], name="protocolversion_unique_number"
            ),
            models.UniqueConstraint(
                fields=["protocol", "content_sha256"], name="protocolversion_unique_content"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.protocol.code} v{self.number} ({self.document_version})"

    def delete(self, *args, **kwargs):  # noqa: ARG002
        raise HardDeleteForbidden("protocol versions are never deleted")

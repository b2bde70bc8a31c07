"""The baseline endpoint: the stack's ceiling for an audited single-row write.

A bare DRF ``APIView`` with the product's default authentication (hashed token) and permission
(an active staff profile), one durable transaction inserting one ``BaselineRow`` and its history
row, and a small JSON answer. No validation, no domain rules, no outbox: whatever the product's
ingestion costs beyond this is its own.
"""

from __future__ import annotations

from django.db import transaction
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import BaselineRow


class BaselineInsertApi(APIView):
    def post(self, request):
        with transaction.atomic(durable=True):
            row = BaselineRow.objects.create(
                sample_id=str(request.data["sample_id"]),
                value=float(request.data.get("value", 0)),
                created_by=request.user,
            )
        return Response({"id": row.pk, "sample_id": row.sample_id}, status=status.HTTP_201_CREATED)

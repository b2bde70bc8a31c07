"""FHIR clients send and accept ``application/fhir+json`` (HL7 FHIR R4, "JSON Representation")."""

from __future__ import annotations

from rest_framework.renderers import JSONRenderer

from trial.api.parsers import TrialJSONParser


class FhirJsonParser(TrialJSONParser):
    media_type = "application/fhir+json"


class FhirJsonRenderer(JSONRenderer):
    media_type = "application/fhir+json"
    format = "fhir"

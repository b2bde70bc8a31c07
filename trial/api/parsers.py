"""The API's JSON parser: JSON as DRF parses it, refusing any string that carries a NUL.

PostgreSQL ``text`` and ``jsonb`` cannot hold the NUL character (``\\u0000``): a body that
carries one in a free-form JSON field (a key or a value of ``stratification``, say) would
reach the database and fail there as a 500. Serializer ``CharField``s already refuse NUL; this
refuses it once for every JSON body, in keys and values at any depth, with 400 ``invalid_input``
before any view runs.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from trial.rules.text import contains_nul


class TrialJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        if contains_nul(data):
            raise ParseError(_("The request contains a NUL character."), code="invalid_input")
        return data

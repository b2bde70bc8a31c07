"""Loading protocol files: validate, hash, and store each distinct content as a new version."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from django.db import transaction
from django.db.models import Max

from trial.exceptions import ProtocolInvalid
from trial.models import Protocol, ProtocolVersion
from trial.protocol.schema import PROTOCOL_SCHEMA, semantic_problems

PROTOCOL_DIR = Path(__file__).resolve().parent.parent / "protocols"


@dataclass(frozen=True)
class LoadResult:
    version: ProtocolVersion
    created: bool


def _path_of(error: jsonschema.ValidationError) -> str:
    path = ""
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(document)"


def protocol_parse(text: str, *, source_name: str) -> dict[str, Any]:
    """Parse and validate a protocol document.

    Raises ProtocolInvalid whose details list every problem as {file, path, message}.
    """
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(document)"
        raise ProtocolInvalid(
            f"{source_name}: not valid YAML",
            {"problems": [{"file": source_name, "path": where, "message": str(exc)}]},
        ) from exc
    if not isinstance(doc, dict):
        raise ProtocolInvalid(
            f"{source_name}: a protocol is a mapping",
            {"problems": [{"file": source_name, "path": "(document)", "message": "not a mapping"}]},
        )
    validator = jsonschema.Draft202012Validator(PROTOCOL_SCHEMA)
    problems = [
        {"file": source_name, "path": _path_of(e), "message": e.message}
        for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    ]
    if not problems:
        problems = [
            {"file": source_name, "path": path, "message": message}
            for path, message in semantic_problems(doc)
        ]
    if problems:
        summary = "; ".join(f"{p['path']}: {p['message']}" for p in problems[:5])
        raise ProtocolInvalid(f"{source_name}: {summary}", {"problems": problems})
    return doc


def protocol_load(*, text: str, source_name: str) -> LoadResult:
    """Load a protocol document. Idempotent: identical content is the existing version; a
    changed document becomes the next version number (an amendment). A text whose parsed
    document equals the latest version's (a comment or layout edit) is that version, not an
    amendment. Patients stay on the version they consented under.
    """
    doc = protocol_parse(text, source_name=source_name)
    digest = hashlib.sha256(text.encode()).hexdigest()
    with transaction.atomic(durable=True):
        protocol, _ = Protocol.objects.get_or_create(
            code=doc["trial"]["code"], defaults={"title": doc["trial"]["title"]}
        )
        # Lock the protocol row so two loads of different amendments get distinct numbers.
        protocol = Protocol.objects.select_for_update().get(pk=protocol.pk)
        existing = ProtocolVersion.objects.filter(protocol=protocol, content_sha256=digest).first()
        if existing is not None:
            return LoadResult(existing, False)
        latest = protocol.versions.order_by("-number").first()
        # As stored (JSON turns integer keys into strings), to compare with the stored document.
        if latest is not None and latest.document == json.loads(json.dumps(doc)):
            # Only comments or layout changed: the document, hence the protocol, is the same.
            return LoadResult(latest, False)
        last = protocol.versions.aggregate(n=Max("number"))["n"] or 0
        if protocol.title != doc["trial"]["title"]:
            protocol.title = doc["trial"]["title"]
            protocol.save(update_fields=["title"])
        version = ProtocolVersion.objects.create(
            protocol=protocol,
            number=last + 1,
            document_version=str(doc["trial"]["document_version"]),
            content_sha256=digest,
            document=doc,
            source_name=source_name,
        )
    return LoadResult(version, True)


def protocol_load_file(path: Path | str) -> LoadResult:
    path = Path(path)
    return protocol_load(text=path.read_text(encoding="utf-8"), source_name=path.name)


def protocol_current_version(code: str) -> ProtocolVersion:
    return (
        ProtocolVersion.objects.filter(protocol__code=code)
        .select_related("protocol")
        .latest("number")
    )

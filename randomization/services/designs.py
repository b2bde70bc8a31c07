"""Designs: generate (from a statistician's seed) or import a list, activate, retire, view.

Only a statistician writes designs. The seed is never stored: the design keeps its SHA-256,
and the audit trail records the list's SHA-256 (``randomization.rules.blocks.list_digest``).

Minimization needs one uniform draw per allocation. The draws are generated from the seed
together with the design (``randomization.rules.minimization.iter_minimization_draws``) and
stored as sealed rows, concealed like a list: allocation never needs the seed, and every
allocation records the draw it used so it can be re-derived. Their digest is the SHA-256 of
``canonical_draws_csv`` (header ``sequence_number,draw_53bit``, LF line ends), where
``draw_53bit`` is the integer ``k`` of the draw ``k / 2**53``, exact in any language.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Max

from randomization.exceptions import (
    ImportRequiresPermutedBlocks,
    ProtocolNotRandomized,
    SeedTooShort,
    from_rule_error,
)
from randomization.models import (
    TWO_POW_53,
    Design,
    DesignSource,
    ListEntry,
    Method,
    MinimizationDraw,
    StratumCursor,
)
from randomization.rules.blocks import (
    PERMUTED_BLOCKS_V1,
    UNSTRATIFIED_KEY,
    BlockList,
    InvalidDesignError,
    RandomizationRuleError,
    all_strata,
    generate_block_list,
    list_digest,
    seed_digest,
    validate_block_sizes,
    validate_ratio,
)
from randomization.rules.list_import import import_block_list
from randomization.rules.minimization import (
    DEFAULT_P_PREFERRED,
    MINIMIZATION_DRAWS_V1,
    iter_minimization_draws,
    validate_design,
)
from trial.models import ProtocolVersion, Role
from trial.selectors.access import require_role
from trial.services.audit import audit_event_record, tracked_save

MIN_SEED_CHARS = 32
BATCH_SIZE = 1000
STATISTICIAN_ONLY = frozenset({Role.STATISTICIAN})
DRAWS_HEADER = "sequence_number,draw_53bit"


@dataclass(frozen=True, slots=True)
class DesignParameters:
    """The allocation design a protocol version defines (its ``randomization`` section, the
    randomized step's arms and the ``stratification`` factors)."""

    method: str
    arms: tuple[str, ...]
    ratio: dict[str, int]
    block_sizes: tuple[int, ...]
    factors: tuple[tuple[str, tuple[str, ...]], ...]
    weights: dict[str, float]
    p_preferred: float | None
    measure: str

    @property
    def factor_codes(self) -> tuple[str, ...]:
        return tuple(code for code, _ in self.factors)

    @property
    def levels(self) -> dict[str, tuple[str, ...]]:
        return dict(self.factors)

    def strata(self) -> tuple[str, ...]:
        return all_strata(self.factor_codes, levels=self.levels)


def design_parameters(version: ProtocolVersion) -> DesignParameters:
    """Read the design from a protocol version; ``protocol_not_randomized`` if it has none."""
    document = version.document
    rando = document.get("randomization")
    arms = randomized_arms(document)
    if not rando or not arms:
        raise ProtocolNotRandomized(details={"protocol": version.protocol.code})
    minimization = rando.get("minimization") or {}
    method = rando["method"]
    params = DesignParameters(
        method=method,
        arms=tuple(arm["code"] for arm in arms),
        ratio={arm["code"]: int(rando["ratio"][arm["code"]]) for arm in arms},
        block_sizes=tuple(rando.get("block_sizes") or ()),
        factors=tuple(
            (f["code"], tuple(f["levels"]))
            for f in document.get("stratification", {}).get("factors", [])
        ),
        weights=dict(minimization.get("weights") or {}),
        p_preferred=(
            float(minimization.get("p_preferred", DEFAULT_P_PREFERRED))
            if method == Method.MINIMIZATION
            else None
        ),
        measure=minimization.get("imbalance", "range") if method == Method.MINIMIZATION else "",
    )
    _validate(params)
    return params


def randomized_arms(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The arms of the protocol's randomized step, in protocol order (empty if none)."""
    for step in document.get("steps", []):
        if step.get("randomized"):
            return list(step.get("arms", []))
    return []


def _validate(params: DesignParameters) -> None:
    try:
        ratio_sum = validate_ratio(params.ratio)
        params.strata()
        if params.method == Method.PERMUTED_BLOCKS:
            validate_block_sizes(params.block_sizes, ratio_sum)
        else:
            validate_design(
                arms=params.arms,
                ratio=params.ratio,
                factor_weights=params.weights,
                p_preferred=params.p_preferred,
                measure=params.measure,
            )
    except RandomizationRuleError as exc:
        raise from_rule_error(exc) from exc


def canonical_draws_csv(draws_53bit: Iterable[int]) -> str:
    """Draws as CSV (see the module docstring); sequence numbers from 1."""
    lines = [DRAWS_HEADER]
    lines.extend(f"{i},{k}" for i, k in enumerate(draws_53bit, start=1))
    return "\n".join(lines) + "\n"


def draws_digest(draws_53bit: Iterable[int]) -> str:
    return hashlib.sha256(canonical_draws_csv(draws_53bit).encode("utf-8")).hexdigest()


def design_generate(
    *, protocol_version: ProtocolVersion, by: Any, seed: str, length: int
) -> Design:
    """Generate a draft design from the protocol version and the statistician's ``seed``.

    Permuted blocks: a list of ``length`` entries for every stratum of the protocol's factors.
    Minimization: ``length`` draws. Errors: role_not_allowed, seed_too_short (fewer than 32
    characters: the stored digest only conceals a seed with enough entropy),
    protocol_not_randomized, and the rule codes of a malformed design.
    """
    require_role(by, STATISTICIAN_ONLY)
    if not isinstance(seed, str) or len(seed) < MIN_SEED_CHARS:
        raise SeedTooShort()
    params = design_parameters(protocol_version)
    try:
        if params.method == Method.PERMUTED_BLOCKS:
            block_list = generate_block_list(
                arms=params.ratio,
                block_sizes=params.block_sizes,
                strata=params.strata(),
                length_per_stratum=length,
                seed=seed,
                algorithm_version=PERMUTED_BLOCKS_V1,
            )
        else:
            draws = list(
                itertools.islice(
                    iter_minimization_draws(seed=seed, algorithm_version=MINIMIZATION_DRAWS_V1),
                    _positive(length),
                )
            )
    except RandomizationRuleError as exc:
        raise from_rule_error(exc) from exc
    with transaction.atomic(durable=True):
        if params.method == Method.PERMUTED_BLOCKS:
            design = _create_list_design(
                protocol_version,
                params,
                block_list,
                by=by,
                source=DesignSource.GENERATED,
                seed_sha256=seed_digest(seed),
            )
        else:
            design = _create_minimization_design(
                protocol_version, params, draws, by=by, seed_sha256=seed_digest(seed)
            )
        _record_created(design, by, length=length, seed_sha256=design.seed_sha256)
        return design


def _positive(length: int) -> int:
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise from_rule_error(
            InvalidDesignError("length must be a positive integer", {"length": length})
        )
    return length


def design_import(
    *, protocol_version: ProtocolVersion, by: Any, text: str, declared_sha256: str
) -> Design:
    """Import a statistician's CSV list after verification (``import_block_list``: header,
    duplicates, gaps, balance per block, SHA-256 of the text). Creates a draft design.

    Errors: role_not_allowed, protocol_not_randomized, import_requires_permuted_blocks,
    invalid_randomization_list (every problem listed in ``details.problems``).
    """
    require_role(by, STATISTICIAN_ONLY)
    params = design_parameters(protocol_version)
    if params.method != Method.PERMUTED_BLOCKS:
        raise ImportRequiresPermutedBlocks()
    try:
        block_list = import_block_list(
            text=text, arms=params.ratio, declared_sha256=declared_sha256, strata=params.strata()
        )
    except RandomizationRuleError as exc:
        raise from_rule_error(exc) from exc
    with transaction.atomic(durable=True):
        design = _create_list_design(
            protocol_version,
            params,
            block_list,
            by=by,
            source=DesignSource.IMPORTED,
            seed_sha256="",
        )
        _record_created(design, by, length=None, file_sha256=declared_sha256.strip().lower())
        return design


def _next_number(protocol_version: ProtocolVersion) -> int:
    latest = Design.objects.filter(protocol_id=protocol_version.protocol_id).aggregate(
        n=Max("number")
    )["n"]
    return (latest or 0) + 1


def _new_design(
    protocol_version: ProtocolVersion, params: DesignParameters, **fields: Any
) -> Design:
    return Design(
        protocol_id=protocol_version.protocol_id,
        protocol_version=protocol_version,
        number=_next_number(protocol_version),
        method=params.method,
        arms=list(params.arms),
        ratio=params.ratio,
        block_sizes=list(params.block_sizes),
        factors=[{"code": code, "levels": list(levels)} for code, levels in params.factors],
        weights=params.weights,
        p_preferred=params.p_preferred,
        measure=params.measure,
        **fields,
    )


def _create_list_design(
    protocol_version: ProtocolVersion,
    params: DesignParameters,
    block_list: BlockList,
    *,
    by: Any,
    source: str,
    seed_sha256: str,
) -> Design:
    lengths: dict[str, int] = {}
    for entry in block_list.entries:
        lengths[entry.stratum] = max(lengths.get(entry.stratum, 0), entry.sequence_number)
    uniform = len(set(lengths.values())) == 1
    design = _new_design(
        protocol_version,
        params,
        source=source,
        algorithm_version=PERMUTED_BLOCKS_V1 if source == DesignSource.GENERATED else "imported",
        length=next(iter(lengths.values())) if uniform else None,
        seed_sha256=seed_sha256,
        list_sha256=list_digest(block_list),
    )
    tracked_save(design, by=by)
    # ListEntry is sealed and not history-tracked: bulk insertion records nothing less.
    ListEntry.objects.bulk_create(
        (
            ListEntry(
                design=design,
                stratum=e.stratum,
                sequence_number=e.sequence_number,
                arm=e.arm,
                block_number=e.block_number,
                block_size=e.block_size,
            )
            for e in block_list.entries
        ),
        batch_size=BATCH_SIZE,
    )
    StratumCursor.objects.bulk_create(
        StratumCursor(design=design, stratum=stratum, length=n) for stratum, n in lengths.items()
    )
    return design


def _create_minimization_design(
    protocol_version: ProtocolVersion,
    params: DesignParameters,
    draws: Sequence[float],
    *,
    by: Any,
    seed_sha256: str,
) -> Design:
    numerators = [int(draw * TWO_POW_53) for draw in draws]
    design = _new_design(
        protocol_version,
        params,
        source=DesignSource.GENERATED,
        algorithm_version=MINIMIZATION_DRAWS_V1,
        length=len(numerators),
        seed_sha256=seed_sha256,
        list_sha256=draws_digest(numerators),
    )
    tracked_save(design, by=by)
    MinimizationDraw.objects.bulk_create(
        (
            MinimizationDraw(design=design, sequence_number=i, draw_53bit=k)
            for i, k in enumerate(numerators, start=1)
        ),
        batch_size=BATCH_SIZE,
    )
    StratumCursor.objects.create(design=design, stratum=UNSTRATIFIED_KEY, length=len(numerators))
    return design


def _record_created(design: Design, by: Any, *, length: int | None, **digests: str) -> None:
    audit_event_record(
        action="randomization_list_generated"
        if design.source == DesignSource.GENERATED
        else "randomization_list_imported",
        actor=by,
        obj=design,
        details={
            "design": design.pk,
            "design_version": design.number,
            "protocol_version": design.protocol_version.number,
            "method": design.method,
            "algorithm_version": design.algorithm_version,
            "list_sha256": design.list_sha256,
            "length": length,
            "strata": design.cursors.count(),
            **digests,
        },
    )

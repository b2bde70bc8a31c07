"""Stratified permuted-block randomization lists with randomly varying block sizes.

Algorithm
---------
Each stratum has its own list, built from blocks. For every block:

1. a size is drawn uniformly from the design's distinct block sizes (sorted ascending), each a
   multiple of the allocation-ratio sum ``R``;
2. the block holds exactly ``ratio[arm] * size / R`` slots per arm, arms in code order;
3. the slots are shuffled with the Fisher-Yates algorithm (Knuth, *The Art of Computer
   Programming* vol. 2, 3.4.2, Algorithm P).

Blocks are appended until the stratum holds ``length_per_stratum`` entries. When the sizes do
not add up exactly, the last block is cut short; its entries keep the drawn ``block_size`` so a
reader can tell that it is incomplete. Because each block is balanced, the within-stratum
difference between two 1:1 arms is zero at every block end and never exceeds half the largest
block size. Fixed small blocks let an observer who knows the past allocations of a stratum
predict the last allocation of every block; randomly varying sizes lower, but do not remove,
that predictability (Blackwell & Hodges, Ann Math Stat 1957;28:449-460; Matts & Lachin,
Control Clin Trials 1988;9:327-344; Rosenberger & Lachin, *Randomization in Clinical Trials:
Theory and Practice*, 2nd ed., Wiley 2016, on restricted randomization and selection bias under
the convergence strategy). ``randomization.rules.simulation`` measures it before activation.

Random source
-------------
Every stratum gets a private generator keyed by ``SHA-256(algorithm_version, seed, stratum)``
(see ``derive_key``), so a stratum's list does not depend on which other strata are generated
and the same inputs give the same list bit for bit on any platform. The generator is a
counter-mode SHA-256 stream (``Sha256CounterDrbg``): output block ``i`` is
``SHA-256(key || i)`` with ``i`` as an unsigned 64-bit big-endian integer; the stream is the
concatenation of blocks ``0, 1, 2, ...`` cut into 64-bit big-endian words. Integers below ``n``
use rejection sampling (no modulo bias) and floats in [0, 1) use the top 53 bits of a word.

This was chosen over ``random.Random(int)`` because a sealed list must be reproducible years
later, possibly by the trial statistician in another language: CPython documents the Mersenne
Twister core but not the stability of ``shuffle``/``randrange``/``choice`` across versions,
whereas the construction above is a few lines over a standard hash. It follows the idea of
NIST SP 800-90A Hash_DRBG without its reseeding machinery and is not a certified DRBG;
concealment rests on the secrecy of the seed, which the caller should create with at least
256 bits from ``secrets`` and never store in clear next to the list (store ``seed_digest``).
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

PERMUTED_BLOCKS_V1 = "permuted-blocks/sha256-ctr/1"
SUPPORTED_ALGORITHM_VERSIONS = frozenset({PERMUTED_BLOCKS_V1})

DOMAIN_TAG = "adaptive-trial/randomization"
UNSTRATIFIED_KEY = "all"
CSV_HEADER = ("stratum", "sequence_number", "block_number", "arm", "block_size")

_TOKEN = re.compile(r"[A-Za-z0-9_.+-]+")
STRATUM_KEY = re.compile(r"[A-Za-z0-9_.+=|-]+")
_WORD_BYTES = 8
_TWO_POW_64 = 1 << 64
_TWO_POW_53 = float(1 << 53)


class RandomizationRuleError(Exception):
    """Base of every error raised by ``randomization.rules``.

    ``code`` is a stable snake_case contract; ``category`` is ``invalid_input`` (HTTP 400) or
    ``rule_violation`` (HTTP 422) so the service layer can map it to its own error classes.
    """

    code: ClassVar[str] = "randomization_rule_error"
    category: ClassVar[str] = "invalid_input"

    def __init__(self, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})


class InvalidDesignError(RandomizationRuleError):
    """Arms, ratio, strata, length or seed are malformed."""

    code = "invalid_design"


class InvalidBlockSizesError(RandomizationRuleError):
    """Block sizes are empty, repeated, not positive or not multiples of the ratio sum."""

    code = "invalid_block_sizes"


class UnsupportedAlgorithmVersionError(RandomizationRuleError):
    """The requested algorithm version is not implemented by this module."""

    code = "unsupported_algorithm_version"


class StratumIncompleteError(RandomizationRuleError):
    """A stratification factor has no value; ``details["missing"]`` lists every such factor."""

    code = "stratum_incomplete"
    category = "rule_violation"


class StratumInvalidLevelError(RandomizationRuleError):
    """A factor value is not one of its levels; ``details["invalid"]`` maps factor -> value."""

    code = "stratum_invalid_level"


@dataclass(frozen=True, slots=True)
class BlockEntry:
    """One slot of a randomization list: the ``sequence_number``-th allocation in a stratum."""

    stratum: str
    sequence_number: int
    arm: str
    block_number: int
    block_size: int


@dataclass(frozen=True, slots=True)
class BlockList:
    """A randomization list: entries per stratum, ``sequence_number`` 1..n in each stratum."""

    entries: tuple[BlockEntry, ...]

    def strata(self) -> tuple[str, ...]:
        """Strata in order of first appearance."""
        return tuple(dict.fromkeys(entry.stratum for entry in self.entries))

    def for_stratum(self, stratum: str) -> tuple[BlockEntry, ...]:
        """Entries of one stratum, by sequence number."""
        chosen = (entry for entry in self.entries if entry.stratum == stratum)
        return tuple(sorted(chosen, key=lambda entry: entry.sequence_number))


class Sha256CounterDrbg:
    """Deterministic random stream: block ``i`` is ``SHA-256(key || uint64_be(i))``.

    Private to its owner: create one per purpose from ``derive_key``; never share it between
    strata or designs. Not thread-safe (it keeps a read position).
    """

    __slots__ = ("_buffer", "_counter", "_key")

    def __init__(self, key: bytes) -> None:
        if len(key) != hashlib.sha256().digest_size:
            raise ValueError("key must be a 32-byte SHA-256 digest")
        self._key = key
        self._counter = 0
        self._buffer = b""

    def block(self, counter: int) -> bytes:
        """The 32-byte output block at ``counter``, without moving the read position."""
        return hashlib.sha256(self._key + counter.to_bytes(8, "big")).digest()

    def next_u64(self) -> int:
        """The next 64-bit unsigned word of the stream."""
        if len(self._buffer) < _WORD_BYTES:
            self._buffer += self.block(self._counter)
            self._counter += 1
        word, self._buffer = self._buffer[:_WORD_BYTES], self._buffer[_WORD_BYTES:]
        return int.from_bytes(word, "big")

    def randbelow(self, n: int) -> int:
        """Uniform integer in [0, n) by rejection sampling; ``n == 1`` consumes nothing."""
        if n < 1:
            raise ValueError("n must be at least 1")
        if n == 1:
            return 0
        limit = _TWO_POW_64 - (_TWO_POW_64 % n)
        while True:
            word = self.next_u64()
            if word < limit:
                return word % n

    def uniform(self) -> float:
        """Uniform float in [0, 1) with 53 bits of resolution."""
        return word_to_unit_float(self.next_u64())

    def shuffle(self, items: list[Any]) -> None:
        """Fisher-Yates shuffle in place (Knuth, Algorithm P), last position first."""
        for i in range(len(items) - 1, 0, -1):
            j = self.randbelow(i + 1)
            items[i], items[j] = items[j], items[i]


def word_to_unit_float(word: int) -> float:
    """Map a 64-bit word to [0, 1) using its top 53 bits."""
    return (word >> 11) / _TWO_POW_53


def derive_key(purpose: str, *fields: str) -> bytes:
    """SHA-256 over length-prefixed UTF-8 fields: ``DOMAIN_TAG``, ``purpose``, ``fields``.

    Each field is preceded by its byte length as an unsigned 64-bit big-endian integer, so
    ``("ab", "c")`` and ``("a", "bc")`` give different keys.
    """
    digest = hashlib.sha256()
    for field in (DOMAIN_TAG, purpose, *fields):
        encoded = field.encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "big"))
        digest.update(encoded)
    return digest.digest()


def seed_digest(seed: str) -> str:
    """Hex SHA-256 of the seed's UTF-8 bytes (``printf %s "$seed" | sha256sum``).

    Stored instead of the seed to commit to it without revealing it. It only conceals a seed
    with enough entropy; a short or guessable seed can be recovered from its digest.
    """
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()


def canonical_csv(block_list: BlockList) -> str:
    """The list as CSV: header ``CSV_HEADER``, LF line ends, sorted by stratum then sequence.

    Arm codes and stratum keys never need quoting (both are validated token strings). The
    output is accepted by ``randomization.rules.list_import.import_block_list``.
    """
    rows = sorted(block_list.entries, key=lambda e: (e.stratum, e.sequence_number))
    lines = [",".join(CSV_HEADER)]
    lines.extend(
        f"{e.stratum},{e.sequence_number},{e.block_number},{e.arm},{e.block_size}" for e in rows
    )
    return "\n".join(lines) + "\n"


def list_digest(block_list: BlockList) -> str:
    """Hex SHA-256 of ``canonical_csv(block_list)`` encoded as UTF-8.

    Independent of entry order; equal to ``sha256sum`` of the exported canonical file.
    """
    return hashlib.sha256(canonical_csv(block_list).encode("utf-8")).hexdigest()


def stratum_key(
    factors: Sequence[str],
    values: Mapping[str, str],
    *,
    levels: Mapping[str, Sequence[str]],
) -> str:
    """Canonical stratum key: ``factor=level`` pairs joined by ``|`` in the given factor order.

    Example: ``visceral_metastases=yes|time_on_step1=ge_12_months``. With no factors the key is
    ``UNSTRATIFIED_KEY``. Values for factors not listed are ignored.

    Raises ``StratumIncompleteError`` (``stratum_incomplete``) listing every factor without a
    value, and ``StratumInvalidLevelError`` (``stratum_invalid_level``) listing every value that
    is not one of its factor's ``levels``; ``InvalidDesignError`` when a factor has no levels.
    """
    _check_factors(factors, levels)
    missing = [factor for factor in factors if values.get(factor) in (None, "")]
    if missing:
        raise StratumIncompleteError(
            f"missing value for stratification factor(s): {', '.join(missing)}",
            {"missing": missing},
        )
    invalid = {f: values[f] for f in factors if values[f] not in tuple(levels[f])}
    if invalid:
        raise StratumInvalidLevelError(
            "value(s) not among the factor levels: "
            + ", ".join(f"{f}={v!r}" for f, v in invalid.items()),
            {"invalid": invalid, "levels": {f: list(levels[f]) for f in invalid}},
        )
    if not factors:
        return UNSTRATIFIED_KEY
    return "|".join(f"{factor}={values[factor]}" for factor in factors)


def all_strata(factors: Sequence[str], *, levels: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """Every stratum key of the factors' cross-classification, first factor varying slowest."""
    _check_factors(factors, levels)
    combos = itertools.product(*(tuple(levels[factor]) for factor in factors))
    return tuple(
        stratum_key(factors, dict(zip(factors, combo, strict=True)), levels=levels)
        for combo in combos
    )


def validate_ratio(arms: Mapping[str, int]) -> int:
    """Check arm codes and integer ratios; return the ratio sum. Raises ``InvalidDesignError``."""
    if len(arms) < 2:
        raise InvalidDesignError("at least two arms are required", {"arms": list(arms)})
    bad_codes = [arm for arm in arms if not isinstance(arm, str) or not _TOKEN.fullmatch(arm)]
    if bad_codes:
        raise InvalidDesignError(
            "arm codes must match [A-Za-z0-9_.+-]+", {"invalid_arms": [str(a) for a in bad_codes]}
        )
    bad_ratios = {a: r for a, r in arms.items() if not _is_positive_int(r)}
    if bad_ratios:
        raise InvalidDesignError(
            "allocation ratios must be positive integers", {"invalid_ratios": dict(bad_ratios)}
        )
    return sum(arms.values())


def validate_block_sizes(block_sizes: Sequence[int], ratio_sum: int) -> tuple[int, ...]:
    """Check sizes; return them sorted ascending. Raises ``InvalidBlockSizesError``."""
    sizes = tuple(block_sizes)
    if not sizes:
        raise InvalidBlockSizesError("at least one block size is required")
    if len(set(sizes)) != len(sizes):
        raise InvalidBlockSizesError("block sizes must be distinct", {"block_sizes": list(sizes)})
    bad = [s for s in sizes if not _is_positive_int(s) or s % ratio_sum != 0]
    if bad:
        raise InvalidBlockSizesError(
            f"block sizes must be positive multiples of the ratio sum {ratio_sum}",
            {"invalid": bad, "ratio_sum": ratio_sum},
        )
    return tuple(sorted(sizes))


def iter_stratum_allocations(
    *,
    arms: Mapping[str, int],
    block_sizes: Sequence[int],
    seed: str,
    algorithm_version: str,
    stratum: str,
) -> Iterator[BlockEntry]:
    """Endless stream of one stratum's entries, as ``generate_block_list`` builds them.

    ``generate_block_list`` is the first ``length_per_stratum`` items of this stream for each
    stratum; simulations read it lazily. Validates like ``generate_block_list``.
    """
    ratio_sum = validate_ratio(arms)
    sizes = validate_block_sizes(block_sizes, ratio_sum)
    _check_version(algorithm_version)
    _check_seed(seed)
    _check_strata([stratum])
    return _stream(arms, ratio_sum, sizes, seed, algorithm_version, stratum)


def generate_block_list(
    *,
    arms: Mapping[str, int],
    block_sizes: Sequence[int],
    strata: Sequence[str],
    length_per_stratum: int,
    seed: str,
    algorithm_version: str,
) -> BlockList:
    """Generate a stratified permuted-block list (see the module docstring for the algorithm).

    ``arms`` maps arm code to integer ratio (``{"A": 1, "B": 1}``); ``block_sizes`` are distinct
    positive multiples of the ratio sum (their order does not matter); ``strata`` are distinct
    keys from ``stratum_key``. Entries come stratum by stratum in the given order, each with
    exactly ``length_per_stratum`` entries numbered from 1. Same inputs give the same list.

    Raises ``InvalidDesignError``, ``InvalidBlockSizesError`` or
    ``UnsupportedAlgorithmVersionError``.
    """
    ratio_sum = validate_ratio(arms)
    sizes = validate_block_sizes(block_sizes, ratio_sum)
    _check_version(algorithm_version)
    _check_seed(seed)
    _check_strata(strata)
    if not _is_positive_int(length_per_stratum):
        raise InvalidDesignError(
            "length_per_stratum must be a positive integer",
            {"length_per_stratum": length_per_stratum},
        )
    entries: list[BlockEntry] = []
    for stratum in strata:
        stream = _stream(arms, ratio_sum, sizes, seed, algorithm_version, stratum)
        entries.extend(itertools.islice(stream, length_per_stratum))
    return BlockList(entries=tuple(entries))


def _stream(
    arms: Mapping[str, int],
    ratio_sum: int,
    sizes: tuple[int, ...],
    seed: str,
    algorithm_version: str,
    stratum: str,
) -> Iterator[BlockEntry]:
    drbg = Sha256CounterDrbg(derive_key("permuted-blocks", algorithm_version, seed, stratum))
    ordered_arms = sorted(arms)
    sequence_number = 0
    for block_number in itertools.count(1):
        size = sizes[drbg.randbelow(len(sizes))]
        slots = [arm for arm in ordered_arms for _ in range(arms[arm] * size // ratio_sum)]
        drbg.shuffle(slots)
        for arm in slots:
            sequence_number += 1
            yield BlockEntry(stratum, sequence_number, arm, block_number, size)


def _is_positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _check_version(algorithm_version: str) -> None:
    if algorithm_version not in SUPPORTED_ALGORITHM_VERSIONS:
        raise UnsupportedAlgorithmVersionError(
            f"unsupported algorithm version {algorithm_version!r}",
            {"supported": sorted(SUPPORTED_ALGORITHM_VERSIONS)},
        )


def _check_seed(seed: str) -> None:
    if not isinstance(seed, str) or not seed:
        raise InvalidDesignError("seed must be a non-empty string")


def _check_strata(strata: Sequence[str]) -> None:
    if not strata:
        raise InvalidDesignError("at least one stratum is required")
    bad = [s for s in strata if not isinstance(s, str) or not STRATUM_KEY.fullmatch(s)]
    if bad:
        raise InvalidDesignError(
            "stratum keys must match [A-Za-z0-9_.+=|-]+", {"invalid_strata": [str(s) for s in bad]}
        )
    if len(set(strata)) != len(strata):
        raise InvalidDesignError("strata must be distinct", {"strata": list(strata)})


def _check_factors(factors: Sequence[str], levels: Mapping[str, Sequence[str]]) -> None:
    if len(set(factors)) != len(factors):
        raise InvalidDesignError("factors must be distinct", {"factors": list(factors)})
    tokens = [*factors, *(lv for f in factors for lv in levels.get(f, ()))]
    bad = [t for t in tokens if not isinstance(t, str) or not _TOKEN.fullmatch(t)]
    empty = [f for f in factors if not levels.get(f)]
    if bad or empty:
        raise InvalidDesignError(
            "each factor needs levels; codes and levels must match [A-Za-z0-9_.+-]+",
            {"invalid_tokens": [str(t) for t in bad], "factors_without_levels": empty},
        )

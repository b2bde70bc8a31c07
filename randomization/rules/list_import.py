"""Verification of a randomization list supplied by the trial statistician as CSV text.

A sealed list produced outside the system is accepted only if every check passes; otherwise
``ListImportError`` lists every problem found, each with its line number when it has one, so
the statistician can fix the file in one round:

- the SHA-256 of the text (UTF-8 bytes) equals the digest declared by the statistician. Pass
  the text exactly as stored (read with ``newline=""``) so the digest matches ``sha256sum``;
- the header is exactly ``stratum,sequence_number,block_number,arm`` or the same followed by
  ``,block_size`` (the format written by ``randomization.rules.blocks.canonical_csv``);
- every row has that many fields, positive integers where numbers are expected, a known arm,
  a stratum key made of ``[A-Za-z0-9_.+=|-]`` and, when the expected strata are given, one of
  them; every expected stratum has rows;
- within each stratum, sequence numbers run 1..n without gaps or duplicates, and block numbers,
  read in sequence order, start at 1 and rise by at most one (blocks are contiguous);
- each complete block holds arms exactly in the allocation ratio. Without a ``block_size``
  column every block is complete. With it, all rows of a block declare the same size, a
  positive multiple of the ratio sum; a block with fewer rows than its size is allowed only as
  the last block of its stratum (a list cut at its planned length) and must not exceed any
  arm's share of the block.

Rejecting a list on any doubt, rather than repairing it, follows the defensive list import of
the clinicedc/clinicedc trial EDC; permuted-block balance follows Rosenberger & Lachin,
*Randomization in Clinical Trials: Theory and Practice*, 2nd ed., Wiley 2016.

Blank lines at the end of the text are ignored; blank lines elsewhere are problems. A leading
byte-order mark is ignored for parsing (it still counts in the digest).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from randomization.rules.blocks import (
    CSV_HEADER,
    STRATUM_KEY,
    BlockEntry,
    BlockList,
    RandomizationRuleError,
    validate_ratio,
)

REQUIRED_HEADER = CSV_HEADER[:4]
FULL_HEADER = CSV_HEADER
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_BOM = "\ufeff"

K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class ListProblem:
    """One problem in the file; ``line`` is 1-based, ``None`` for file-wide problems."""

    line: int | None
    code: str
    message: str


class ListImportError(RandomizationRuleError):
    """The list was rejected; ``problems`` (also ``details["problems"]``) lists every reason."""

    code = "invalid_randomization_list"
    category = "rule_violation"

    def __init__(self, problems: Sequence[ListProblem]) -> None:
        self.problems = tuple(problems)
        lines = [f"line {p.line}: {p.message}" if p.line else p.message for p in self.problems]
        super().__init__(
            f"randomization list rejected ({len(self.problems)} problem(s)): " + "; ".join(lines),
            {
                "problems": [
                    {"line": p.line, "code": p.code, "message": p.message} for p in problems
                ]
            },
        )


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    stratum: str
    sequence_number: int
    block_number: int
    arm: str
    block_size: int | None


def import_block_list(
    *,
    text: str,
    arms: Mapping[str, int],
    declared_sha256: str,
    strata: Sequence[str] | None = None,
) -> BlockList:
    """Verify a statistician's CSV list and return it as a ``BlockList`` (entries in file order).

    ``arms`` maps arm code to integer ratio; ``declared_sha256`` is the hex digest the
    statistician sent with the file (case-insensitive); ``strata``, when given, are the
    expected stratum keys. Rows without a ``block_size`` column get the size of their block.

    Raises ``ListImportError`` (``invalid_randomization_list``) listing every problem, or
    ``InvalidDesignError`` when ``arms`` itself is malformed.
    """
    validate_ratio(arms)
    problems = list(_check_digest(text, declared_sha256))
    rows, row_problems = _parse(text, arms, strata)
    problems.extend(row_problems)
    if rows is not None:
        problems.extend(_check_strata_present(rows, strata))
        by_stratum = _group(rows, lambda r: r.stratum)
        for stratum_rows in by_stratum.values():
            ordered, sequence_problems = _check_sequence(stratum_rows)
            problems.extend(sequence_problems)
            if not sequence_problems:
                problems.extend(_check_blocks(ordered, arms))
    if problems or rows is None:
        raise ListImportError(sorted(problems, key=_problem_order))
    return BlockList(entries=_entries(rows))


def _problem_order(problem: ListProblem) -> tuple[int, int]:
    return (0 if problem.line is None else 1, problem.line or 0)


def _check_digest(text: str, declared_sha256: str) -> Iterable[ListProblem]:
    declared = declared_sha256.strip().lower() if isinstance(declared_sha256, str) else ""
    if not _SHA256_HEX.fullmatch(declared):
        yield ListProblem(None, "invalid_declared_hash", "declared SHA-256 is not 64 hex digits")
        return
    actual = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if actual != declared:
        yield ListProblem(
            None,
            "hash_mismatch",
            f"SHA-256 of the content is {actual}, declared {declared}",
        )


def _parse(
    text: str, arms: Mapping[str, int], strata: Sequence[str] | None
) -> tuple[list[_Row] | None, list[ListProblem]]:
    reader = csv.reader(io.StringIO(text.removeprefix(_BOM), newline=""), strict=True)
    try:
        records = [(reader.line_num, record) for record in reader]
    except csv.Error as exc:
        return None, [ListProblem(reader.line_num, "malformed_csv", f"unreadable CSV: {exc}")]
    while records and not records[-1][1]:
        records.pop()
    if not records:
        return None, [ListProblem(None, "empty_list", "the file is empty")]
    header_line, header = records[0]
    if tuple(header) not in (REQUIRED_HEADER, FULL_HEADER):
        expected = ",".join(REQUIRED_HEADER)
        message = (
            f"header must be {expected!r} (optionally ',block_size'), got {','.join(header)!r}"
        )
        return None, [ListProblem(header_line, "bad_header", message)]
    known_strata = None if strata is None else frozenset(strata)
    rows: list[_Row] = []
    problems: list[ListProblem] = []
    for line, record in records[1:]:
        row, row_problems = _parse_row(line, record, len(header), arms, known_strata)
        problems.extend(row_problems)
        if row is not None:
            rows.append(row)
    if not rows and not problems:
        problems.append(ListProblem(None, "empty_list", "the file has a header but no rows"))
    return rows, problems


def _parse_row(
    line: int,
    record: list[str],
    width: int,
    arms: Mapping[str, int],
    known_strata: frozenset[str] | None,
) -> tuple[_Row | None, list[ListProblem]]:
    if not record:
        return None, [ListProblem(line, "blank_line", "blank line inside the list")]
    if len(record) != width:
        message = f"expected {width} fields, found {len(record)}"
        return None, [ListProblem(line, "wrong_field_count", message)]
    problems: list[ListProblem] = []
    stratum, arm = record[0], record[3]
    numbers = {
        name: _positive_int(line, name, value, problems)
        for name, value in zip(FULL_HEADER[1:], record[1:], strict=False)
        if name != "arm"
    }
    if arm not in arms:
        problems.append(ListProblem(line, "unknown_arm", f"unknown arm {arm!r}"))
    if not STRATUM_KEY.fullmatch(stratum):
        message = f"stratum {stratum!r} must match {STRATUM_KEY.pattern}"
        problems.append(ListProblem(line, "invalid_stratum", message))
    elif known_strata is not None and stratum not in known_strata:
        problems.append(ListProblem(line, "unknown_stratum", f"unknown stratum {stratum!r}"))
    if problems:
        return None, problems
    row = _Row(
        line=line,
        stratum=stratum,
        sequence_number=numbers["sequence_number"],
        block_number=numbers["block_number"],
        arm=arm,
        block_size=numbers.get("block_size"),
    )
    return row, []


def _positive_int(line: int, name: str, value: str, problems: list[ListProblem]) -> int:
    if value.isascii() and value.isdigit() and int(value) > 0:
        return int(value)
    problems.append(
        ListProblem(line, "bad_integer", f"{name} must be a positive integer: {value!r}")
    )
    return 0


def _check_strata_present(rows: list[_Row], strata: Sequence[str] | None) -> list[ListProblem]:
    if strata is None:
        return []
    present = {row.stratum for row in rows}
    return [
        ListProblem(None, "missing_stratum", f"no rows for stratum {stratum!r}")
        for stratum in strata
        if stratum not in present
    ]


def _check_sequence(rows: list[_Row]) -> tuple[list[_Row], list[ListProblem]]:
    """One stratum's rows in sequence order (first of duplicates), and the sequence problems."""
    problems: list[ListProblem] = []
    seen: dict[int, _Row] = {}
    for row in rows:
        first = seen.setdefault(row.sequence_number, row)
        if first is not row:
            message = (
                f"duplicate sequence_number {row.sequence_number} in stratum {row.stratum!r}"
                f" (first on line {first.line})"
            )
            problems.append(ListProblem(row.line, "duplicate_sequence", message))
    ordered = sorted(seen.values(), key=lambda r: r.sequence_number)
    previous = 0
    for row in ordered:
        if row.sequence_number != previous + 1:
            missing = _span(previous + 1, row.sequence_number - 1)
            message = f"sequence_number {missing} missing in stratum {row.stratum!r}"
            problems.append(ListProblem(row.line, "sequence_gap", message))
        previous = row.sequence_number
    return ordered, problems


def _span(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}-{last}"


def _check_blocks(ordered: list[_Row], arms: Mapping[str, int]) -> list[ListProblem]:
    problems: list[ListProblem] = []
    previous = 0
    for row in ordered:
        if row.block_number not in (previous, previous + 1):
            message = (
                f"block_number {row.block_number} follows block {previous} in stratum"
                f" {row.stratum!r}; blocks must be numbered 1, 2, ... in sequence order"
            )
            problems.append(ListProblem(row.line, "block_order", message))
            return problems
        previous = row.block_number
    blocks = _group(ordered, lambda r: r.block_number)
    last_block = ordered[-1].block_number
    for number, block in blocks.items():
        problems.extend(_check_block(block, arms, is_last=number == last_block))
    return problems


def _check_block(block: list[_Row], arms: Mapping[str, int], *, is_last: bool) -> list[ListProblem]:
    first = block[0]
    where = f"block {first.block_number} of stratum {first.stratum!r}"
    ratio_sum = sum(arms.values())
    declared = {row.block_size for row in block}
    if len(declared) > 1:
        sizes = ", ".join(str(size) for size in sorted(declared))
        return [ListProblem(first.line, "block_size_mismatch", f"{where} declares sizes {sizes}")]
    size = declared.pop()
    size = len(block) if size is None else size
    if size % ratio_sum != 0:
        message = f"{where}: size {size} is not a multiple of the ratio sum {ratio_sum}"
        return [ListProblem(first.line, "block_size_not_multiple", message)]
    if len(block) > size:
        message = f"{where} has {len(block)} rows but declares size {size}"
        return [ListProblem(first.line, "block_overfull", message)]
    if len(block) < size and not is_last:
        message = f"{where} has {len(block)} rows but declares size {size}; only the last may"
        return [ListProblem(first.line, "incomplete_block", message + " be cut short")]
    quota = {arm: ratio * size // ratio_sum for arm, ratio in arms.items()}
    found = Counter(row.arm for row in block)
    complete = len(block) == size
    if any(
        found[arm] > share or (complete and found[arm] != share) for arm, share in quota.items()
    ):
        expected = ", ".join(f"{arm}={share}" for arm, share in quota.items())
        actual = ", ".join(f"{arm}={found[arm]}" for arm in quota)
        message = f"{where} is unbalanced: expected {expected}, found {actual}"
        return [ListProblem(first.line, "unbalanced_block", message)]
    return []


def _group(rows: Iterable[_Row], key: Callable[[_Row], K]) -> dict[K, list[_Row]]:
    groups: dict[K, list[_Row]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return groups


def _entries(rows: list[_Row]) -> tuple[BlockEntry, ...]:
    sizes = Counter((row.stratum, row.block_number) for row in rows)
    return tuple(
        BlockEntry(
            stratum=row.stratum,
            sequence_number=row.sequence_number,
            arm=row.arm,
            block_number=row.block_number,
            block_size=row.block_size or sizes[(row.stratum, row.block_number)],
        )
        for row in rows
    )

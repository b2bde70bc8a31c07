import secrets

from django.core.management.base import BaseCommand, CommandError

from randomization.management.common import domain_error, protocol_version
from randomization.rules.blocks import RandomizationRuleError
from randomization.rules.simulation import (
    FactorDistribution,
    format_report,
    simulate_minimization,
    simulate_permuted_blocks,
)
from randomization.services.designs import design_parameters
from trial.exceptions import DomainError


class Command(BaseCommand):
    help = (
        "Simulate the protocol's allocation design before activation: imbalance overall, "
        "within strata and per factor level, and how often an observer guesses the next "
        "allocation. Level probabilities default to equal shares."
    )

    def add_arguments(self, parser):
        parser.add_argument("protocol", help="trial code, e.g. PADA1")
        parser.add_argument("--protocol-version", type=int, default=None)
        parser.add_argument("--trials", type=int, default=1000)
        parser.add_argument("--patients", type=int, default=200, help="patients per trial")
        parser.add_argument(
            "--method",
            choices=["permuted_blocks", "minimization"],
            default=None,
            help="simulate this method instead of the protocol's (same factors and ratio)",
        )
        parser.add_argument(
            "--levels",
            action="append",
            default=[],
            metavar="FACTOR=P1,P2,...",
            help="probabilities of the factor's levels, in protocol order",
        )
        parser.add_argument("--seed", default=None, help="simulation seed (printed if omitted)")

    def handle(self, *args, **options):
        version = protocol_version(options["protocol"], options["protocol_version"])
        try:
            params = design_parameters(version)
        except DomainError as exc:
            raise domain_error(exc) from exc
        factors = _distributions(params.factors, options["levels"])
        seed = options["seed"] or secrets.token_hex(16)
        method = options["method"] or params.method
        run = {
            "arms": params.ratio,
            "factors": factors,
            "n_trials": options["trials"],
            "n_patients": options["patients"],
            "seed": seed,
        }
        try:
            if method == "permuted_blocks":
                report = simulate_permuted_blocks(block_sizes=params.block_sizes, **run)
            else:
                minimization = version.document["randomization"].get("minimization", {})
                report = simulate_minimization(
                    factor_weights=params.weights or minimization.get("weights", {}),
                    p_preferred=float(minimization.get("p_preferred", 0.8)),
                    measure=minimization.get("imbalance", "range"),
                    **run,
                )
        except RandomizationRuleError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        self.stdout.write(f"{version.protocol.code} protocol v{version.number}; seed {seed}")
        self.stdout.write(format_report(report), ending="")


def _distributions(factors, overrides):
    given = {}
    for item in overrides:
        name, _, values = item.partition("=")
        try:
            given[name] = tuple(float(v) for v in values.split(","))
        except ValueError as exc:
            raise CommandError(f"--levels {item!r}: probabilities must be numbers") from exc
    unknown = sorted(set(given) - {code for code, _ in factors})
    if unknown:
        raise CommandError(f"--levels names unknown factor(s): {', '.join(unknown)}")
    return [
        FactorDistribution(
            factor=code,
            levels=levels,
            probabilities=given.get(code, tuple(1 / len(levels) for _ in levels)),
        )
        for code, levels in factors
    ]

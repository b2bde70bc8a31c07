"""Independent reference computations, written from the textbook formulas in plain Python
(no lifelines, no numpy), against which the analysis modules are checked.

- Kaplan-Meier product limit: S(t) = prod over event times t_j <= t of (1 - d_j / n_j).
- Greenwood: Var(log S(t)) = sum d_j / (n_j (n_j - d_j)); the log(-log) interval is
  S^exp(+z se) .. S^exp(-z se) with se = sqrt(Var(log S)) / |log S| (Kalbfleisch & Prentice).
- Log-rank per stratum: U = O_A - E_A, V = sum d (n - d) n_A n_B / (n^2 (n - 1)).
- Cox partial likelihood for one covariate with Efron's tie correction, maximised by
  Newton-Raphson; Wald standard error from the observed information.
"""

from __future__ import annotations

import math
from statistics import NormalDist

Z95 = NormalDist().inv_cdf(0.975)


def product_limit(times, events):
    """[(t, n_at_risk, d, S(t), lower, upper)] at each distinct time, Greenwood log(-log)."""
    rows = []
    survival = 1.0
    greenwood = 0.0
    for t in sorted(set(times)):
        n = sum(1 for u in times if u >= t)
        d = sum(1 for u, e in zip(times, events, strict=True) if u == t and e)
        if d:
            survival *= 1 - d / n
            greenwood += d / (n * (n - d)) if n > d else math.inf
        if 0 < survival < 1:
            se = math.sqrt(greenwood) / abs(math.log(survival))
            lower = survival ** math.exp(Z95 * se)
            upper = survival ** math.exp(-Z95 * se)
        else:
            lower = upper = survival
        rows.append((t, n, d, survival, lower, upper))
    return rows


def first_time_at_or_below(rows, column, level=0.5):
    for row in rows:
        if row[column] <= level:
            return row[0]
    return None


def logrank_parts(times, events, in_a):
    """(O_A - E_A, V) of one stratum for two groups (in_a[i] True for group A)."""
    u = v = 0.0
    for t in sorted({x for x, e in zip(times, events, strict=True) if e}):
        at_risk = [i for i, x in enumerate(times) if x >= t]
        n = len(at_risk)
        n_a = sum(1 for i in at_risk if in_a[i])
        d = sum(1 for i in at_risk if times[i] == t and events[i])
        d_a = sum(1 for i in at_risk if times[i] == t and events[i] and in_a[i])
        u += d_a - n_a * d / n
        if n > 1:
            v += d * (n - d) * n_a * (n - n_a) / (n * n * (n - 1))
    return u, v


def chi2_one_df_p(statistic):
    return math.erfc(math.sqrt(statistic / 2))


def _efron_terms(beta, times, events, x):
    """Log partial likelihood, score and information at beta (one covariate, Efron)."""
    loglik = score = information = 0.0
    for t in sorted({u for u, e in zip(times, events, strict=True) if e}):
        risk = [i for i, u in enumerate(times) if u >= t]
        dead = [i for i in risk if times[i] == t and events[i]]
        d = len(dead)
        s0_r = sum(math.exp(beta * x[i]) for i in risk)
        s1_r = sum(x[i] * math.exp(beta * x[i]) for i in risk)
        s2_r = sum(x[i] ** 2 * math.exp(beta * x[i]) for i in risk)
        s0_d = sum(math.exp(beta * x[i]) for i in dead)
        s1_d = sum(x[i] * math.exp(beta * x[i]) for i in dead)
        s2_d = sum(x[i] ** 2 * math.exp(beta * x[i]) for i in dead)
        loglik += beta * sum(x[i] for i in dead)
        score += sum(x[i] for i in dead)
        for step in range(d):
            share = step / d
            a = s0_r - share * s0_d
            b = s1_r - share * s1_d
            c = s2_r - share * s2_d
            loglik -= math.log(a)
            score -= b / a
            information += c / a - (b / a) ** 2
    return loglik, score, information


def efron_cox(strata_data, iterations=50):
    """(beta, se) for one covariate; strata_data = [(times, events, x), ...], one per stratum
    (the stratified partial likelihood is the sum over strata)."""
    beta = 0.0
    for _ in range(iterations):
        score = information = 0.0
        for times, events, x in strata_data:
            _, s, i = _efron_terms(beta, times, events, x)
            score += s
            information += i
        step = score / information
        beta += step
        if abs(step) < 1e-12:
            break
    information = sum(_efron_terms(beta, t, e, x)[2] for t, e, x in strata_data)
    return beta, 1 / math.sqrt(information)

"""What the demo reports: its configuration, its result, and the regulator's report as printed."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from xborder.domain.money import format_amount


@dataclass(frozen=True)
class DemoConfig:
    seed: int = 2019
    enterprises: int = 1262
    banks: int = 36
    foreign_branches: int = 6
    nbfis: int = 4
    creditors: int = 60
    loans: int = 6370
    total_usd: float = 6.8e9
    block_time: float = 0.2
    #: Create keystores (production scrypt) for the regulator and one bank and one enterprise, so
    #: the CLI can act as them afterwards. Tests turn it off.
    keystores: bool = True

    @classmethod
    def small(cls, seed: int = 7) -> DemoConfig:
        return cls(seed=seed, enterprises=40, banks=4, foreign_branches=1, nbfis=1, creditors=5,
                   loans=150, total_usd=1.5e8, keystores=False)


@dataclass
class DemoResult:
    rpc_url: str
    chain_id: int
    database: str
    institutions: int
    loans_attempted: int
    loans_recorded: int
    principal_usd: float
    by_currency: list[dict[str, Any]]
    refusals: dict[str, int]
    refusal_examples: dict[str, str]
    drawdowns: int
    repayments: int
    confirmations: int
    closed: int
    policy: dict[str, Any]
    top_utilisation: list[dict[str, Any]]
    consistency_ok: bool
    consistency_borrowers: int
    chain_loan_count: int
    indexed_loan_count: int
    indexed_events: int
    timings: dict[str, float]
    confidential_terms: dict[str, int] = field(default_factory=dict)
    dashboard: str | None = None
    wallets: dict[str, str] = field(default_factory=dict)
    password_file: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


REFUSAL_LABELS = {
    "BorrowingLimitExceeded": "would exceed the borrower's macro-prudential limit",
    "DocumentAlreadyBacksLoan": "document already backs a live loan on the chain",
    "DuplicateInBatch": "document backs another loan of the same batch",
    "LoanMatured": "drawdown after the loan's maturity date",
    "DrawdownExceedsAvailable": "drawdown above the undrawn principal",
    "RepaymentExceedsOutstanding": "repayment above what is outstanding",
    "ValueDateOutOfRange": "value date outside the policy's window around block time",
    "MaturityDateOutOfRange": "maturity outside the policy's window",
    "SignatureExpired": "the borrower's consent expired before it was submitted",
    "ConsentRevoked": "the borrower revoked its consents (signature epoch moved)",
    "UnauthorizedWallet": "wallet not on the borrower's or the lender's side",
    "BorrowerFrozen": "the regulator froze the borrower's drawdowns",
    "ValidationError": "invalid request (the field is named)",
}


def write_report(result: DemoResult, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result.to_json(), indent=2, default=str))
    tmp.replace(path)
    return path


def policy_lines(policy: dict[str, Any]) -> list[str]:
    """The adjustment parameters the run used, from the real calendar, and any change during it."""
    if not policy:
        return []
    in_force = ", ".join(f"{name} {value:g}" for name, value in policy.get("in_force", {}).items())
    lines = [f"policy in force (the real PBOC/SAFE calendar): {in_force} — {policy.get('source', '')}"]
    for change in policy.get("changes", []):
        limit = change.get("refusals_after", {}).get("BorrowingLimitExceeded", 0)
        lines.append(f"  month {change['month']}: {change['parameter']} -> {change['value']:g}; limit refusals after "
                     f"it: {limit:,}")
    upcoming = policy.get("next")
    if upcoming:
        lines.append(f"  no change during the run; next: {upcoming['parameter']} -> {upcoming['value']:g} on "
                     f"{upcoming['date']}")
    return lines


def summary_lines(result: DemoResult) -> list[str]:
    """The regulator's report, as printed by `xborder demo`."""
    lines = [
        f"institutions onboarded: {result.institutions:,}",
        f"loans recorded: {result.loans_recorded:,} of {result.loans_attempted:,} submitted "
        f"(principal ≈ USD {result.principal_usd:,.0f})",
        f"drawdowns: {result.drawdowns:,}   repayments: {result.repayments:,}   "
        f"borrower confirmations: {result.confirmations:,}   loans closed: {result.closed:,}",
    ]
    for row in result.by_currency:
        lines.append(f"  {row['currency']}: {row['loans']:,} loans, {format_amount(row['principal'], row['currency'])}"
                     f" (≈ {format_amount(row['principal_cny'], 'CNY')})")
    lines.append("refusals by reason (decoded from the contracts' errors; nothing refused was sent):")
    for reason, count in sorted(result.refusals.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {REFUSAL_LABELS.get(reason, reason)}: {count:,}")
        lines.append(f"      e.g. {result.refusal_examples.get(reason, '')}")
    lines += policy_lines(result.policy)
    lines.append("ten borrowers closest to their limits (a new drawdown above 100% is refused):")
    for row in result.top_utilisation:
        lines.append(f"  {row['name']}: {row['utilisation']:.1%} — "
                     f"{format_amount(row['risk_weighted_balance'], 'CNY')} of {format_amount(row['limit'], 'CNY')}")
    ct = result.confidential_terms
    if ct:
        lines.append(f"confidential terms: {ct.get('keys_registered', 0):,} encryption keys registered; "
                     f"{ct.get('envelopes', 0):,} envelopes on chain (terms encrypted for borrower, creditor side and "
                     f"regulator), {ct.get('opened_and_verified', 0):,} opened by the regulator's indexer and matched "
                     f"their commitments, {ct.get('flagged', 0):,} flagged")
    lines.append(f"index: {result.indexed_events:,} events, {result.indexed_loan_count:,} loans "
                 f"(chain counts {result.chain_loan_count:,}); consistency check "
                 f"{'passed' if result.consistency_ok else 'FAILED'} for {result.consistency_borrowers:,} borrowers")
    return lines


def scale_lines(result: DemoResult) -> list[str]:
    """The 2022-scale report: the 2019 report's lines, then transactions by kind, USD volume and
    refusals by parameter period."""
    tx = result.policy.get("transactions", {})
    lines = [f"institutions onboarded: {result.institutions:,}",
             f"loan transactions landed: {tx.get('total', 0):,} — " + ", ".join(
                 f"{k} {v:,}" for k, v in tx.items() if k != "total"),
             f"loans recorded: {result.loans_recorded:,} of {result.loans_attempted:,} submitted "
             f"(principal ≈ USD {result.principal_usd:,.0f})"]
    lines += summary_lines(result)[3:]
    lines.append("refusals by parameter period (the regulator applied the PBOC/SAFE calendar on its dates):")
    for period, counts in sorted(result.policy.get("by_period", {}).items()):
        lines.append(f"  {period}: " + (", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())) or "none"))
    return lines

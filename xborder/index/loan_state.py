"""What each LoanLedger (v2) event does to a loan's row: pure functions, no database.

The projection (`xborder.index.projection`) keeps one dict per loan with the columns of `loans`;
`recorded(...)` makes it from a LoanRecorded, `apply(loan, event, args)` moves it by any later loan
event and returns what the event itself says (`Facts`, the `loan_events` columns besides the state).
The rules are the ledger's (interfaces/ILoanLedger.sol, docs/contracts.md), taken from the amounts
the events carry, never recomputed from a rate or weight seen at recording:

* a drawdown adds its `contributionAdded` (at the rate and weight of its block) to the loan's
  contribution; a repayment takes off its `contributionRemoved` (pro rata); a write-off takes off
  the rest. `contribution` is what the ledger's `loanContribution` answers: 0 unless the loan is
  Active or Defaulted (a Defaulted loan still counts; a WrittenOff one has left the balance);
* `outstanding_cny` follows the same rule unweighted: + ceil(amount x rate / 1e8) per drawdown,
  pro rata per repayment (`xborder.domain.limits.repayment_reduction`);
* `rate` and `weight_bps` are those of the latest drawdown (0 before the first one).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from xborder.domain import limits
from xborder.domain.enums import ConsentSide, LoanStatus

#: The loan's state kept after every event (in `loans` and in each `loan_events` row).
LOAN_STATE = ("status", "drawn", "outstanding", "maturity_date", "weight_bps", "contribution", "short_term",
              "borrower_consented", "creditor_consented", "rate", "outstanding_cny", "document_released")
#: What an event says besides the state (`loan_events` columns, in this order).
FACT_COLUMNS = ("amount", "by_institution", "wallet", "side", "reason", "by_agent", "with_consent",
                "contribution_change", "amount_cny")


@dataclass
class Facts:
    """One loan event's own figures (None where the event has none)."""

    amount: int | None = None
    by: int | None = None  # the acting institution
    wallet: str | None = None  # the acting address (regulator actions)
    side: int | None = None  # ConsentSide
    reason: int | None = None  # ReasonCode
    by_agent: int | None = None
    with_consent: int | None = None
    contribution_change: int | None = None  # + added, - removed (CNY minor units)
    amount_cny: int | None = None

    def row(self) -> tuple[Any, ...]:
        return (self.amount, self.by, self.wallet, self.side, self.reason, self.by_agent, self.with_consent,
                self.contribution_change, self.amount_cny)


def ascii_code(raw: bytes) -> str:
    """bytesN code (currency, jurisdiction, LEI/USCC) as text, trailing zero bytes dropped."""
    return raw.rstrip(b"\x00").decode("ascii", errors="replace")


def recorded(args: Mapping[str, Any], *, block_number: int, block_time: int, tx_hash: str,
             creditor_country: str) -> tuple[dict[str, Any], Facts]:
    """A loan's row from its LoanRecorded (Recorded awaiting consent, or Active when co-signed)."""
    (_, _, currency, principal, value_date, maturity, ftype, doc, terms) = args["request"]
    loan: dict[str, Any] = {
        "loan_id": int(args["loanId"]), "borrower": int(args["borrower"]), "creditor": int(args["creditor"]),
        "recorder": int(args["recorder"]), "currency": ascii_code(currency), "financing_type": int(ftype),
        "principal": int(principal), "value_date": int(value_date), "document_hash": "0x" + bytes(doc).hex(),
        "terms_hash": "0x" + bytes(terms).hex(), "recorded_block": block_number, "recorded_at": block_time,
        "recorded_tx": tx_hash, "creditor_country": creditor_country,
        "status": int(args["status"]), "drawn": 0, "outstanding": 0, "maturity_date": int(maturity),
        "weight_bps": 0, "contribution": 0, "short_term": int(bool(args["shortTerm"])),
        "confirm_by": int(args["confirmBy"]), "borrower_consented": int(bool(args["borrowerConsented"])),
        "creditor_consented": int(bool(args["creditorConsented"])), "rate": 0, "outstanding_cny": 0,
        "document_released": 0}
    return loan, Facts(by=int(args["recorder"]))


# ---------------------------------------------------------------------------- one handler per event

def _confirmed(loan: dict[str, Any], a: Mapping[str, Any]) -> Facts:
    side = int(a["side"])
    loan["borrower_consented" if side == ConsentSide.BORROWER else "creditor_consented"] = 1
    loan["status"] = int(a["status"])
    return Facts(by=int(a["by"]), side=side)


def _drawn(loan: dict[str, Any], a: Mapping[str, Any]) -> Facts:
    amount, rate, added = int(a["amount"]), int(a["rate"]), int(a["contributionAdded"])
    cny = limits.base_amount(amount, rate)
    loan.update(drawn=int(a["drawn"]), outstanding=int(a["outstanding"]), rate=rate, weight_bps=int(a["weightBps"]),
                contribution=int(loan["contribution"]) + added, outstanding_cny=int(loan["outstanding_cny"]) + cny)
    return Facts(amount=amount, by=int(a["by"]), contribution_change=added, amount_cny=cny)


def _repaid(loan: dict[str, Any], a: Mapping[str, Any]) -> Facts:
    amount, removed = int(a["amount"]), int(a["contributionRemoved"])
    cny = limits.repayment_reduction(int(loan["outstanding_cny"]), int(loan["outstanding"]), amount)
    loan.update(outstanding=int(a["outstanding"]), contribution=int(loan["contribution"]) - removed,
                outstanding_cny=int(loan["outstanding_cny"]) - cny)
    return Facts(amount=amount, by=int(a["by"]), contribution_change=-removed, amount_cny=cny)


def _extended(loan: dict[str, Any], a: Mapping[str, Any]) -> Facts:
    loan.update(maturity_date=int(a["newMaturityDate"]), short_term=int(bool(a["shortTermAfter"])))
    return Facts(by=int(a["by"]), with_consent=int(bool(a["borrowerConsented"])))


def _ended(status: LoanStatus) -> Callable[[dict[str, Any], Mapping[str, Any]], Facts]:
    """LoanCancelled, LoanClosed: the status, and who."""

    def handler(loan: dict[str, Any], a: Mapping[str, Any]) -> Facts:
        loan["status"] = int(status)
        return Facts(by=int(a["by"]))

    return handler


def _expired(loan: dict[str, Any], a: Mapping[str, Any]) -> Facts:
    loan["status"] = int(LoanStatus.EXPIRED)
    return Facts(wallet=str(a["by"]), reason=int(a["reason"]))


def _defaulted(loan: dict[str, Any], a: Mapping[str, Any]) -> Facts:
    """Declared by the lender side: the loan keeps counting until the regulator writes it off."""
    loan["status"] = int(LoanStatus.DEFAULTED)
    return Facts(amount=int(a["outstanding"]), by=int(a["by"]), by_agent=int(bool(a["byAgent"])))


def _written_off(loan: dict[str, Any], a: Mapping[str, Any]) -> Facts:
    removed = int(a["contributionRemoved"])
    loan.update(status=int(LoanStatus.WRITTEN_OFF), contribution=int(loan["contribution"]) - removed)
    return Facts(amount=int(a["outstanding"]), wallet=str(a["by"]), reason=int(a["reason"]),
                 contribution_change=-removed)


def _document_released(loan: dict[str, Any], a: Mapping[str, Any]) -> Facts:
    """The regulator freed the loan's document; the loan itself is unchanged."""
    loan["document_released"] = 1
    return Facts(wallet=str(a["by"]), reason=int(a["reason"]))


_TRANSITIONS: dict[str, Callable[[dict[str, Any], Mapping[str, Any]], Facts]] = {
    "LoanConfirmed": _confirmed,
    "LoanDrawn": _drawn,
    "LoanRepaid": _repaid,
    "LoanExtended": _extended,
    "LoanCancelled": _ended(LoanStatus.CANCELLED),
    "LoanClosed": _ended(LoanStatus.CLOSED),
    "LoanExpired": _expired,
    "LoanDefaulted": _defaulted,
    "LoanWrittenOff": _written_off,
    "DocumentReleased": _document_released,
}

#: Every event that changes a loan's row, in the order the interface declares them.
LOAN_EVENT_NAMES = ("LoanRecorded", "LoanConfirmed", "LoanDrawn", "LoanRepaid", "LoanExtended", "LoanCancelled",
                    "LoanClosed", "LoanExpired", "LoanDefaulted", "LoanWrittenOff", "DocumentReleased")
LOAN_EVENTS = frozenset(LOAN_EVENT_NAMES)


def apply(loan: dict[str, Any], event: str, args: Mapping[str, Any]) -> Facts:
    """Move `loan` (a row of `loans`, changed in place) by `event` (any of LOAN_EVENTS but
    LoanRecorded) and return what the event says. The contribution is kept as the ledger counts it:
    0 once the loan is neither Active nor Defaulted."""
    facts = _TRANSITIONS[event](loan, args)
    loan["contribution"] = limits.counted_contribution(int(loan["contribution"]), int(loan["status"]))
    return facts


def borrower_of(event: str, args: Mapping[str, Any]) -> int:
    """The borrower a loan event concerns (DocumentReleased names only the loan: loanId = borrower << 32 | n)."""
    return int(args["borrower"]) if "borrower" in args else int(args["loanId"]) >> 32

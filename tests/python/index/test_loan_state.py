"""The v2 projection's rules without a chain: which events it projects (all of the interfaces' but
roles, pauses and encryption keys, which stay in `raw_logs`), and what a loan event does to a loan's
row, held to `xborder.domain.limits` (the one copy of the ledger's arithmetic)."""

from __future__ import annotations

from typing import Any

from xborder.build import compile_project
from xborder.config import PROJECT_ROOT
from xborder.domain import limits
from xborder.domain.enums import ConsentSide, LoanStatus, ReasonCode
from xborder.index import loan_state
from xborder.index.projection import PROJECTED_EVENTS

#: What only `raw_logs` holds (issue #13: every log is kept; these change no domain table).
RAW_ONLY = {"RoleGranted", "RoleRevoked", "RoleAdminChanged", "Paused", "Unpaused", "EncryptionKeyRegistered",
            "EIP712DomainChanged"}


def test_every_event_of_the_three_contracts_is_projected_or_kept_raw() -> None:
    artifacts = compile_project(PROJECT_ROOT)
    events = {str(item["name"]) for name in ("InstitutionRegistry", "MacroPrudentialPolicy", "LoanLedger")
              for item in artifacts[name].abi if item.get("type") == "event"}
    assert events - PROJECTED_EVENTS <= RAW_ONLY, events - PROJECTED_EVENTS - RAW_ONLY
    assert events >= PROJECTED_EVENTS, PROJECTED_EVENTS - events  # nothing projected that the contracts lack


def _recorded(status: LoanStatus = LoanStatus.RECORDED) -> dict[str, Any]:
    request = (3, 1, b"USD", 1_000_000_00, 1_800_000_000, 1_900_000_000, 1, b"\x01" * 32, b"\x02" * 32)
    args = {"loanId": 3 << 32 | 1, "borrower": 3, "creditor": 1, "recorder": 1, "status": int(status),
            "request": request, "shortTerm": True, "confirmBy": 1_802_592_000, "borrowerConsented": False,
            "creditorConsented": True, "borrowerBalance": 0, "terms": b""}
    loan, facts = loan_state.recorded(args, block_number=7, block_time=1_800_000_100, tx_hash="0xab", creditor_country="HK")
    assert (facts.by, loan["currency"], loan["creditor_consented"], loan["borrower_consented"], loan["short_term"]) == (
        1, "USD", 1, 0, 1)
    return loan


def test_consent_drawdowns_at_their_rates_and_pro_rata_repayments() -> None:
    loan = _recorded()
    facts = loan_state.apply(loan, "LoanConfirmed", {"side": int(ConsentSide.BORROWER), "status": 2, "by": 3})
    assert (loan["status"], loan["borrower_consented"], facts.side) == (LoanStatus.ACTIVE, 1, ConsentSide.BORROWER)
    # two drawdowns at different rates and weights: the events' contributionAdded, never recomputed here
    for amount, rate, weight, added in ((333_333_33, 710_000_001, 20_000, 4_733_334_07),
                                        (100_000_00, 720_000_000, 15_000, 1_080_000_00)):
        drawn = loan["drawn"] + amount
        facts = loan_state.apply(loan, "LoanDrawn", {"amount": amount, "drawn": drawn, "outstanding": drawn,
                                                     "rate": rate, "weightBps": weight, "contributionAdded": added,
                                                     "by": 3})
        assert facts.amount_cny == limits.base_amount(amount, rate) and facts.contribution_change == added
    assert (loan["rate"], loan["weight_bps"], loan["contribution"]) == (720_000_000, 15_000, 4_733_334_07 + 1_080_000_00)
    cny = limits.base_amount(333_333_33, 710_000_001) + limits.base_amount(100_000_00, 720_000_000)
    assert loan["outstanding_cny"] == cny
    # a repayment of 1/3: the CNY outstanding falls by the ledger's pro-rata rule (rounded against the borrower)
    outstanding = loan["outstanding"]
    removed = limits.repayment_reduction(loan["contribution"], outstanding, outstanding // 3)
    facts = loan_state.apply(loan, "LoanRepaid", {"amount": outstanding // 3, "outstanding": outstanding - outstanding // 3,
                                                  "contributionRemoved": removed, "by": 1})
    assert facts.amount_cny == limits.repayment_reduction(cny, outstanding, outstanding // 3)
    assert loan["outstanding_cny"] == limits.remaining_after_repay(cny, outstanding, outstanding // 3)
    assert facts.contribution_change == -removed


def test_defaulted_still_counts_written_off_leaves() -> None:
    loan = _recorded(LoanStatus.ACTIVE)
    loan_state.apply(loan, "LoanDrawn", {"amount": 10_00, "drawn": 10_00, "outstanding": 10_00, "rate": 10**8,
                                         "weightBps": 10_000, "contributionAdded": 10_00, "by": 3})
    facts = loan_state.apply(loan, "LoanDefaulted", {"by": 2, "creditor": 1, "byAgent": True, "outstanding": 10_00})
    assert (loan["status"], loan["contribution"], facts.by, facts.by_agent) == (LoanStatus.DEFAULTED, 10_00, 2, 1)
    facts = loan_state.apply(loan, "LoanWrittenOff", {"by": "0xregulator", "outstanding": 10_00,
                                                      "contributionRemoved": 10_00, "reason": 6})
    assert (loan["status"], loan["contribution"], loan["outstanding"], facts.reason, facts.wallet) == (
        LoanStatus.WRITTEN_OFF, 0, 10_00, ReasonCode.WRITE_OFF_APPROVED, "0xregulator")


def test_expiry_extension_release_and_the_borrower_of_a_release() -> None:
    loan = _recorded()
    facts = loan_state.apply(loan, "LoanExpired", {"by": "0xanyone", "reason": 1})
    assert (loan["status"], facts.reason) == (LoanStatus.EXPIRED, ReasonCode.CONFIRMATION_WINDOW_ELAPSED)
    loan = _recorded(LoanStatus.ACTIVE)
    facts = loan_state.apply(loan, "LoanExtended", {"newMaturityDate": 1_950_000_000, "shortTermAfter": False,
                                                    "borrowerConsented": True, "by": 1})
    assert (loan["maturity_date"], loan["short_term"], facts.with_consent) == (1_950_000_000, 0, 1)
    loan_state.apply(loan, "DocumentReleased", {"by": "0xregulator", "reason": 2, "loanId": loan["loan_id"]})
    assert loan["document_released"] == 1 and loan["status"] == LoanStatus.ACTIVE
    assert loan_state.borrower_of("DocumentReleased", {"loanId": 5 << 32 | 9}) == 5

"""Every role x every state-changing ledger function: who may, and the exact error for the others.

The loan under test: borrower = enterprise, creditor = recorder = bank.
"""
import pytest
from eth_utils import keccak

import model
from conftest import TERMS, make_request, reverts

PAUSER_ROLE = keccak(text="PAUSER_ROLE")
ROLES = ["regulator", "bank", "bank2", "enterprise", "creditor", "stranger"]
OK = "ok"


def _unauth(role, wallets, ids):
    return ("UnauthorizedWallet", wallets[role].address, ids.get(role, 0))


# expected outcome per (function, role); None = UnauthorizedWallet with the caller's institution
MATRIX = {
    "recordLoan": {"bank": OK, "bank2": OK, "enterprise": None, "creditor": None, "stranger": None, "regulator": None},
    "confirmLoan": {"enterprise": OK, "bank": None, "bank2": None, "creditor": None, "stranger": None, "regulator": None},
    "drawdown": {"bank": OK, "enterprise": OK, "bank2": None, "creditor": None, "stranger": None, "regulator": None},
    "repay": {"bank": OK, "enterprise": OK, "bank2": None, "creditor": None, "stranger": None, "regulator": None},
    "extendMaturity": {"bank": OK, "enterprise": None, "bank2": None, "creditor": None, "stranger": None, "regulator": None},
    "cancelLoan": {"bank": OK, "enterprise": OK, "bank2": None, "creditor": None, "stranger": None, "regulator": None},
    "closeLoan": {"bank": OK, "enterprise": None, "bank2": None, "creditor": None, "stranger": None, "regulator": None},
    "declareDefault": {"bank": OK, "enterprise": None, "bank2": None, "creditor": None, "stranger": None, "regulator": None},
    "shareTerms": {"bank": OK, "enterprise": OK, "bank2": None, "creditor": None, "stranger": None, "regulator": None},
    "pause": {"regulator": OK, **{r: "role" for r in ROLES if r != "regulator"}},
}
CASES = [(fn, role) for fn, row in MATRIX.items() for role in ROLES]


@pytest.mark.parametrize("fn,role", CASES)
def test_access(xb, ledger, regulator, bank, bank2, enterprise, creditor, stranger, ids, record_active, record_pending, fn, role):
    wallets = {"regulator": regulator, "bank": bank, "bank2": bank2, "enterprise": enterprise, "creditor": creditor, "stranger": stranger}
    sender = {"from": wallets[role]}
    if fn == "confirmLoan":
        lid, _, _ = record_pending()
    elif fn in ("cancelLoan", "closeLoan"):
        lid, _, _ = record_active(draw=0)
    else:
        lid, req, _ = record_active(draw=100, principal=1000, term_days=730)
    call = {
        "recordLoan": lambda: ledger.recordLoan(make_request(ids["enterprise"], ids["bank"]), TERMS, sender),
        "confirmLoan": lambda: ledger.confirmLoan(lid, sender),
        "drawdown": lambda: ledger.drawdown(lid, 1, sender),
        "repay": lambda: ledger.repay(lid, 1, sender),
        "extendMaturity": lambda: ledger.extendMaturity(lid, 2**32 - 1, sender),
        "cancelLoan": lambda: ledger.cancelLoan(lid, sender),
        "closeLoan": lambda: ledger.closeLoan(lid, sender),
        "declareDefault": lambda: ledger.declareDefault(lid, sender),
        "shareTerms": lambda: ledger.shareTerms(lid, b"\x01", sender),
        "pause": lambda: ledger.pause(sender),
    }[fn]
    expected = MATRIX[fn][role]
    if expected == OK:
        tx = call()
        assert tx.status == 1
    elif expected == "role":
        with reverts("AccessControlUnauthorizedAccount", wallets[role].address, PAUSER_ROLE):
            call()
    else:
        with reverts(*_unauth(role, wallets, ids)):
            call()


def test_unpause_requires_pauser(xb, ledger, regulator, bank):
    ledger.pause({"from": regulator})
    with reverts("AccessControlUnauthorizedAccount", bank.address, PAUSER_ROLE):
        ledger.unpause({"from": bank})
    ledger.unpause({"from": regulator})

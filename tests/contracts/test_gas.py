"""Gas of every operation, from real receipts. Run with `-s` to see the table; the bounds below are
the measured values (+ a little slack) so a regression fails the suite. See docs/contracts.md."""
from brownie import chain

import model
from conftest import TERMS, lei, make_request, sign_consent

BOUNDS = {  # measured on anvil and Ganache (same EVM gas schedule), rounded up
    "registerInstitution": 160_000,
    "addWallet": 60_000,
    "recordLoan (pending, borrower's first loan)": 170_000,
    "confirmLoan": 48_000,
    "recordLoanWithConsent+draw (borrower's first loan)": 180_000,
    "recordLoanWithConsent+draw (borrower has a loan)": 160_000,
    "recordLoanWithConsent+draw (CNY, has a loan)": 160_000,
    "drawdown": 66_000,
    "repay": 56_000,
    "repay (final, closes)": 60_000,
    "extendMaturity": 70_000,
}


def test_gas_table(xb, ledger, registry, regulator, bank, enterprise, stranger, ids):
    e, b = ids["enterprise"], ids["bank"]
    gas = {}
    gas["registerInstitution"] = registry.registerInstitution(
        model.ENTERPRISE, lei("9695000000GASTEST1"), b"CN", 10**9, "Gas Test Co", stranger, {"from": regulator}).gas_used
    gas["addWallet"] = registry.addWallet(b, "0x000000000000000000000000000000000000dEaD", {"from": bank}).gas_used

    tx = ledger.recordLoan(make_request(e, b), TERMS, {"from": bank})
    gas["recordLoan (pending, borrower's first loan)"] = tx.gas_used
    gas["confirmLoan"] = ledger.confirmLoan(tx.return_value, {"from": enterprise}).gas_used

    def cosigned(label, **kw):
        req = make_request(e, b, principal=1_000_000_00, **kw)
        nonce = ledger.borrowerPosition(e)["nonce"]
        deadline = chain.time() + 3600
        sig = sign_consent(ledger, enterprise, req, 500_000_00, nonce, deadline)
        tx = ledger.recordLoanWithConsent(req, TERMS, 500_000_00, deadline, sig, {"from": bank})
        gas[label] = tx.gas_used
        return tx.return_value, req

    lid, _ = cosigned("recordLoanWithConsent+draw (borrower has a loan)")
    cosigned("recordLoanWithConsent+draw (CNY, has a loan)", currency=b"CNY")
    gas["drawdown"] = ledger.drawdown(lid, 100_000_00, {"from": bank}).gas_used
    gas["repay"] = ledger.repay(lid, 100_000_00, {"from": bank}).gas_used
    req = ledger.getLoan(lid)
    gas["extendMaturity"] = ledger.extendMaturity(lid, req["maturityDate"] + 86400, {"from": bank}).gas_used
    ledger.drawdown(lid, 400_000_00, {"from": bank})
    gas["repay (final, closes)"] = ledger.repay(lid, 900_000_00, {"from": bank}).gas_used
    print("\n| operation | gas |\n| --- | ---: |")
    for k, v in gas.items():
        print(f"| {k} | {v:,} |")
    for k, v in gas.items():
        assert v <= BOUNDS[k], (k, v)


def test_gas_first_loan(xb, ledger, bank, nbfi, ids):
    """The borrower's first loan also creates its position slot (zero -> non-zero, +17,100 gas)."""
    req = make_request(ids["nbfi"], ids["bank"], principal=1_000_000_00)
    deadline = chain.time() + 3600
    sig = sign_consent(ledger, nbfi, req, 500_000_00, 0, deadline)
    tx = ledger.recordLoanWithConsent(req, TERMS, 500_000_00, deadline, sig, {"from": bank})
    print(f"\n| recordLoanWithConsent+draw (borrower's first loan) | {tx.gas_used:,} |")
    assert tx.gas_used <= BOUNDS["recordLoanWithConsent+draw (borrower's first loan)"]

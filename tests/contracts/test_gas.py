"""Gas of every operation, from real receipts. Run with `-s` to see the table; the bounds below are
the measured values (+ a little slack) so a regression fails the suite. See docs/contracts.md."""
from brownie import chain

import model
from conftest import TERMS, lei, make_request, sign_consent

BOUNDS = {  # measured on anvil and Ganache (same EVM gas schedule), rounded up
    "registerInstitution": 143_000,
    "addWallet": 60_000,
    "recordLoan (pending, borrower's first loan)": 183_000,  # +22,100: the terms commitment slot
    "confirmLoan": 43_000,
    "recordLoanWithConsent+draw (borrower's first loan)": 195_000,
    "recordLoanWithConsent+draw (borrower has a loan)": 178_000,
    "recordLoanWithConsent+draw (CNY, has a loan)": 175_000,
    "drawdown": 58_000,  # target 60,000
    "repay": 49_000,  # target 50,000
    "repay (final, closes)": 54_000,
    "extendMaturity": 61_000,
    "shareTerms (envelope, 1 recipient)": 48_500,
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
    plain = _plain_terms()
    gas["shareTerms (envelope, 1 recipient)"] = ledger.shareTerms(lid, _envelope(plain, 1), {"from": bank}).gas_used
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


# ---------------------------------------------------------------- what confidentiality costs


def _plain_terms():
    """salt || canonical encoding of realistic terms (xborder.services.terms)."""
    from xborder.services import terms as T

    sealed = T.seal(T.LoanTerms(interest_rate="4.35", fees="0.25% upfront, 0.10% commitment p.a.",
                                purpose="working capital for the 2026 export season",
                                external_ref="ICBC-2026-000123", document_name="Facility agreement 2026-000123",
                                notes="3M SOFR + 1.20% after the first year"))
    return sealed.salt + sealed.encoding


def _envelope(plain, recipients):
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from xborder.services import envelope as env
    from xborder.wallets.encryption import public_bytes

    keys = [env.Recipient(i, 1, public_bytes(X25519PrivateKey.generate())) for i in range(recipients)]
    return env.seal(plain, keys, env.Binding(chain.id, "0x" + "11" * 20, b"\x22" * 32, b"\x33" * 32))


def test_gas_confidentiality(xb, ledger, bank, enterprise, ids):
    """The same co-signed record + draw with the plaintext terms and with an encrypted envelope
    for 3 recipients (borrower, creditor = recorder, regulator); the commitment slot is paid in
    both (it is part of every record now: 22,100 gas, see docs/confidential-terms.md)."""
    e, b = ids["enterprise"], ids["bank"]
    plain = _plain_terms()
    first = make_request(e, b, principal=1_000_000_00)
    deadline = chain.time() + 3600
    ledger.recordLoanWithConsent(first, plain, 0, deadline, sign_consent(ledger, enterprise, first, 0, 0, deadline),
                                 {"from": bank})
    rows = {}
    for label, data in (("plaintext", plain), ("envelope, 3 recipients", _envelope(plain, 3)),
                        ("envelope, 4 recipients", _envelope(plain, 4))):
        req = make_request(e, b, principal=1_000_000_00)
        nonce = ledger.borrowerPosition(e)["nonce"]
        sig = sign_consent(ledger, enterprise, req, 500_000_00, nonce, deadline)
        tx = ledger.recordLoanWithConsent(req, data, 500_000_00, deadline, sig, {"from": bank})
        rows[label] = (len(data), tx.gas_used)
    print(f"\n| terms ({len(plain)} bytes of plaintext) | bytes | recordLoanWithConsent + draw | vs plaintext |")
    print("| --- | ---: | ---: | ---: |")
    for label, (size, gas) in rows.items():
        print(f"| {label} | {size} | {gas:,} | +{gas - rows['plaintext'][1]:,} |")
    extra = rows["envelope, 3 recipients"][1] - rows["plaintext"][1]
    assert extra <= 9_000, extra  # ~ 24-27 gas per extra byte (calldata + log data + memory)

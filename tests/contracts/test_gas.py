"""Gas of every operation, from real receipts. Run with `-s` to see the tables; the bounds below are
the measured values (+ a little slack) so a regression fails the suite. See docs/contracts.md."""
from brownie import accounts, chain

import model
from conftest import IDENTIFIERS, SHORT_DAYS, TERMS, bind_proof, lei, make_request, sign_consent, sign_extension

BOUNDS = {  # measured on anvil and Ganache (same EVM gas schedule), rounded up a little
    "registerInstitution (with admin proof)": 171_500,
    "addWallet (with proof)": 89_500,
    "recordLoan (pending, borrower's first loan)": 186_500,
    "confirmLoan (second consent: activates, claims the document)": 70_000,
    "recordLoanWithConsent+draw (has a loan, first consent of a nonce word)": 206_000,
    "recordLoanWithConsent+draw (borrower has a loan)": 189_000,  # v1: 176,189
    "recordLoanWithConsent+draw (CNY, has a loan)": 187_000,
    "recordLoanWithConsent+draw (borrower's first loan)": 223_500,
    "drawdown (by the creditor)": 65_000,  # v1: 57,482 (+5,039 the drawdown-date rule)
    "drawdown (by the borrower)": 65_000,
    "repay": 50_000,  # v1: 48,570
    "repay (final, closes)": 55_500,
    "extendMaturity (same term class)": 55_500,
    "extendMaturityWithConsent (class changes)": 70_500,
    "declareDefault": 46_500,
    "writeOff (regulator)": 41_000,
    "shareTerms (envelope, 1 recipient)": 48_700,
}


def _table(title, rows):
    print(f"\n| {title} | gas |\n| --- | ---: |")
    for k, v in rows.items():
        print(f"| {k} | {v:,} |")


def test_gas_table(xb, ledger, registry, regulator, bank, enterprise, stranger, ids):
    e, b = ids["enterprise"], ids["bank"]
    gas = {}
    ident = lei("9695000000GASTEST1")
    gas["registerInstitution (with admin proof)"] = registry.registerInstitution(
        model.ENTERPRISE, ident, b"CN", 10**9, "Gas Test Co", stranger, bind_proof(registry, stranger, ident),
        {"from": regulator}).gas_used
    extra = accounts.add("0x" + "21" * 32)
    gas["addWallet (with proof)"] = registry.addWallet(b, extra, bind_proof(registry, extra, IDENTIFIERS["bank"]),
                                                      {"from": bank}).gas_used

    tx = ledger.recordLoan(make_request(e, b), TERMS, {"from": bank})
    gas["recordLoan (pending, borrower's first loan)"] = tx.gas_used
    gas["confirmLoan (second consent: activates, claims the document)"] = ledger.confirmLoan(
        tx.return_value, {"from": enterprise}).gas_used

    nonces = iter(range(1, 256))  # one bitmap word, as a borrower numbering its consents 1, 2, 3, ... uses

    def cosigned(label, **kw):
        req = make_request(e, b, principal=1_000_000_00, **kw)
        sig = sign_consent(ledger, enterprise, req, 500_000_00, b, nonce=next(nonces))
        tx = ledger.recordLoanWithConsent(req, TERMS, 500_000_00, sig, {"from": bank})
        gas[label] = tx.gas_used
        return tx.return_value, req

    cosigned("recordLoanWithConsent+draw (has a loan, first consent of a nonce word)", term_days=SHORT_DAYS)
    lid, req = cosigned("recordLoanWithConsent+draw (borrower has a loan)", term_days=SHORT_DAYS)
    cosigned("recordLoanWithConsent+draw (CNY, has a loan)", currency=b"CNY")
    gas["drawdown (by the creditor)"] = ledger.drawdown(lid, 100_000_00, {"from": bank}).gas_used
    gas["drawdown (by the borrower)"] = ledger.drawdown(lid, 100_000_00, {"from": enterprise}).gas_used
    gas["repay"] = ledger.repay(lid, 100_000_00, {"from": bank}).gas_used
    loan = ledger.getLoan(lid)
    gas["extendMaturity (same term class)"] = ledger.extendMaturity(lid, loan["maturityDate"] + 86400, {"from": bank}).gas_used
    new = model.add_one_year(loan["valueDate"]) + 86400
    gas["extendMaturityWithConsent (class changes)"] = ledger.extendMaturityWithConsent(
        lid, new, sign_extension(ledger, enterprise, b, lid, new, nonce=next(nonces)), {"from": bank}).gas_used
    ledger.drawdown(lid, 300_000_00, {"from": bank})
    gas["repay (final, closes)"] = ledger.repay(lid, 900_000_00, {"from": bank}).gas_used
    plain = _plain_terms()
    gas["shareTerms (envelope, 1 recipient)"] = ledger.shareTerms(lid, _envelope(plain, 1), {"from": bank}).gas_used
    lid2, _ = cosigned("_default setup", currency=b"CNY")
    gas["declareDefault"] = ledger.declareDefault(lid2, {"from": bank}).gas_used
    gas["writeOff (regulator)"] = ledger.writeOff(lid2, model.WRITE_OFF_APPROVED, {"from": regulator}).gas_used
    del gas["_default setup"]
    _table("operation", gas)
    for k, v in gas.items():
        assert v <= BOUNDS[k], (k, v)


def test_gas_first_loan(xb, ledger, bank, nbfi, ids):
    """The borrower's first loan also creates its position slot (zero -> non-zero, +17,100 gas) and
    its first nonce-bitmap word (+17,100)."""
    req = make_request(ids["nbfi"], ids["bank"], principal=1_000_000_00)
    sig = sign_consent(ledger, nbfi, req, 500_000_00, ids["bank"], nonce=1)
    tx = ledger.recordLoanWithConsent(req, TERMS, 500_000_00, sig, {"from": bank})
    print(f"\n| recordLoanWithConsent+draw (borrower's first loan) | {tx.gas_used:,} |")
    assert tx.gas_used <= BOUNDS["recordLoanWithConsent+draw (borrower's first loan)"]


def test_gas_drawdown_policy_call(xb, ledger, policy, ids):
    """The drawdown's policy call as a top-level call (cold slots): drawdownQuote (rate, weight and
    limit: parameter, rate and type slots) next to borrowingLimit (the v1 drawdown's call: parameter
    slot only). The full itemisation from traces is in docs/contracts.md."""
    header = model.loan_header(3, 1, 1, b"USD", 1, model.ACTIVE, True, True, True)
    core = model.institution_core("0x" + "11" * 20, model.ENTERPRISE, model.ST_ACTIVE, 10_000_000_00)
    quote = policy.drawdownQuote.estimate_gas(header, core)
    limit_only = policy.borrowingLimit.estimate_gas(model.ENTERPRISE, 10_000_000_00)
    rows = {"drawdownQuote (USD: parameter + rate + type slots)": quote,
            "borrowingLimit (parameter slot)": limit_only, "difference": quote - limit_only}
    _table("policy call, as a top-level call", rows)
    assert quote - limit_only <= 5_200, rows


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
    for 3 and 4 recipients; the commitment slot is paid in both (22,100 gas,
    docs/confidential-terms.md)."""
    e, b = ids["enterprise"], ids["bank"]
    plain = _plain_terms()
    first = make_request(e, b, principal=1_000_000_00)
    ledger.recordLoanWithConsent(first, plain, 0, sign_consent(ledger, enterprise, first, 0, b, nonce=1), {"from": bank})
    rows = {}
    for nonce, (label, data) in enumerate( (("plaintext", plain), ("envelope, 3 recipients", _envelope(plain, 3)),
                        ("envelope, 4 recipients", _envelope(plain, 4))), start=2):
        req = make_request(e, b, principal=1_000_000_00)
        sig = sign_consent(ledger, enterprise, req, 500_000_00, b, nonce=nonce)
        tx = ledger.recordLoanWithConsent(req, data, 500_000_00, sig, {"from": bank})
        rows[label] = (len(data), tx.gas_used)
    print(f"\n| terms ({len(plain)} bytes of plaintext) | bytes | recordLoanWithConsent + draw | vs plaintext |")
    print("| --- | ---: | ---: | ---: |")
    for label, (size, gas) in rows.items():
        print(f"| {label} | {size} | {gas:,} | +{gas - rows['plaintext'][1]:,} |")
    extra = rows["envelope, 3 recipients"][1] - rows["plaintext"][1]
    assert extra <= 9_000, extra  # ~ 24-27 gas per extra byte (calldata + log data + memory)

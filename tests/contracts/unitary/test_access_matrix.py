"""Every role x every state-changing ledger function: who may, and the exact error for the others.

The loans under test: borrower = enterprise, creditor = bank. Rows:
- regulator: the regulator's wallet (REGULATOR_ROLE, PAUSER_ROLE; no institution);
- bank: the creditor itself; enterprise: the borrower;
- borrower_recorder: the borrower acting on loans IT recorded (recordLoan as borrower, then the
  creditor confirmed) — recording gives it no lender-side right;
- agent: bank3, appointed by the creditor as its agent (it also recorded the loans);
- dismissed_agent: bank3 after the creditor dismissed it (it recorded the loans while agent);
- suspended_principal_agent: bank3, still appointed, after the regulator suspended the creditor
  (it recorded the loans while the creditor was Active): an agent has no authority its principal
  has lost, only what recording gives it (withdrawing a Recorded loan);
- revoked_creditor: the creditor's wallet after the regulator revoked the creditor;
- bank2: an unrelated bank; creditor: an unrelated foreign creditor; stranger: no institution.
"""
import pytest
from eth_utils import keccak

import model
from conftest import IDENTIFIERS, KIND, TERMS, make_request, register, reverts, sign_consent, sign_extension

PAUSER_ROLE = keccak(text="PAUSER_ROLE")
REGULATOR_ROLE = keccak(text="REGULATOR_ROLE")
ROLES = ["regulator", "bank", "enterprise", "borrower_recorder", "agent", "dismissed_agent",
         "suspended_principal_agent", "revoked_creditor", "bank2", "creditor", "stranger"]
OK = "ok"
U = "unauthorized"  # UnauthorizedWallet(wallet, its institution)
X = "revoked"  # InstitutionNotActive(creditor, Revoked)
S = "principal suspended"  # InstitutionNotActive(creditor, Suspended)
R = "regulator-only"  # AccessControlUnauthorizedAccount(wallet, REGULATOR_ROLE)
P = "pauser-only"
AB = "borrower already consented"  # AlreadyConsented(loan, Borrower)
AC = "creditor already consented"
W = "window open"  # ConfirmationWindowOpen(loan, confirmBy)
N = "not its agent"  # NotAnAgent(its institution, the agent)
IA = "invalid agent"  # InvalidAgent(principal, agent): an institution cannot be its own agent


def _row(ok=(), **special):
    """Outcome per role: OK for `ok`, the given special outcomes, U for everybody else."""
    out = {r: U for r in ROLES}
    out.update({r: OK for r in ok})
    out.update(special)
    return out


LENDER = ("bank", "agent", "suspended_principal_agent")
PARTY = ("bank", "enterprise", "borrower_recorder", "agent", "suspended_principal_agent")
INSTITUTIONS = ("bank", "enterprise", "borrower_recorder", "agent", "dismissed_agent", "suspended_principal_agent",
                "bank2", "creditor")
REGULATOR_ONLY = {r: R for r in ROLES} | {"regulator": OK}
_AS_AGENT = ("recordLoan", "recordLoanWithConsent", "confirmLoan (creditor side open)",
             "confirmLoan (borrower side open)", "drawdown", "repay", "extendMaturity", "extendMaturityWithConsent",
             "cancelLoan (Active, undrawn)", "closeLoan", "declareDefault", "shareTerms")
MATRIX = {
    "recordLoan": _row(PARTY, revoked_creditor=X),
    "recordLoanWithConsent": _row(LENDER, revoked_creditor=X),
    "confirmLoan (creditor side open)": _row(LENDER, enterprise=AB, borrower_recorder=AB, revoked_creditor=X),
    # (the borrower_recorder's loans are recorded by the borrower: its side is never open)
    "confirmLoan (borrower side open)": _row(("enterprise",), bank=AC, agent=AC, borrower_recorder=AB, revoked_creditor=X),
    "drawdown": _row(PARTY, revoked_creditor=X),
    "repay": _row(LENDER, revoked_creditor=X),
    "extendMaturity": _row(LENDER, revoked_creditor=X),
    # the borrower's ExtensionConsent names the caller's institution (0 for the regulator and the stranger)
    "extendMaturityWithConsent": _row(LENDER, revoked_creditor=X),
    "cancelLoan (Recorded)": _row(PARTY + ("dismissed_agent",), revoked_creditor=X),  # the recorder may withdraw
    "cancelLoan (Active, undrawn)": _row(PARTY, revoked_creditor=X),
    "closeLoan": _row(LENDER, revoked_creditor=X),
    "declareDefault": _row(LENDER, revoked_creditor=X),
    "shareTerms": _row(PARTY, revoked_creditor=X),
    "writeOff": REGULATOR_ONLY,
    "releaseDocument": REGULATOR_ONLY,
    "freezeDrawdowns": REGULATOR_ONLY,
    "unfreezeDrawdowns": REGULATOR_ONLY,
    "expireLoan": {r: W for r in ROLES} | {"regulator": OK},
    "pause": {r: P for r in ROLES} | {"regulator": OK},
    "unpause": {r: P for r in ROLES} | {"regulator": OK},
    # every institution for itself: appoint bank2, dismiss the creditor's agent, void a consent nonce
    "appointAgent": _row([r for r in INSTITUTIONS if r != "bank2"], bank2=IA, revoked_creditor=X),
    "dismissAgent": _row(("bank",), revoked_creditor=X, **{r: N for r in INSTITUTIONS if r != "bank"}),
    "invalidateConsentNonces": _row(INSTITUTIONS, revoked_creditor=X),
}
# What the agent did for its principal, it can no longer do once the principal is suspended.
for _fn in _AS_AGENT:
    assert MATRIX[_fn]["suspended_principal_agent"] in (OK, U) and MATRIX[_fn]["agent"] in (OK, AC)
    MATRIX[_fn]["suspended_principal_agent"] = S
OWN_INSTITUTION = ("appointAgent", "dismissAgent", "invalidateConsentNonces")
CASES = [(fn, role) for fn, row in MATRIX.items() for role in ROLES]


def test_matrix_is_complete():
    assert all(set(row) == set(ROLES) for row in MATRIX.values())


@pytest.fixture(scope="module")
def agent_id(registry, regulator, funded, ids):
    return register(registry, regulator, KIND["bank"], IDENTIFIERS["bank3"], funded["bank3"], 10**12)


@pytest.mark.parametrize("fn,role", CASES)
def test_access(xb, ledger, registry, regulator, bank, bank2, bank3, enterprise, creditor, stranger, ids, agent_id, fn, role):
    e, b = ids["enterprise"], ids["bank"]
    wallets = {"regulator": regulator, "bank": bank, "enterprise": enterprise, "borrower_recorder": enterprise,
               "agent": bank3, "dismissed_agent": bank3, "suspended_principal_agent": bank3, "revoked_creditor": bank,
               "bank2": bank2,
               "creditor": creditor, "stranger": stranger}
    institution = {"bank": b, "enterprise": e, "borrower_recorder": e, "agent": agent_id, "dismissed_agent": agent_id,
                   "suspended_principal_agent": agent_id, "revoked_creditor": b, "bank2": ids["bank2"], "creditor": ids["creditor"]}
    caller = wallets[role]
    sender = {"from": caller}
    agency = role in ("agent", "dismissed_agent", "suspended_principal_agent")
    if agency:
        ledger.appointAgent(agent_id, {"from": bank})
    lender, lender_id = (bank3, agent_id) if agency else (bank, b)

    def pending(recorder):
        return ledger.recordLoan(make_request(e, b), TERMS, {"from": recorder}).return_value

    def active(draw):
        if role == "borrower_recorder":  # the borrower records, the creditor confirms
            lid = pending(enterprise)
            ledger.confirmLoan(lid, {"from": bank})
            if draw:
                ledger.drawdown(lid, draw, {"from": enterprise})
            return lid
        req = make_request(e, b, principal=1000)
        sig = sign_consent(ledger, enterprise, req, draw, lender_id)
        return ledger.recordLoanWithConsent(req, TERMS, draw, sig, {"from": lender}).return_value

    lid = None
    if fn == "confirmLoan (creditor side open)":
        lid = pending(enterprise)
    elif fn in ("confirmLoan (borrower side open)", "cancelLoan (Recorded)", "expireLoan"):
        lid = pending(enterprise if role == "borrower_recorder" else lender)
    elif fn in ("cancelLoan (Active, undrawn)", "closeLoan"):
        lid = active(0)
    elif fn == "writeOff":
        lid = active(100)
        ledger.declareDefault(lid, {"from": lender})
    elif fn == "dismissAgent" and not agency:
        ledger.appointAgent(agent_id, {"from": bank})
    elif fn == "unfreezeDrawdowns":
        ledger.freezeDrawdowns(e, model.SUSPECTED_FRAUD, {"from": regulator})
    elif fn not in ("recordLoan", "recordLoanWithConsent") + OWN_INSTITUTION:
        lid = active(100)
    doc = None
    if fn == "releaseDocument":
        doc = make_request(e, b)[7]
        req = make_request(e, b, document_hash=doc)
        ledger.recordLoanWithConsent(req, TERMS, 0, sign_consent(ledger, enterprise, req, 0, lender_id), {"from": lender})
    request = make_request(e, b)
    consent = sign_consent(ledger, enterprise, request, 0, institution.get(role, 0))
    if fn == "extendMaturityWithConsent":
        new_maturity = ledger.getLoan(lid)["maturityDate"] + 86400
        extension = sign_extension(ledger, enterprise, institution.get(role, 0), lid, new_maturity)
    if role == "dismissed_agent":
        ledger.dismissAgent(agent_id, {"from": bank})
    if role == "revoked_creditor":
        registry.revokeInstitution(b, {"from": regulator})
    if role == "suspended_principal_agent":
        registry.suspendInstitution(b, {"from": regulator})
    if fn == "unpause":
        ledger.pause({"from": regulator})

    call = {
        "recordLoan": lambda: ledger.recordLoan(request, TERMS, sender),
        "recordLoanWithConsent": lambda: ledger.recordLoanWithConsent(request, TERMS, 0, consent, sender),
        "confirmLoan (creditor side open)": lambda: ledger.confirmLoan(lid, sender),
        "confirmLoan (borrower side open)": lambda: ledger.confirmLoan(lid, sender),
        "drawdown": lambda: ledger.drawdown(lid, 1, sender),
        "repay": lambda: ledger.repay(lid, 1, sender),
        "extendMaturity": lambda: ledger.extendMaturity(lid, ledger.getLoan(lid)["maturityDate"] + 86400, sender),
        "extendMaturityWithConsent": lambda: ledger.extendMaturityWithConsent(lid, new_maturity, extension, sender),
        "cancelLoan (Recorded)": lambda: ledger.cancelLoan(lid, sender),
        "cancelLoan (Active, undrawn)": lambda: ledger.cancelLoan(lid, sender),
        "closeLoan": lambda: ledger.closeLoan(lid, sender),
        "declareDefault": lambda: ledger.declareDefault(lid, sender),
        "shareTerms": lambda: ledger.shareTerms(lid, b"\x01", sender),
        "writeOff": lambda: ledger.writeOff(lid, model.WRITE_OFF_APPROVED, sender),
        "releaseDocument": lambda: ledger.releaseDocument(doc, model.DOCUMENT_DISPUTE, sender),
        "freezeDrawdowns": lambda: ledger.freezeDrawdowns(e, model.SUSPECTED_FRAUD, sender),
        "unfreezeDrawdowns": lambda: ledger.unfreezeDrawdowns(e, model.SUSPECTED_FRAUD, sender),
        "expireLoan": lambda: ledger.expireLoan(lid, model.DOCUMENT_DISPUTE, sender),
        "pause": lambda: ledger.pause(sender),
        "unpause": lambda: ledger.unpause(sender),
        "appointAgent": lambda: ledger.appointAgent(ids["bank2"], sender),
        "dismissAgent": lambda: ledger.dismissAgent(agent_id, sender),
        "invalidateConsentNonces": lambda: ledger.invalidateConsentNonces(7, 1, sender),
    }[fn]
    expected = MATRIX[fn][role]
    if expected == OK:
        assert call().status == 1
        return
    error = {
        U: ("UnauthorizedWallet", caller.address, institution.get(role, 0)),
        X: ("InstitutionNotActive", b, model.ST_REVOKED),
        S: ("InstitutionNotActive", b, model.ST_SUSPENDED),
        R: ("AccessControlUnauthorizedAccount", caller.address, REGULATOR_ROLE),
        P: ("AccessControlUnauthorizedAccount", caller.address, PAUSER_ROLE),
        AB: ("AlreadyConsented", lid, model.BORROWER_SIDE),
        AC: ("AlreadyConsented", lid, model.CREDITOR_SIDE),
        W: ("ConfirmationWindowOpen", lid, lid and ledger.getLoan(lid)["confirmBy"]),
        N: ("NotAnAgent", institution.get(role, 0), agent_id),
        IA: ("InvalidAgent", ids["bank2"], ids["bank2"]),
    }[expected]
    with reverts(*error):
        call()

"""The platform's lifecycle, one test body on three chains: anvil, Ganache and a 4-node geth
(clique) network.

On the network the banks submit through their own nodes (bank A and the regulator through node 1,
bank B and the borrower through node 2), the regulator reads and indexes from node 4 and checks the
index against node 3; at the end every node holds the same head and the same ledger state. Only
services and bindings are called (deploy, onboarding, loans, index), so a new ledger ABI changes
the services, not this body.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from xborder.bindings.client import XborderClient
from xborder.chain import LocalNode
from xborder.config import PROJECT_ROOT, Settings
from xborder.errors import TransactionRejected
from xborder.index import reconcile
from xborder.index.service import index_events, open_index
from xborder.services import onboarding, policy
from xborder.services import terms as T
from xborder.services.deploy import deploy
from xborder.services.loans import LoanRequest, LoanService, document_hash, parse_date

from .chains import Chain, dev_account

REGULATOR, BANK_A, BANK_B, BORROWER, HK_CREDITOR = (dev_account(i) for i in range(5))
ROSTER = [  # kind, name, identifier, jurisdiction, capital base (CNY), admin wallet
    ("domestic-bank", "Bank A", "91100000100005101J", "CN", "1,000,000,000.00", BANK_A.address),
    ("foreign-bank-branch", "Bank B", "2138007ZXQ1MERIDSH03", "CN", "500,000,000.00", BANK_B.address),
    ("enterprise", "Borrower X", "91330000MA2AY5Q83K", "CN", "100,000,000.00", BORROWER.address),
    ("foreign-creditor", "HK Creditor", "549300STRAITSCAP0122", "HK", "0", HK_CREDITOR.address),
]
USD_RATE = "7.10"


@pytest.fixture(params=["anvil", "ganache", pytest.param("network", marks=pytest.mark.network)])
def chain(request: pytest.FixtureRequest) -> Iterator[Chain]:
    if request.param == "network":
        net = request.getfixturevalue("network")
        yield Chain("network", net.urls, net)
    else:
        node: LocalNode = request.getfixturevalue(request.param)
        yield Chain(request.param, [node.rpc_url] * 4)


def _request(borrower: int, creditor: int, principal: int, doc: str) -> tuple[LoanRequest, T.SealedTerms]:
    sealed = T.seal(T.LoanTerms(interest_rate="4.35", purpose="working capital"))
    return LoanRequest(borrower, creditor, "USD", principal, parse_date("2025-01-01"), parse_date("2025-12-31"), 1,
                       document_hash(doc), sealed.terms_hash), sealed


def test_lifecycle(chain: Chain, tmp_path: Path) -> None:
    deployments = tmp_path / "deployments"
    node1, node2, node3, node4 = (chain.w3(i) for i in (1, 2, 3, 4))

    # -- deploy and onboard through node 1 (the regulator's wallet) --------------------------------
    deploy(node1, REGULATOR, REGULATOR.address, deployments, PROJECT_ROOT)
    client1 = XborderClient.load(node1, deployments)
    problems: list[onboarding.Problem] = []
    entries = onboarding.validate_rows(
        [(f"row {i}", dict(zip(onboarding.COLUMNS, row, strict=True))) for i, row in enumerate(ROSTER, 1)], None,
        problems)
    assert not problems
    report = onboarding.apply(client1, REGULATOR, onboarding.plan(client1, entries))
    ids = {entry.name: iid for entry, iid in report.registered}
    bank_a, bank_b, borrower, hk = ids["Bank A"], ids["Bank B"], ids["Borrower X"], ids["HK Creditor"]
    policy.set_rates(client1, REGULATOR, policy.parse_rate_pairs(["USD", USD_RATE]))

    chain.settle(int(node1.eth.block_number))
    client2, client4 = XborderClient.load(node2, deployments), XborderClient.load(node4, deployments)
    via1, via2, via4 = LoanService(client1), LoanService(client2), LoanService(client4)

    # -- bank A (node 1): a loan co-signed by the borrower and drawn in the same transaction --------
    req, sealed = _request(borrower, bank_a, 10_000_000_00, "DOC-A")
    signature, _, deadline = via1.sign_consent(BORROWER, req, req.principal)
    loan_a = via1.record_with_consent(BANK_A, req, sealed, signature=signature, deadline=deadline,
                                      draw=req.principal)
    assert loan_a.status == "Active"

    # -- bank B (node 2): recorded, confirmed by the borrower (node 2), drawn, partly repaid --------
    chain.settle(loan_a.block_number)
    req_b, sealed_b = _request(borrower, bank_b, 5_000_000_00, "DOC-B")
    loan_b = via2.record(BANK_B, req_b, sealed_b)
    assert loan_b.status == "Recorded"
    assert via2.confirm(BORROWER, loan_b.loan_id).status == "Active"
    via2.draw(BANK_B, loan_b.loan_id, 5_000_000_00)
    repaid = via2.repay(BANK_B, loan_b.loan_id, 2_000_000_00)

    # -- refused over the limit (node 2): nothing is sent --------------------------------------------
    chain.settle(repaid.block_number)
    before = int(node2.eth.get_transaction_count(HK_CREDITOR.address))
    req_c, sealed_c = _request(borrower, hk, 15_000_000_00, "DOC-C")
    signature, _, deadline = via2.sign_consent(BORROWER, req_c, req_c.principal)
    with pytest.raises(TransactionRejected) as refused:
        via2.record_with_consent(HK_CREDITOR, req_c, sealed_c, signature=signature, deadline=deadline,
                                 draw=req_c.principal)
    assert refused.value.error_name == "BorrowingLimitExceeded", refused.value
    assert int(node2.eth.get_transaction_count(HK_CREDITOR.address)) == before

    # -- the regulator reads from node 4 ------------------------------------------------------------
    a, b = via4.show(loan_a.loan_id), via4.show(loan_b.loan_id)
    assert (a.status, a.outstanding, a.contribution_cny) == ("Active", 10_000_000_00, 142_000_000_00)
    assert (b.status, b.drawn, b.outstanding) == ("Active", 5_000_000_00, 3_000_000_00)
    exposure = via4.exposure(borrower)
    assert exposure.balance == a.contribution_cny + b.contribution_cny

    # -- and indexes from node 4; the index is checked against node 3 --------------------------------
    settings = Settings(project_root=PROJECT_ROOT, data_dir=tmp_path / ".xborder", deployments_dir=deployments,
                        rpc_url=chain.urls[3])
    index_events(settings, w3=node4)
    db = open_index(settings)
    try:
        loans = {int(r[0]): (str(r[1]), int(r[2])) for r in db.query("SELECT loan_id, status, outstanding FROM loans")}
        assert set(loans) == {loan_a.loan_id, loan_b.loan_id}
        assert loans[loan_b.loan_id][1] == 3_000_000_00
        consistency = reconcile.consistency_report(db, node3)
        assert consistency.ok, consistency
    finally:
        db.close()

    # -- every node ends with the same head and the same ledger state --------------------------------
    block = chain.common_block()
    heads = {str(w3.eth.get_block(block)["hash"].hex()) for w3 in (node1, node2, node3, node4)}
    assert len(heads) == 1, heads
    states = []
    for w3 in (node1, node2, node3, node4):
        ledger = XborderClient.load(w3, deployments).ledger.functions
        states.append((ledger.riskWeightedBalance(borrower).call(block_identifier=block),
                       ledger.getLoan(loan_a.loan_id).call(block_identifier=block),
                       ledger.getLoan(loan_b.loan_id).call(block_identifier=block)))
    assert all(state == states[0] for state in states), states
    assert states[0][0] == exposure.balance

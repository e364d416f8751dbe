"""A small, deterministic financing book on real contracts (anvil), indexed into a database:
the figures every API, CLI and dashboard test checks.

Timeline (the chain clock is pushed forward between steps, so volumes span three months):
  month 0  BORROWER-X: USD 20,000,000.00 from HK-CREDITOR, long term, drawn in full
           BANK-A: USD 10,000,000.00 from HK-CREDITOR, long term, drawn in full
  month 1  the regulator sets the enterprise adjustment parameter (to its current 1.75)
           BORROWER-X: CNY 150,000,000.00 from BANK-A, drawn 110,000,000.00
           BORROWER-Y: EUR 5,000,000.00 from BANK-B, drawn in full
           BORROWER-X: CNY 1,000,000.00 from BANK-A, recorded then cancelled
  month 2  BANK-B acknowledges BORROWER-Y's repayment of EUR 1,000,000.00 (pro rata); JPY 100,000,000.00
           short term from HK-CREDITOR, drawn 50,000,000.00
  then     (ledger v2 controls, no loan event) HK-CREDITOR appoints BANK-A its agent; the regulator
           freezes BORROWER-Y's drawdowns (suspected fraud)

Each loan is recorded by its creditor and confirmed by its borrower (both sides consent, ledger v2);
every drawdown is at the rate of its block, which does not change here.

Expected (weights: ordinary loan 1.0, +0.5 FX risk, x1.5 short term):
  BORROWER-X balance 20M x 7.1 x 1.5 + 110M = CNY 323,000,000.00 of limit 350,000,000.00 (92.29 %)
  BORROWER-Y balance 4M x 7.8 x 1.5 + 50M x 0.047 x 2.0 = CNY 51,500,000.00 of 70,000,000.00
  BANK-A    balance 10M x 7.1 x 1.5 = CNY 106,500,000.00 of 1,400,000,000.00
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from loan_setup import BANK_A, BANK_B, BORROWER_X, BORROWER_Y, HK_CREDITOR, World, build_world
from web3 import Web3
from web3.types import RPCEndpoint

from xborder.config import PROJECT_ROOT, Settings
from xborder.domain.enums import Parameter, ReasonCode
from xborder.domain.loans import LoanRequest
from xborder.index import index_events

DAY = 86_400
ADJUSTMENT_ENTERPRISE = int(Parameter.ADJUSTMENT_ENTERPRISE)
FREEZE_REASON = int(ReasonCode.SUSPECTED_FRAUD)
M = 100  # minor units per unit

EXPECTED_BALANCE = {BORROWER_X: 323_000_000 * M, BORROWER_Y: 51_500_000 * M, BANK_A: 106_500_000 * M}
EXPECTED_LIMIT = {BORROWER_X: 350_000_000 * M, BORROWER_Y: 70_000_000 * M, BANK_A: 1_400_000_000 * M}
EXPECTED_OUTSTANDING = {"USD": 30_000_000 * M, "CNY": 110_000_000 * M, "EUR": 4_000_000 * M,
                        "JPY": 50_000_000 * M}
NAMES = {BANK_A: "BANK-A", BANK_B: "BANK-B", BORROWER_X: "BORROWER-X", BORROWER_Y: "BORROWER-Y",
         HK_CREDITOR: "HK-CREDITOR"}


@dataclass
class Book:
    world: World
    settings: Settings
    loans: dict[str, int]  # short name -> loan id

    @property
    def w3(self) -> Web3:
        return self.world.w3


def _doc(name: str) -> bytes:
    return hashlib.sha256(name.encode()).digest()


def _advance(w3: Web3, days: int) -> None:
    w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [days * DAY])
    w3.provider.make_request(RPCEndpoint("evm_mine"), [])


def build_book(rpc_url: str, folder: Path, db_url: str) -> Book:
    deployments = folder / "deployments"
    world = build_world(rpc_url, deployments)
    client, wallets = world.client, world.wallets
    ledger = client.ledger.functions
    loans: dict[str, int] = {}

    def record(name: str, recorder: int, borrower: int, creditor: int, currency: str, principal: int,
               days: int) -> int:
        today = int(world.w3.eth.get_block("latest")["timestamp"])  # v2: the value date is near block time
        request = LoanRequest(borrower, creditor, currency, principal * M, today, today + days * DAY, 1,
                              _doc(name), _doc("terms " + name))
        client.transact(wallets[recorder], ledger.recordLoan(request.as_abi(), b"terms"), f"record {name}")
        loan_id = max(int(e["args"]["loanId"]) for e in client.ledger.events.LoanRecorded.get_logs(
            from_block=0, argument_filters={"borrower": borrower}))
        loans[name] = loan_id
        return loan_id

    def confirm_draw(name: str, borrower: int, drawer: int, amount: int) -> None:
        client.transact(wallets[borrower], ledger.confirmLoan(loans[name]), f"confirm {name}")
        if amount:
            client.transact(wallets[drawer], ledger.drawdown(loans[name], amount * M), f"draw {name}")

    record("x-usd", HK_CREDITOR, BORROWER_X, HK_CREDITOR, "USD", 20_000_000, 730)
    confirm_draw("x-usd", BORROWER_X, BORROWER_X, 20_000_000)
    record("a-usd", HK_CREDITOR, BANK_A, HK_CREDITOR, "USD", 10_000_000, 730)
    confirm_draw("a-usd", BANK_A, BANK_A, 10_000_000)
    _advance(world.w3, 31)
    # The regulator re-confirms the enterprise adjustment parameter (1.75, unchanged, so no limit moves): a
    # ParameterUpdated the dashboard marks on its time axis.
    client.transact(world.regulator, client.policy.functions.setParameter(ADJUSTMENT_ENTERPRISE, 17_500),
                    "policy: adjustment parameter")
    record("x-cny", BANK_A, BORROWER_X, BANK_A, "CNY", 150_000_000, 1095)
    confirm_draw("x-cny", BORROWER_X, BORROWER_X, 110_000_000)
    record("y-eur", BANK_B, BORROWER_Y, BANK_B, "EUR", 5_000_000, 730)
    confirm_draw("y-eur", BORROWER_Y, BORROWER_Y, 5_000_000)
    record("x-cancelled", BANK_A, BORROWER_X, BANK_A, "CNY", 1_000_000, 730)
    client.transact(wallets[BANK_A], ledger.cancelLoan(loans["x-cancelled"]), "cancel")
    _advance(world.w3, 31)
    client.transact(wallets[BANK_B], ledger.repay(loans["y-eur"], 1_000_000 * M), "repay y-eur")
    record("y-jpy", HK_CREDITOR, BORROWER_Y, HK_CREDITOR, "JPY", 100_000_000, 200)
    confirm_draw("y-jpy", BORROWER_Y, BORROWER_Y, 50_000_000)
    client.transact(wallets[HK_CREDITOR], ledger.appointAgent(BANK_A), "appoint agent")
    client.transact(world.regulator, ledger.freezeDrawdowns(BORROWER_Y, FREEZE_REASON), "freeze")

    settings = Settings(project_root=PROJECT_ROOT, data_dir=folder / ".xborder", deployments_dir=deployments,
                        rpc_url=rpc_url, database_url=db_url)
    index_events(settings)
    return Book(world, settings, loans)

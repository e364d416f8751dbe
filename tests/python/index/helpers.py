"""Test support for the indexer: the EventEmitter double, a seeded workload and table dumps.

Also runnable as a script (the crash test runs it in a subprocess and kills it):
    python helpers.py RPC_URL DB_URL CONTRACTS_JSON TO_BLOCK BATCH_BLOCKS   (TO_BLOCK -1: follow)
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import solcx
from web3 import Web3

from xborder.config import PROJECT_ROOT
from xborder.index import Database, IndexedContract
from xborder.index.db import Row, open_database

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ROLES = ("InstitutionRegistry", "MacroPrudentialPolicy", "LoanLedger")
TABLES = ("checkpoint", "indexed_contracts", "blocks", "raw_logs", "log_counts", "institutions", "institution_events",
          "wallets", "wallet_events", "parameter_changes", "reference_rate_changes", "financing_type_changes",
          "loans", "loan_events", "loan_terms", "loan_totals", "volume_buckets", "borrower_positions",
          "borrower_currency", "event_counts", "drawdown_freezes", "agent_events", "consent_nonce_invalidations")
#: What a reprojection rebuilds (everything but the raw logs, their blocks and the checkpoint).
PROJECTED = tuple(t for t in TABLES if t not in ("checkpoint", "indexed_contracts", "blocks", "raw_logs",
                                                  "log_counts"))


@cache
def emitter_artifact() -> tuple[str, list[dict[str, Any]]]:
    """(bytecode, abi) of tests/python/index/fixtures/EventEmitter.sol."""
    sources = {f"interfaces/{p.name}": {"content": p.read_text()}
               for p in sorted((PROJECT_ROOT / "interfaces").glob("*.sol"))}
    sources["EventEmitter.sol"] = {"content": (FIXTURES / "EventEmitter.sol").read_text()}
    out = solcx.compile_standard(
        {"language": "Solidity", "sources": sources,
         "settings": {"evmVersion": "paris", "optimizer": {"enabled": True, "runs": 200},
                      "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}}}},
        solc_binary=PROJECT_ROOT / "compilers" / "solc-v0.8.28", allow_paths=[str(PROJECT_ROOT)])
    contract = out["contracts"]["EventEmitter.sol"]["EventEmitter"]
    return contract["evm"]["bytecode"]["object"], contract["abi"]


def interface_abi(name: str) -> list[dict[str, Any]]:
    """Events of interface I<name> as the indexer sees them (the emitter's ABI holds all)."""
    return emitter_artifact()[1]


@dataclass
class Emitters:
    """Three EventEmitter instances standing in for the registry, the policy and the ledger."""

    w3: Web3
    registry: Any
    policy: Any
    ledger: Any
    start_block: int

    @classmethod
    def deploy(cls, w3: Web3) -> Emitters:
        bytecode, abi = emitter_artifact()
        sender = w3.eth.accounts[0]
        instances = []
        start = w3.eth.block_number + 1
        for _ in ROLES:
            tx = w3.eth.contract(abi=abi, bytecode=bytecode).constructor().transact({"from": sender})
            receipt = w3.eth.wait_for_transaction_receipt(tx)
            instances.append(w3.eth.contract(address=receipt["contractAddress"], abi=abi))
        registry, policy, ledger = instances
        return cls(w3, registry, policy, ledger, start_block=start)

    def contracts(self) -> list[IndexedContract]:
        abi = emitter_artifact()[1]
        return [IndexedContract(name, c.address, abi, self.start_block)
                for name, c in zip(ROLES, (self.registry, self.policy, self.ledger), strict=True)]

    def send(self, call: Any) -> None:
        call.transact({"from": self.w3.eth.accounts[0]})


class Workload:
    """A seeded, self-consistent stream of registry, policy and ledger events."""

    def __init__(self, em: Emitters, seed: int) -> None:
        self.em = em
        self.rng = random.Random(seed)
        self.institutions: list[int] = []
        self.loans: dict[int, dict[str, int]] = {}
        self.balances: dict[int, int] = {}
        self.loan_count: dict[int, int] = {}
        self.epochs: dict[int, int] = {}

    def fork(self, seed: int) -> Workload:
        """A workload with this one's state and a new random stream (for the other branch of a reorg)."""
        other = Workload(self.em, seed)
        other.institutions = list(self.institutions)
        other.loans = {k: dict(v) for k, v in self.loans.items()}
        other.balances = dict(self.balances)
        other.loan_count = dict(self.loan_count)
        other.epochs = dict(self.epochs)
        return other

    def setup(self, institutions: int = 4) -> None:
        em = self.em
        em.send(em.policy.functions.referenceRateUpdated(b"USD", 0, 710_000_000))
        em.send(em.policy.functions.financingTypeSet(1, "ORDINARY_LOAN", 10000, False))
        for _ in range(institutions):
            self.register()

    def register(self) -> int:
        iid = len(self.institutions) + 1
        admin = Web3.to_checksum_address(self.rng.randbytes(20))
        self.em.send(self.em.registry.functions.institutionRegistered(
            iid, admin, self.rng.choice([0, 3]), f"LEI{iid:017d}".encode(), b"CN" if iid % 2 else b"HK",
            10**10 * iid, f"Institution {iid}"))
        self.institutions.append(iid)
        return iid

    def step(self) -> None:
        em, rng = self.em, self.rng
        live = [i for i, loan in self.loans.items() if loan["status"] == 2]
        choice = rng.random()
        if choice < 0.3 or not live:
            self._record()
        elif choice < 0.4:
            iid = rng.choice(self.institutions)
            em.send(em.registry.functions.capitalBaseUpdated(iid, 0, rng.randrange(1, 10**12)))
        elif choice < 0.45:
            em.send(em.policy.functions.parameterUpdated(rng.randrange(15), 0, rng.randrange(1, 30000)))
        elif choice < 0.5:
            em.send(em.registry.functions.walletAdded(rng.choice(self.institutions),
                                                      Web3.to_checksum_address(rng.randbytes(20))))
        elif choice < 0.53:
            em.send(em.ledger.functions.drawdownsFrozen(rng.choice(self.institutions), rng.random() < 0.6))
        elif choice < 0.55:
            principal, agent = rng.sample(self.institutions, 2)
            em.send(em.ledger.functions.agent(principal, agent, rng.random() < 0.6))
        elif choice < 0.57:
            iid = rng.choice(self.institutions)
            self.epochs[iid] = self.epochs.get(iid, 0) + 1
            em.send(em.registry.functions.signatureEpochChanged(iid, self.epochs[iid]))
        else:
            self._move(rng.choice(live))

    def _record(self) -> None:
        """A co-signed loan (Active at once, both sides consented)."""
        em, rng = self.em, self.rng
        borrower = rng.choice(self.institutions)
        creditor = rng.choice([i for i in self.institutions if i != borrower])
        self.loan_count[borrower] = self.loan_count.get(borrower, 0) + 1
        loan_id = borrower << 32 | self.loan_count[borrower]
        principal = rng.randrange(1, 10**6) * 100
        request = (borrower, creditor, b"USD", principal, 1_700_000_000, 1_800_000_000, 1,
                   rng.randbytes(32), rng.randbytes(32))
        self.loans[loan_id] = {"status": 2, "borrower": borrower, "principal": principal, "drawn": 0,
                               "outstanding": 0, "contribution": 0}
        em.send(em.ledger.functions.loanRecorded(loan_id, creditor, 2, request, False, self.balances.get(borrower, 0)))

    def _move(self, loan_id: int) -> None:
        """A drawdown (adding its amount to the balance), or the whole outstanding repaid and the loan closed."""
        em, loan = self.em, self.loans[loan_id]
        borrower = loan["borrower"]
        balance = self.balances.get(borrower, 0)
        if loan["drawn"] < loan["principal"] and self.rng.random() < 0.7:
            amount = self.rng.randrange(1, loan["principal"] - loan["drawn"] + 1)
            loan["drawn"] += amount
            loan["outstanding"] += amount
            loan["contribution"] += amount
            self.balances[borrower] = balance + amount
            em.send(em.ledger.functions.loanDrawn(loan_id, borrower, amount, loan["drawn"], amount,
                                                  self.balances[borrower]))
            return
        if loan["outstanding"]:
            self.balances[borrower] = balance = balance - loan["contribution"]
            em.send(em.ledger.functions.loanRepaid(loan_id, borrower, loan["outstanding"], 0, loan["contribution"],
                                                   balance))
            loan["outstanding"] = loan["contribution"] = 0
        loan["status"] = 3
        em.send(em.ledger.functions.loanClosed(loan_id, borrower, balance))

    def run(self, steps: int) -> None:
        for _ in range(steps):
            self.step()


def one_row(db: Database, sql: str, params: tuple[Any, ...] = ()) -> Row:
    """The row of a query that always has one (an aggregate, the checkpoint)."""
    row = db.query_one(sql, params)
    assert row is not None, f"no row for {sql}"
    return row


def dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted: two databases are equal iff their dumps are."""
    out = {}
    for table in TABLES:
        rows = db.query(f"SELECT * FROM {table}")
        out[table] = sorted(tuple(str(v) for v in row) for row in rows)
    return out


def dump_diff(a: dict[str, list[tuple[Any, ...]]], b: dict[str, list[tuple[Any, ...]]]) -> list[str]:
    """The rows one dump has and the other has not, table by table (empty when equal)."""
    out = []
    for table in sorted(set(a) | set(b)):
        left, right = set(a.get(table, [])), set(b.get(table, []))
        out += [f"{table}: only left {row}" for row in sorted(left - right)]
        out += [f"{table}: only right {row}" for row in sorted(right - left)]
    return out


def _main(argv: list[str]) -> int:
    import logging

    from xborder.index import Indexer, RetryPolicy
    from xborder.index.service import indexer_web3

    logging.basicConfig(level=logging.WARNING)
    rpc_url, db_url, contracts_file, to_block, batch_blocks = argv
    contracts = [IndexedContract(**c) for c in json.loads(Path(contracts_file).read_text())]
    db = open_database(db_url)
    indexer = Indexer(db, indexer_web3(rpc_url), contracts, batch_blocks=int(batch_blocks),
                      max_batch_blocks=int(batch_blocks), retry=RetryPolicy(initial_delay=0.05, max_delay=0.5))
    if int(to_block) < 0:  # follow until killed
        indexer.run(follow=True, poll_interval=0.1)
    else:
        indexer.run(to_block=int(to_block))
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))

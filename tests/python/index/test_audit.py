"""The index as a complete audit trail (issue #13 item 3), on anvil with the real contracts:

* every log of the three contracts is in `raw_logs` -- RoleGranted/RoleRevoked, Paused/Unpaused and
  a TermsShared indexed without any key included -- and the counts per contract and event equal
  those of `cast logs` (an independent client) exactly;
* `report consistency` compares those counts with the node and passes;
* the domain tables are a projection of the raw table: `reproject` gives the same rows as
  indexing from the chain.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from dataclasses import replace

from web3 import Web3

from xborder.config import Settings
from xborder.index import index_events, open_database, reproject_index
from xborder.index.reconcile import consistency_report

from .helpers import PROJECTED, dump, dump_diff, one_row
from .test_contracts import RealWorkload

ROLE = Web3.keccak(text="PAUSER_ROLE")


def _audit_events(w3: Web3, work: RealWorkload) -> None:
    """What the old index dropped: role changes, pauses, terms shared by a party without a key."""
    regulator, other = work.regulator, list(w3.eth.accounts)[9]
    for name in ("InstitutionRegistry", "LoanLedger"):
        contract = work.contracts[name]
        assert work.send(regulator, contract.functions.grantRole(ROLE, other))
        assert work.send(other, contract.functions.pause())
        assert work.send(other, contract.functions.unpause())
        assert work.send(regulator, contract.functions.revokeRole(ROLE, other))
    loan = work.loans[0]
    borrower_wallet = work.book.wallets[loan >> 32].address
    assert work.send(borrower_wallet, work.contracts["LoanLedger"].functions.shareTerms(loan, b"\x01" * 40))


def _cast_counts(rpc_url: str, address: str, first: int, last: int) -> Counter[str]:
    out = subprocess.run(["cast", "logs", "--rpc-url", rpc_url, "--from-block", str(first), "--to-block", str(last),
                          "--address", address, "--json"], capture_output=True, text=True, check=True, timeout=120)
    return Counter(str(entry["topics"][0]).lower() for entry in json.loads(out.stdout))


def test_raw_logs_equal_cast_logs_and_reproject_equals_the_chain(deployed: tuple[Web3, Settings], db_url: str) -> None:
    w3, settings = deployed
    settings = replace(settings, database_url=db_url)
    work = RealWorkload(w3, settings, seed=17)
    work.setup()
    for _ in range(60):
        work.step()
    _audit_events(w3, work)
    stats = index_events(settings)
    assert stats.checkpoint == w3.eth.block_number

    db = open_database(db_url)
    names = {str(r[0]) for r in db.query("SELECT DISTINCT event FROM raw_logs")}
    assert {"RoleGranted", "RoleRevoked", "Paused", "Unpaused", "TermsShared", "LoanRecorded"} <= names
    assert one_row(db, "SELECT COUNT(*) FROM loan_terms")[0] == 0  # no key: nothing projected from the terms ...
    assert one_row(db, "SELECT COUNT(*) FROM raw_logs WHERE event = 'TermsShared'")[0] == 1  # ... but it is there
    first = min(int(r[0]) for r in db.query("SELECT start_block FROM indexed_contracts"))
    total = 0
    for name, address in db.query("SELECT name, address FROM indexed_contracts"):
        ours = Counter({"0x" + bytes(t).hex(): int(n) for t, n in db.query(
            "SELECT topic0, COUNT(*) FROM raw_logs WHERE address = ? GROUP BY topic0", (address,))})
        theirs = _cast_counts(settings.rpc_url or "", str(address), first, stats.checkpoint)
        assert ours == theirs, name
        total += sum(theirs.values())
    assert total == stats.logs == one_row(db, "SELECT SUM(logs) FROM log_counts")[0]

    report = consistency_report(db, w3)
    assert report.ok, (report.mismatches, report.log_mismatches, report.internal)
    assert report.logs_checked == total

    before = dump(db)
    db.close()
    assert reproject_index(settings) == total
    with open_database(db_url) as again:
        after = dump(again)
    assert not dump_diff({t: before[t] for t in PROJECTED}, {t: after[t] for t in PROJECTED})
    assert before == after

"""Every row of docs/bad-inputs.md for onboarding, policy, wallets and deploy: the command fails
with the documented message and exit code, AND leaves the chain exactly as it was (no block
mined, same institutions, same policy), against a real anvil."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cli_helpers import PASSWORD, Chain, deployed_chain
from loan_setup import dev_account
from web3 import Web3

from xborder.bindings.consent import binding_digest
from xborder.chain import start_anvil
from xborder.chain.signer import sign_digest
from xborder.config import PROJECT_ROOT
from xborder.domain.identifiers import identifier_bytes
from xborder.services import onboarding, policy

DOC = PROJECT_ROOT / "docs" / "bad-inputs.md"
ROSTER = PROJECT_ROOT / "examples" / "roster.csv"
HEADER = "kind,name,identifier,jurisdiction,capital_base,admin_wallet\n"
FRESH_ID = "91310000MA1FL8XQ37"  # valid USCC, not registered
#: m/44'/60'/0'/0/30 of the public development mnemonic, registered to nobody: on a dev chain xborder
#: signs its binding proof itself (DEV-ONLY), so the cases below reach the contract as before.
FRESH_ADDR = "0x1BcB8e569EedAb4668e55145Cfeaf190902d3CF2"
#: An address nobody holds the key of (no proof can exist).
KEYLESS_ADDR = "0x2222222222222222222222222222222222222222"
REG = ("--wallet", "regulator")


def register(**over: str) -> list[str]:
    fields = {"kind": "enterprise", "name": "Test Co", "identifier": FRESH_ID, "jurisdiction": "CN",
              "capital-base": "1000000", "admin": FRESH_ADDR} | over
    args = ["institution", "register"]
    for key, value in fields.items():
        args += [f"--{key}", value]
    return [*args, *REG]


@dataclass(frozen=True)
class Case:
    input: str  # the "input tried" cell of docs/bad-inputs.md
    args: list[str]
    message: str  # a fragment of the one-line error on stderr
    exit_code: int
    env: dict[str, str] = field(default_factory=dict)
    also: tuple[str, ...] = ()  # further fragments expected on stderr (e.g. every roster problem)
    setup: str | None = None


CASES = [
    Case("malformed address", ["institution", "add-wallet", "2", "0x1234", *REG],
         "WALLET: '0x1234' is not an address", 2),
    Case("address with a wrong EIP-55 checksum", ["institution", "add-wallet", "2",
                                                  "0x1bcB8e569EedAb4668e55145Cfeaf190902d3CF2", *REG],
         "wrong EIP-55 checksum", 2),
    Case("LEI of the wrong length", register(identifier="5493001KJTIIGC8Y1R1"),
         "is 19 characters long; an LEI has 20", 2),
    Case("LEI with a character outside 0-9A-Z", register(identifier="5493001KJTIIGC8Y1R-2"),
         "has characters not allowed in an LEI: '-'", 2),
    Case("LEI with wrong check digits", register(identifier="5493001KJTIIGC8Y1R13"),
         "has wrong LEI check digits '13' (for this prefix they would be '12')", 2),
    Case("USCC with a letter outside its alphabet (I)", register(identifier="91100000100005101I"),
         "not allowed in a unified social credit code: 'I'", 2),
    Case("USCC with a wrong check character", register(identifier="91100000100005101K"),
         "has a wrong USCC check character 'K' (for this prefix it would be 'J')", 2),
    Case("binding an address without its proof",
         ["institution", "add-wallet", "2", KEYLESS_ADDR, "--wallet", "zhonghua-admin"],
         f"--proof: binding {KEYLESS_ADDR} needs its proof of key possession", 2),
    Case("registering an admin without its proof", register(admin=KEYLESS_ADDR),
         f"--proof: registering needs the proof that admin wallet {KEYLESS_ADDR} agrees to be bound", 2),
    Case("malformed wallet proof", ["institution", "add-wallet", "2", KEYLESS_ADDR, "--proof", "123:0xabc",
                                    "--wallet", "zhonghua-admin"],
         "--proof: '123:0xabc' is not a wallet proof (DEADLINE:0xSIGNATURE", 2),
    Case("wallet squatting: a proof signed by another wallet",
         ["institution", "add-wallet", "2", FRESH_ADDR, "--proof", "{squat_proof}", "--wallet", "zhonghua-admin"],
         f"the proof for binding wallet {FRESH_ADDR} was signed by", 7),
    Case("admin revokes another institution's signatures", ["institution", "revoke-signatures", "3", "--wallet",
                                                            "zhonghua-admin"],
         "of Bank of Zhonghua Co., Ltd. (#2) is not allowed to do this", 7),
    Case("appointing a non-bank as agent", ["institution", "appoint-agent", "8", "--wallet", "zhonghua-admin"],
         "Shenzhen Pengcheng Electronics Co., Ltd. (#8) cannot be an agent of Bank of Zhonghua Co., Ltd. (#2)", 7),
    Case("confirmation window of 0 days", ["policy", "set", "confirmation-window-days", "0", *REG],
         "confirmation-window-days: '0' is out of range (whole days 1..65535", 2),
    Case("jurisdiction not alpha-2", register(jurisdiction="CHN"),
         "'CHN' is not an ISO 3166 alpha-2 code", 2),
    Case("unknown institution kind", register(kind="hedge-fund"),
         "'hedge-fund' is not an institution kind (one of domestic-bank, foreign-bank-branch", 2),
    Case("negative capital base", register(**{"capital-base": "-5"}), "--capital-base: '-5' must be greater than zero", 2),
    Case("zero capital base for a borrower", register(**{"capital-base": "0"}),
         "--capital-base: '0' must be greater than zero", 2),
    Case("empty name", register(name=" "), "--name: the name is empty", 2),
    Case("roster with missing columns", ["institution", "import", "{dir}/missing-columns.csv", *REG],
         "the header has no column 'jurisdiction'", 2, also=("capital_base", "admin_wallet")),
    Case("roster with bad encoding (Latin-1 byte)", ["institution", "import", "{dir}/latin1.csv", *REG],
         "byte(s) e9 at line 2 are not UTF-8", 2),
    Case("roster with several bad rows (all reported)", ["institution", "import", "{dir}/bad-rows.csv", *REG],
         "roster {dir}/bad-rows.csv: 6 problem(s); nothing was registered", 2,
         also=("line 2\tkind", "line 2\tidentifier", "line 3\tjurisdiction", "line 3\tcapital_base",
               "line 4\tadmin_wallet", "line 4\tname")),
    Case("duplicate identifier within the roster", ["institution", "import", "{dir}/duplicate.csv", *REG],
         "duplicate: 91310000MA1FL8XQ37 is also on line 2", 2),
    Case("roster admin wallet already belongs to a registered institution",
         ["institution", "import", "{dir}/taken-wallet.csv", *REG],
         "already belongs to Bank of Zhonghua Co., Ltd. (#2)", 2),
    Case("roster of unknown format (.txt)", ["institution", "import", "{dir}/roster.txt", *REG],
         "unknown format '.txt' (use .csv, .yaml or .yml)", 2),
    Case("identifier already registered on chain", register(identifier="91100000100005101J"),
         "registering Test Co refused: identifier 91100000100005101J is already registered to Bank of Zhonghua", 7),
    Case("wrong wallet password", register(), "wrong password for wallet 'regulator'", 6,
         env={"XBORDER_PASSWORD": "not the password"}),
    Case("unknown wallet name", [*register()[:-2], "--wallet", "nobody"], "no wallet called 'nobody'", 6),
    Case("non-regulator wallet registers an institution", [*register()[:-2], "--wallet", "outsider"],
         "lacks the role REGULATOR_ROLE", 7),
    Case("non-regulator wallet sets a policy parameter",
         ["policy", "set", "adjustment-enterprise", "1.5", "--wallet", "outsider"], "lacks the role REGULATOR_ROLE", 7),
    Case("another institution's admin adds a wallet",
         ["institution", "add-wallet", "3", FRESH_ADDR, "--wallet", "zhonghua-admin"],
         "of Bank of Zhonghua Co., Ltd. (#2) is not allowed to do this", 7),
    Case("unreachable node", ["institution", "list", "--rpc-url", "http://127.0.0.1:1"],
         "no Ethereum node answers at http://127.0.0.1:1", 4),
    Case("wrong chain id", ["institution", "list", "--chain-id", "999"], "serves chain id 31337, expected 999", 4),
    Case("missing deployment (fresh chain / no manifest)", ["institution", "list"],
         "no deployment for chain id 31337", 5, env={"XBORDER_DEPLOYMENTS_DIR": "{dir}/empty-deployments"}),
    Case("paused registry: an institution's admin adds a wallet",
         ["institution", "add-wallet", "2", FRESH_ADDR, "--wallet", "zhonghua-admin"],
         "the system is paused by the regulator", 7, setup="pause"),
    Case("suspended institution's admin adds a wallet",
         ["institution", "add-wallet", "2", FRESH_ADDR, "--wallet", "zhonghua-admin"],
         "Bank of Zhonghua Co., Ltd. (#2) is suspended", 7, setup="suspend"),
    Case("reinstate an active institution", ["institution", "reinstate", "2", *REG],
         "cannot go from active to active", 7),
    Case("remove an institution's admin wallet", ["institution", "remove-wallet", "2", "zhonghua-admin", *REG],
         "is the admin wallet of Bank of Zhonghua Co., Ltd. (#2): set another admin first", 7),
    Case("unknown institution id", ["institution", "suspend", "99", *REG], "no institution #99 (ids 1..12", 2),
    Case("adjustment 0", ["policy", "set", "adjustment-enterprise", "0", *REG],
         "adjustment-enterprise: '0' must be greater than zero", 2),
    Case("adjustment negative", ["policy", "set", *REG, "--", "adjustment-enterprise", "-1"],
         "adjustment-enterprise: '-1' is not a valid factor", 2),
    Case("adjustment not a number", ["policy", "set", "adjustment-financial", "abc", *REG],
         "adjustment-financial: 'abc' is not a valid factor", 2),
    Case("factor too large for the contract (uint16 bps)", ["policy", "set", "leverage-enterprise", "7", *REG],
         "leverage-enterprise: '7' is not a valid factor", 2),
    Case("unknown policy parameter", ["policy", "set", "leverage", "1", *REG], "'leverage' is not a policy parameter", 2),
    Case("currency code of the wrong format", ["policy", "fx", "set", "US1", "7.1", *REG],
         "'US1' is not an ISO 4217 code", 2),
    Case("rate for CNY (the base currency)", ["policy", "fx", "set", "CNY", "1", *REG],
         "CNY is the base currency", 2),
    Case("zero or malformed rate", ["policy", "fx", "set", "USD", "0", *REG], "'0' is not a valid reference rate", 2),
    Case("currency without a rate", ["policy", "fx", "set", "USD", "7.1", "EUR", *REG],
         "give currency/rate pairs", 2),
    Case("financing type id out of range", ["policy", "type", "set", "256", "X", "1", *REG],
         "ID: '256' is not a financing type id (1..255)", 2),
    Case("funding amount not positive", ["wallet", "fund", "outsider", "--amount", "0"],
         "--amount: '0' must be greater than zero", 2),
]


def _write_rosters(directory: Path, chain: Chain) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "missing-columns.csv").write_text("kind,name,identifier\nenterprise,X Co,91310000MA1FL8XQ37\n")
    (directory / "latin1.csv").write_bytes(
        HEADER.encode() + f"enterprise,Caf\xe9 Co,{FRESH_ID},CN,10,{FRESH_ADDR}\n".encode("latin-1"))
    (directory / "bad-rows.csv").write_text(
        HEADER
        + f"hedge-fund,Alpha,5493001KJTIIGC8Y1R13,CN,10,{FRESH_ADDR}\n"
        + "enterprise,Beta,91440300MA5F7KQ038,CHN,-1,0x2222222222222222222222222222222222222222\n"
        + "enterprise,,91310000MA1FL8XQ37,CN,1,nobody\n")
    (directory / "duplicate.csv").write_text(
        HEADER + f"enterprise,A Co,{FRESH_ID},CN,10,{FRESH_ADDR}\n"
        + f"enterprise,B Co,{FRESH_ID},CN,10,0x3333333333333333333333333333333333333333\n")
    (directory / "taken-wallet.csv").write_text(HEADER + f"enterprise,A Co,{FRESH_ID},CN,10,zhonghua-admin\n")
    (directory / "roster.txt").write_text(HEADER)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    root = tmp_path_factory.mktemp("bad-inputs")
    with start_anvil(log_path=root / "anvil.log") as node:
        chain = deployed_chain(node.rpc_url, root)
        zh_admin = chain.wallet("zhonghua-admin")
        chain.wallet("outsider")
        entries = onboarding.read_roster(ROSTER, None)
        entries[1] = onboarding.Entry(**{**entries[1].__dict__, "admin": zh_admin.address})
        admins = [zh_admin, *(dev_account(i) for i in range(10, 22))]
        onboarding.apply(chain.client, chain.regulator, onboarding.plan(
            chain.client, entries, prover=onboarding.account_prover(chain.client, admins)))
        outsider = chain.keystore.load("outsider", PASSWORD)
        squat = sign_digest(bytes(outsider.key), binding_digest(
            identifier_bytes(entries[1].identifier), FRESH_ADDR, chain.client.binding_nonce(FRESH_ADDR),
            chain.client.now() + 86_400, chain_id=chain.client.chain_id, registry=str(chain.client.registry.address)))
        (root / "squat-proof.txt").write_text(f"{chain.client.now() + 86_400}:0x{squat.hex()}")
        policy.set_rates(chain.client, chain.regulator, [("USD", 712340000)])
        _write_rosters(root / "rosters", chain)
        yield chain


def _fill(text: str, directory: Path) -> str:
    text = text.replace("{dir}", str(directory))
    if "{squat_proof}" in text:
        text = text.replace("{squat_proof}", (directory.parent / "squat-proof.txt").read_text())
    return text


@pytest.mark.parametrize("case", CASES, ids=[c.input for c in CASES])
def test_bad_input(chain: Chain, case: Case) -> None:
    directory = chain.root / "rosters"
    if case.setup == "pause":
        chain.client.transact(chain.regulator, chain.client.registry.functions.pause(), "pause")
    elif case.setup == "suspend":
        onboarding.change_status(chain.client, chain.regulator, 2, "suspend")
    try:
        before = chain.state()
        r = chain.run(*[_fill(a, directory) for a in case.args],
                      **{k: _fill(v, directory) for k, v in case.env.items()})
        after = chain.state()
    finally:
        if case.setup == "pause":
            chain.client.transact(chain.regulator, chain.client.registry.functions.unpause(), "unpause")
        elif case.setup == "suspend":
            onboarding.change_status(chain.client, chain.regulator, 2, "reinstate")
    last = r.err.strip().splitlines()[-1] if r.err.strip() else ""
    assert r.code == case.exit_code, f"exit {r.code}, stderr:\n{r.err}"
    assert last.startswith("xborder: error: "), r.err
    assert _fill(case.message, directory) in last, r.err
    for fragment in case.also:
        assert fragment in r.err, r.err
    assert "Traceback" not in r.err
    assert after == before, "the failed command changed the chain"


def test_every_case_is_documented() -> None:
    doc = DOC.read_text()
    assert doc.startswith("# Bad inputs")
    assert "| input tried | command | error message | exit code |" in doc
    missing = [c.input for c in CASES if f"| {c.input} |" not in doc]
    assert not missing, f"add these rows to {DOC}: {missing}"


def test_nothing_was_written_by_the_whole_table(chain: Chain) -> None:
    assert chain.client.registry.functions.institutionCount().call() == 12
    assert chain.client.institution_of(Web3.to_checksum_address(FRESH_ADDR)) == 0
    assert PASSWORD  # the regulator's wallet still opens with the right password
    assert chain.keystore.load("regulator", PASSWORD).address == chain.regulator.address

"""Fixtures for the contract suite: the three contracts deployed and wired, seeded with realistic
policy and institutions, accounts named by role, and helpers for exact revert strings.

Every test runs in its own snapshot (autouse `fn_isolation`).
"""

import socket

import brownie
import pytest
from brownie import InstitutionRegistry, LoanLedger, MacroPrudentialPolicy, accounts, chain, web3
from brownie.exceptions import decode_typed_error
from eth_abi import encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

import model


def _give_this_run_a_free_port():
    """Brownie's development networks listen on the fixed port 8545, and Brownie attaches to any
    node it finds there: a second test run on the same machine would deploy into the first run's
    node and reset it. Runs here launch their own node on a port the kernel picks as free.
    Brownie connects after collection, so setting the port while this conftest loads is in time."""
    from brownie._config import CONFIG

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for network in CONFIG.networks.values():
        settings = network.get("cmd_settings")
        if isinstance(settings, dict) and "port" in settings and "fork" not in settings:
            settings["port"] = port


_give_this_run_a_free_port()

# ---------------------------------------------------------------- constants

RATES = {  # CNY per 1 unit x 1e8
    b"USD": 710_000_000,  # 7.10
    b"EUR": 770_000_000,  # 7.70
    b"HKD": 91_000_000,  # 0.91
    b"JPY": 4_700_000,  # 0.047 per 1 JPY
    b"GBP": 900_000_000,  # 9.00
}
DAY = 86400
VALUE_DATE = 1_767_225_600  # 2026-01-01T00:00:00Z
CAPITAL = {  # CNY minor units
    "bank": 50_000_000_000_00,  # 50 bn CNY
    "bank2": 2_000_000_000_00,
    "enterprise": 10_000_000_00,  # 10 m CNY -> limit 35 m CNY
    "nbfi": 500_000_000_00,
    "creditor": 0,
    "observer": 0,
}
KIND = {
    "bank": model.DOMESTIC_BANK,
    "bank2": model.FOREIGN_BANK_BRANCH,
    "nbfi": model.NON_BANK,
    "enterprise": model.ENTERPRISE,
    "creditor": model.FOREIGN_CREDITOR,
    "observer": model.OBSERVER,
}

# Deterministic private keys for wallets that sign EIP-712 consents.
KEYS = {
    "enterprise": "0x" + "11" * 32,
    "enterprise_wallet2": "0x" + "12" * 32,
    "bank2": "0x" + "13" * 32,
    "nbfi": "0x" + "14" * 32,
    "stranger_signer": "0x" + "15" * 32,
}

_USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def lei(prefix18):
    """Valid LEI (ISO 17442): 18 chars + 2 MOD 97-10 check digits, as bytes20."""
    digits = "".join(str(int(c, 36)) for c in prefix18 + "00")
    check = 98 - int(digits) % 97
    return (prefix18 + f"{check:02d}").encode()


def uscc(code18):
    """USCC as bytes20: 18 chars left-aligned, two zero bytes."""
    assert len(code18) == 18 and all(c in _USCC_CHARSET for c in code18)
    return code18.encode() + b"\x00\x00"


IDENTIFIERS = {
    "bank": lei("300300ICBCBANK0001"),
    "bank2": lei("5493001HSBCBRANCH0"),
    "nbfi": lei("300300NBFIFINANCE0"),
    "enterprise": uscc("91110000100000000A"),
    "creditor": lei("213800OVERSEASLEND"),
    "observer": lei("300300SAFEOBSERVER"),
}
JURISDICTION = {"creditor": b"HK", "bank2": b"CN"}


# ---------------------------------------------------------------- revert helpers

_ERROR_ABIS = {}


def _error_abis():
    if not _ERROR_ABIS:
        for container in (LoanLedger, InstitutionRegistry, MacroPrudentialPolicy):
            for item in container.abi:
                if item["type"] == "error":
                    _ERROR_ABIS.setdefault(item["name"], item)
    return _ERROR_ABIS


def _canonical(inp):
    if inp["type"].startswith("tuple"):
        return "(" + ",".join(_canonical(c) for c in inp["components"]) + ")" + inp["type"][5:]
    return inp["type"]


def error_data(name, *args):
    abi = _error_abis()[name]
    types = [_canonical(i) for i in abi["inputs"]]
    selector = keccak(text=f"{name}({','.join(types)})")[:4]
    return "0x" + (selector + encode(types, list(args))).hex()


def err(name, *args):
    """Exact revert string Brownie reports for custom error `name(args)`."""
    return decode_typed_error(error_data(name, *args))


def reverts(name, *args):
    """`with reverts("ZeroAmount"):` — asserts the exact custom error and its values."""
    return brownie.reverts(err(name, *args))


@pytest.fixture(scope="session")
def error():
    return err


# ---------------------------------------------------------------- isolation


@pytest.fixture(autouse=True)
def isolation(fn_isolation):
    pass


# ---------------------------------------------------------------- accounts by role


@pytest.fixture(scope="session")
def regulator():
    return accounts[0]


@pytest.fixture(scope="session")
def local_wallets(regulator):
    wallets = {}
    for role, key in KEYS.items():
        acct = accounts.add(key)
        wallets[role] = acct
    return wallets


@pytest.fixture(scope="module")
def funded(local_wallets, regulator):
    for acct in local_wallets.values():
        if acct.balance() < 10**19:
            regulator.transfer(acct, 10**20)
    return local_wallets


@pytest.fixture(scope="session")
def bank():
    return accounts[1]


@pytest.fixture(scope="module")
def bank2(funded):
    return funded["bank2"]


@pytest.fixture(scope="module")
def enterprise(funded):
    return funded["enterprise"]


@pytest.fixture(scope="module")
def enterprise_wallet2(funded):
    return funded["enterprise_wallet2"]


@pytest.fixture(scope="module")
def nbfi(funded):
    return funded["nbfi"]


@pytest.fixture(scope="session")
def creditor():
    return accounts[5]


@pytest.fixture(scope="session")
def observer():
    return accounts[6]


@pytest.fixture(scope="session")
def stranger():
    return accounts[7]


@pytest.fixture(scope="session")
def pauser():
    return accounts[8]


# ---------------------------------------------------------------- deployment


@pytest.fixture(scope="module")
def registry(regulator):
    return InstitutionRegistry.deploy(regulator, {"from": regulator})


@pytest.fixture(scope="module")
def policy(regulator):
    p = MacroPrudentialPolicy.deploy(regulator, {"from": regulator})
    p.setReferenceRates(list(RATES), list(RATES.values()), {"from": regulator})
    return p


@pytest.fixture(scope="module")
def ledger(regulator, registry, policy):
    return LoanLedger.deploy(regulator, registry, policy, {"from": regulator})


@pytest.fixture(scope="module")
def ids(registry, regulator, bank, bank2, enterprise, enterprise_wallet2, nbfi, creditor, observer):
    """Institution ids by role, registered in this order: bank=1, bank2=2, enterprise=3, nbfi=4,
    creditor=5, observer=6. The enterprise has a second wallet."""
    wallets = {
        "bank": bank,
        "bank2": bank2,
        "enterprise": enterprise,
        "nbfi": nbfi,
        "creditor": creditor,
        "observer": observer,
    }
    out = {}
    for role, wallet in wallets.items():
        tx = registry.registerInstitution(
            KIND[role],
            IDENTIFIERS[role],
            JURISDICTION.get(role, b"CN"),
            CAPITAL[role],
            f"{role} institution",
            wallet,
            {"from": regulator},
        )
        out[role] = tx.return_value
    registry.addWallet(out["enterprise"], enterprise_wallet2, {"from": enterprise})
    return out


@pytest.fixture(scope="module")
def xb(registry, policy, ledger, ids):
    """Everything wired: registry, policy (seeded rates), ledger, institutions registered."""
    return {"registry": registry, "policy": policy, "ledger": ledger, "ids": ids}


@pytest.fixture
def model_policy():
    return model.Policy(rates=dict(RATES))


# ---------------------------------------------------------------- loan helpers


_doc_counter = [0]


def new_doc():
    _doc_counter[0] += 1
    return keccak(text=f"loan-contract-{_doc_counter[0]}")


def make_request(borrower, creditor, currency=b"USD", principal=1_000_000_00, term_days=730,
                 financing_type=1, document_hash=None, terms_hash=None, value_date=VALUE_DATE):
    return (
        borrower,
        creditor,
        currency,
        principal,
        value_date,
        value_date + term_days * DAY,
        financing_type,
        document_hash or new_doc(),
        terms_hash or keccak(text="terms"),
    )


TERMS = encode(
    ["string", "uint32", "uint64", "string", "string", "bytes32"],
    ["3M SOFR + 1.20%", 120, 50_000, "working capital", "ICBC-2026-000123", b"\x01" * 32],
)


def sign_consent(ledger, account, request, draw_amount, nonce, deadline):
    data = model.consent_typed_data(request, draw_amount, nonce, deadline, chain.id, ledger.address)
    signed = Account.sign_message(encode_typed_data(full_message=data), account.private_key)
    return signed.signature


@pytest.fixture
def consent(ledger):
    """consent(account, request, draw, deadline=None, nonce=None) -> signature bytes."""

    def _consent(account, request, draw_amount=0, deadline=None, nonce=None):
        if nonce is None:
            nonce = ledger.borrowerPosition(request[0])["nonce"]
        if deadline is None:
            deadline = chain.time() + 3600
        return sign_consent(ledger, account, request, draw_amount, nonce, deadline), deadline

    return _consent


@pytest.fixture
def record_active(ledger, bank, enterprise, consent, ids):
    """Record a loan co-signed by the enterprise (borrower) via the bank, drawing `draw`."""

    def _record(draw=0, signer=None, sender=None, **kw):
        kw.setdefault("borrower", ids["enterprise"])
        kw.setdefault("creditor", ids["bank"])
        request = make_request(**kw)
        sig, deadline = consent(signer or enterprise, request, draw)
        tx = ledger.recordLoanWithConsent(request, TERMS, draw, deadline, sig, {"from": sender or bank})
        return tx.return_value, request, tx

    return _record


@pytest.fixture
def record_pending(ledger, bank, ids):
    def _record(sender=None, **kw):
        kw.setdefault("borrower", ids["enterprise"])
        kw.setdefault("creditor", ids["bank"])
        request = make_request(**kw)
        tx = ledger.recordLoan(request, TERMS, {"from": sender or bank})
        return tx.return_value, request, tx

    return _record


__all__ = ["reverts", "err", "make_request", "new_doc", "TERMS", "web3"]

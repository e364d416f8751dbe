"""Fixtures for the contract suite: the three contracts deployed and wired, seeded with realistic
policy and institutions, accounts named by role, and helpers for exact revert strings.

Every test runs in its own snapshot (autouse `fn_isolation`).
"""

import contextlib
import itertools
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
SHORT_DAYS = 180  # short-term whatever the calendar
LONG_DAYS = 730  # long-term whatever the calendar
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

# Deterministic private keys: every institution wallet signs (binding proofs, consents).
KEYS = {
    "bank": "0x" + "10" * 32,
    "enterprise": "0x" + "11" * 32,
    "enterprise_wallet2": "0x" + "12" * 32,
    "bank2": "0x" + "13" * 32,
    "nbfi": "0x" + "14" * 32,
    "stranger_signer": "0x" + "15" * 32,
    "creditor": "0x" + "16" * 32,
    "observer": "0x" + "17" * 32,
    "stranger": "0x" + "18" * 32,
    "bank3": "0x" + "19" * 32,
}

_USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def lei(prefix18):
    """Valid LEI (ISO 17442): 18 chars + 2 MOD 97-10 check digits, as bytes20."""
    digits = "".join(str(int(c, 36)) for c in prefix18 + "00")
    check = 98 - int(digits) % 97
    return (prefix18 + f"{check:02d}").encode()


def uscc_check_char(code17):
    """GB 32100-2015 check character: weights 3^(i-1) mod 31."""
    total = sum(_USCC_CHARSET.index(c) * pow(3, i, 31) for i, c in enumerate(code17))
    return _USCC_CHARSET[(31 - total % 31) % 31]


def uscc(code17):
    """Valid USCC as bytes20: 17 chars + the check character, left-aligned, two zero bytes."""
    assert len(code17) == 17 and all(c in _USCC_CHARSET for c in code17)
    return (code17 + uscc_check_char(code17)).encode() + b"\x00\x00"


IDENTIFIERS = {
    "bank": lei("300300ICBCBANK0001"),
    "bank2": lei("5493001HSBCBRANCH0"),
    "nbfi": lei("300300NBFIFINANCE0"),
    "enterprise": uscc("91110000100000000"),
    "creditor": lei("213800OVERSEASLEND"),
    "observer": lei("300300SAFEOBSERVER"),
    "bank3": lei("300300THIRDBANK001"),
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


@contextlib.contextmanager
def reverts_at_block_time(name, *args):
    """Like `reverts` for an error whose LAST value is the block timestamp (e.g. SignatureExpired):
    asserts the name and the other values exactly, and that the timestamp is past `args[-1]`."""
    with pytest.raises(brownie.exceptions.VirtualMachineError) as exc:
        yield
    prefix = err(name, *args, 0).rsplit(", ", 1)[0] + ", "
    msg = exc.value.revert_msg
    assert msg.startswith(prefix), msg
    assert int(msg.rsplit(", ", 1)[1]) > args[-1], msg


@contextlib.contextmanager
def reverts_at_a_block_time(name, args_at):
    """Exact revert of an error whose values are computed from the block time t the call ran at
    (the policy's date windows): asserts the message is exactly `err(name, *args_at(t))` for one t
    between the latest block's time and the chain's clock after the call. A view or a gas estimate
    runs on a block that is not mined yet, so t is not known in advance; every value follows from it."""
    before = min(chain.time(), web3.eth.get_block("latest").timestamp)
    with pytest.raises(brownie.exceptions.VirtualMachineError) as exc:
        yield
    after = max(chain.time(), web3.eth.get_block("latest").timestamp) + 2
    msg = exc.value.revert_msg
    matches = [t for t in range(before - 2, after + 1) if msg == err(name, *args_at(t))]
    assert matches, f"{msg!r} is not {name} at any block time in [{before - 2}, {after}]"


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
def local_wallets():
    return {role: accounts.add(key) for role, key in KEYS.items()}


@pytest.fixture(scope="module")
def funded(local_wallets, regulator):
    for acct in local_wallets.values():
        if acct.balance() < 10**18:  # Ganache's accounts hold 1000 ETH: 10 each is plenty
            regulator.transfer(acct, 10**19)
    return local_wallets


def _role_fixture(role):
    @pytest.fixture(scope="module", name=role)
    def _wallet(funded):
        return funded[role]

    return _wallet


bank = _role_fixture("bank")
bank2 = _role_fixture("bank2")
bank3 = _role_fixture("bank3")
enterprise = _role_fixture("enterprise")
enterprise_wallet2 = _role_fixture("enterprise_wallet2")
nbfi = _role_fixture("nbfi")
creditor = _role_fixture("creditor")
observer = _role_fixture("observer")
stranger = _role_fixture("stranger")


@pytest.fixture(scope="session")
def pauser():
    return accounts[8]


# ---------------------------------------------------------------- wallet binding proofs


def bind_proof(registry, account, identifier, deadline=None, nonce=None, signer=None):
    """`account`'s WalletBinding proof for the institution `identifier`: (deadline, signature)."""
    if deadline is None:
        deadline = chain.time() + 3600
    if nonce is None:
        nonce = registry.bindingNonce(account)
    data = model.wallet_binding_typed_data(identifier, account.address, nonce, deadline, chain.id, registry.address)
    signed = Account.sign_message(encode_typed_data(full_message=data), (signer or account).private_key)
    return (deadline, signed.signature)


NO_PROOF = (0, b"")


def register(registry, regulator, kind, identifier, wallet, capital=10**9, jurisdiction=b"CN", name="institution"):
    tx = registry.registerInstitution(kind, identifier, jurisdiction, capital, name, wallet,
                                      bind_proof(registry, wallet, identifier), {"from": regulator})
    return tx.return_value


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


ROLES_IN_ORDER = ("bank", "bank2", "enterprise", "nbfi", "creditor", "observer")


@pytest.fixture(scope="module")
def ids(registry, regulator, funded):
    """Institution ids by role, registered in this order: bank=1, bank2=2, enterprise=3, nbfi=4,
    creditor=5, observer=6. The enterprise has a second wallet."""
    out = {}
    for role in ROLES_IN_ORDER:
        out[role] = register(registry, regulator, KIND[role], IDENTIFIERS[role], funded[role], CAPITAL[role],
                             JURISDICTION.get(role, b"CN"), f"{role} institution")
    e2 = funded["enterprise_wallet2"]
    registry.addWallet(out["enterprise"], e2, bind_proof(registry, e2, IDENTIFIERS["enterprise"]),
                       {"from": funded["enterprise"]})
    return out


@pytest.fixture(scope="module")
def xb(registry, policy, ledger, ids):
    """Everything wired: registry, policy (seeded rates), ledger, institutions registered."""
    return {"registry": registry, "policy": policy, "ledger": ledger, "ids": ids}


@pytest.fixture
def model_policy():
    return model.Policy(rates=dict(RATES))


# ---------------------------------------------------------------- loan helpers


_doc_counter = itertools.count(1)
_nonce_counter = itertools.count(2**32)  # clear of the small nonces tests pass explicitly


def new_doc():
    return keccak(text=f"loan-contract-{next(_doc_counter)}")


def today():
    """Midnight UTC of the chain's current day."""
    return chain.time() // DAY * DAY


def make_request(borrower, creditor, currency=b"USD", principal=1_000_000_00, term_days=LONG_DAYS,
                 financing_type=1, document_hash=None, terms_hash=None, value_date=None, maturity_date=None):
    value_date = today() if value_date is None else value_date
    return (
        borrower,
        creditor,
        currency,
        principal,
        value_date,
        maturity_date or value_date + term_days * DAY,
        financing_type,
        document_hash or new_doc(),
        terms_hash or keccak(text="terms"),
    )


TERMS = encode(
    ["string", "uint32", "uint64", "string", "string", "bytes32"],
    ["3M SOFR + 1.20%", 120, 50_000, "working capital", "ICBC-2026-000123", b"\x01" * 32],
)


def _sign(account, data):
    return Account.sign_message(encode_typed_data(full_message=data), account.private_key).signature


def sign_consent(ledger, account, request, draw_amount, submitter, nonce=None, epoch=None, deadline=None):
    """The borrower wallet `account`'s LoanConsent naming `submitter`: a ConsentSignature tuple."""
    if nonce is None:
        nonce = next(_nonce_counter)
    if epoch is None:
        epoch = InstitutionRegistry.at(ledger.registry()).signatureEpoch(request[0])
    if deadline is None:
        deadline = chain.time() + 3600
    data = model.consent_typed_data(request, draw_amount, submitter, nonce, epoch, deadline, chain.id, ledger.address)
    return (submitter, nonce, epoch, deadline, _sign(account, data))


def sign_extension(ledger, account, submitter, loan_id, new_maturity, nonce=None, epoch=None, deadline=None):
    """The borrower wallet `account`'s ExtensionConsent: a ConsentSignature tuple."""
    if nonce is None:
        nonce = next(_nonce_counter)
    if epoch is None:
        epoch = InstitutionRegistry.at(ledger.registry()).signatureEpoch(loan_id >> 32)
    if deadline is None:
        deadline = chain.time() + 3600
    data = model.extension_consent_typed_data(submitter, loan_id, new_maturity, nonce, epoch, deadline, chain.id,
                                              ledger.address)
    return (submitter, nonce, epoch, deadline, _sign(account, data))


@pytest.fixture
def consent(ledger, ids):
    """consent(account, request, draw=0, submitter=bank id, **kw) -> ConsentSignature tuple."""

    def _consent(account, request, draw_amount=0, submitter=None, **kw):
        return sign_consent(ledger, account, request, draw_amount, ids["bank"] if submitter is None else submitter, **kw)

    return _consent


@pytest.fixture
def record_active(ledger, bank, enterprise, ids):
    """Record a loan co-signed by the enterprise (borrower), submitted by the bank (creditor),
    drawing `draw`."""

    def _record(draw=0, signer=None, sender=None, submitter=None, **kw):
        kw.setdefault("borrower", ids["enterprise"])
        kw.setdefault("creditor", ids["bank"])
        request = make_request(**kw)
        sig = sign_consent(ledger, signer or enterprise, request, draw, submitter or kw["creditor"])
        tx = ledger.recordLoanWithConsent(request, TERMS, draw, sig, {"from": sender or bank})
        return tx.return_value, request, tx

    return _record


@pytest.fixture
def record_pending(ledger, bank, ids):
    """Record a loan awaiting consent; by default the creditor (bank) records it (creditor consented)."""

    def _record(sender=None, **kw):
        kw.setdefault("borrower", ids["enterprise"])
        kw.setdefault("creditor", ids["bank"])
        request = make_request(**kw)
        tx = ledger.recordLoan(request, TERMS, {"from": sender or bank})
        return tx.return_value, request, tx

    return _record


__all__ = ["reverts", "reverts_at_block_time", "err", "make_request", "new_doc", "TERMS", "web3"]

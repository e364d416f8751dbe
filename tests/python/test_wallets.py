"""Keystores, password sources and DEMO-ONLY wallets, with cast/anvil interop (no mocks)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.types import TransactionDictType
from eth_typing import HexStr
from web3 import Web3

from xborder.chain import LocalNode
from xborder.chain.launcher import DEV_MNEMONIC
from xborder.config import PROJECT_ROOT, Settings
from xborder.errors import WalletError, XborderError
from xborder.wallets import (
    DemoWallets,
    Keystore,
    PasswordKind,
    PasswordSource,
    demo_mnemonic,
    read_password_file,
    validate_name,
    wallet_env_var,
)

CAST = PROJECT_ROOT / "node_modules" / ".bin" / "cast"
#: anvil's first funded account (public development mnemonic)
ANVIL_KEY0 = HexStr("0x" + DemoWallets(mnemonic=DEV_MNEMONIC).private_key(0).hex())
LIGHT = 2**10  # scrypt n for fast unit tests; production uses eth-account's default


@pytest.fixture
def keystore(settings: Settings) -> Keystore:
    return Keystore(settings.keystores, scrypt_n=LIGHT)


def cast(*args: str) -> str:
    result = subprocess.run([str(CAST), *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"cast {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def fund(node: LocalNode, address: str, ether: int = 10) -> Web3:
    w3 = Web3(Web3.HTTPProvider(node.rpc_url))
    funder = Account.from_key(ANVIL_KEY0)
    tx = {"to": address, "value": Web3.to_wei(ether, "ether"), "gas": 21_000, "nonce":
          w3.eth.get_transaction_count(funder.address, "pending"), "chainId": w3.eth.chain_id,
          "gasPrice": w3.eth.gas_price * 2}
    tx_hash = w3.eth.send_raw_transaction(funder.sign_transaction(tx).raw_transaction)
    assert w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)["status"] == 1
    return w3


# -- keystore files ----------------------------------------------------------------------------

def test_new_wallet_file_modes_and_listing(keystore: Keystore) -> None:
    info = keystore.new("bank-of-x", "s3cret")
    assert info.path == keystore.directory / "bank-of-x"
    assert stat.S_IMODE(info.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(keystore.directory.stat().st_mode) == 0o700
    data = json.loads(info.path.read_text())
    assert data["version"] == 3 and data["crypto"]["kdf"] == "scrypt"
    assert [(w.name, w.address, w.demo) for w in keystore.list()] == [("bank-of-x", info.address, False)]
    assert keystore.address("bank-of-x") == info.address
    assert keystore.load("bank-of-x", "s3cret").address == info.address
    assert not [p for p in keystore.directory.iterdir() if p.name.startswith(".tmp")]


def test_production_default_is_strong_scrypt(tmp_path: Path) -> None:
    info = Keystore(tmp_path / "ks").import_key("prod", ANVIL_KEY0, "pw")
    assert info.path is not None
    params = json.loads(info.path.read_text())["crypto"]["kdfparams"]
    assert params["n"] == 2**18


def test_wrong_password_message(keystore: Keystore) -> None:
    info = keystore.new("alice", "right")
    with pytest.raises(WalletError) as err:
        keystore.load("alice", "wrong")
    assert str(err.value).startswith(f"wrong password for wallet 'alice' ({info.path})")
    assert isinstance(err.value, XborderError) and isinstance(err.value, PermissionError)


def test_missing_wallet_names_the_known_ones(keystore: Keystore) -> None:
    keystore.new("alice", "pw")
    with pytest.raises(WalletError, match=r"no wallet called 'bob' .*wallets there: alice"):
        keystore.load("bob", "pw")


@pytest.mark.parametrize("name", ["", "../evil", "a/b", ".hidden", "..", "x" * 129, "with space",
                                  "name.json", "a\x00b", "/abs"])
def test_name_validation_rejects(keystore: Keystore, name: str) -> None:
    with pytest.raises(WalletError, match="invalid wallet name"):
        keystore.new(name, "pw")
    assert not keystore.directory.exists() or not list(keystore.directory.iterdir())


@pytest.mark.parametrize("name", ["a", "Bank_1", "icbc.sh-branch", "UTC--2024-01-01T00-00-00.0Z--" + "ab" * 20])
def test_name_validation_accepts(name: str) -> None:
    assert validate_name(name) == name


def test_no_overwrite_without_flag(keystore: Keystore) -> None:
    first = keystore.import_key("w", ANVIL_KEY0, "pw")
    with pytest.raises(WalletError, match="already exists.*--force"):
        keystore.new("w", "pw")
    assert keystore.address("w") == first.address
    second = keystore.new("w", "pw2", overwrite=True)
    assert second.address != first.address and keystore.load("w", "pw2").address == second.address
    assert second.path is not None and stat.S_IMODE(second.path.stat().st_mode) == 0o600


def test_import_key_rejects_garbage(keystore: Keystore) -> None:
    with pytest.raises(WalletError, match="not 32 bytes"):
        keystore.import_key("w", "0x1234", "pw")


def test_import_file_checks_password(keystore: Keystore, tmp_path: Path) -> None:
    source = tmp_path / "foreign.json"
    source.write_text(json.dumps(Account.encrypt(ANVIL_KEY0, "pw", iterations=LIGHT)))
    with pytest.raises(WalletError, match="wrong password for keystore"):
        keystore.import_file("foreign", source, "nope")
    assert not keystore.exists("foreign")
    info = keystore.import_file("foreign", source, "pw")
    assert info.address == Account.from_key(ANVIL_KEY0).address
    assert info.path is not None and stat.S_IMODE(info.path.stat().st_mode) == 0o600
    (tmp_path / "not-a-keystore").write_text('{"hello": 1}')
    with pytest.raises(WalletError, match="not a Web3 Secret Storage"):
        keystore.import_file("bad", tmp_path / "not-a-keystore")


def test_geth_style_files_are_listed(keystore: Keystore) -> None:
    keystore.ensure_dir()
    account = Account.create()
    data = Account.encrypt(account.key, "pw", iterations=LIGHT)
    del data["address"]
    geth_name = f"UTC--2024-05-01T10-00-00.000000000Z--{account.address[2:].lower()}"
    (keystore.directory / geth_name).write_text(json.dumps(data))
    (keystore.directory / "other.json").write_text(json.dumps(Account.encrypt(Account.create().key, "pw", iterations=LIGHT)))
    (keystore.directory / "README").write_text("not a keystore")
    listed = {w.name: w.address for w in keystore.list()}
    assert listed[geth_name] == account.address
    assert set(listed) == {geth_name, "other", "README"}
    assert keystore.load("other", "pw").address == listed["other"]
    problems = {w.name: w.problem for w in keystore.list()}
    assert problems[geth_name] is None and problems["other"] is None
    assert problems["README"] is not None and problems["README"].startswith("not JSON")


# -- password sources --------------------------------------------------------------------------

def test_password_file_strips_one_newline(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text("secret \n\n")
    assert read_password_file(path) == "secret \n"
    path.write_text("secret\r\n")
    assert PasswordSource.from_options(password_file=path).resolve("w") == "secret"
    path.write_text("")
    with pytest.raises(WalletError, match="empty"):
        read_password_file(path)
    with pytest.raises(WalletError, match="cannot read password file"):
        read_password_file(tmp_path / "missing")


def test_password_env_sources() -> None:
    env = {"XBORDER_PASSWORD": "general", "XBORDER_PASSWORD_BANK_OF_X": "specific", "MINE": "mine"}
    assert wallet_env_var("bank-of.x") == "XBORDER_PASSWORD_BANK_OF_X"
    assert PasswordSource(PasswordKind.ENV, environ=env).resolve("bank-of-x") == "specific"
    assert PasswordSource(PasswordKind.ENV, environ=env).resolve("other") == "general"
    assert PasswordSource(PasswordKind.ENV, env_var="MINE", environ=env).resolve("bank-of-x") == "mine"
    with pytest.raises(WalletError, match="set XBORDER_PASSWORD_OTHER or XBORDER_PASSWORD"):
        PasswordSource(PasswordKind.ENV, environ={}).resolve("other")
    assert "secret" not in repr(PasswordSource(PasswordKind.ENV, environ=env))


def test_password_prompt_confirms() -> None:
    answers = iter(["a", "b"])
    with pytest.raises(WalletError, match="differ"):
        PasswordSource(prompt=lambda _: next(answers)).resolve("w", confirm=True)
    assert PasswordSource(prompt=lambda _: "same").resolve("w", confirm=True) == "same"

    def no_tty(_: str) -> str:
        raise EOFError
    with pytest.raises(WalletError, match="--password-file"):
        PasswordSource(prompt=no_tty).resolve("w")


# -- DEMO-ONLY wallets ---------------------------------------------------------------------------

def test_demo_derivation_matches_eth_account() -> None:
    Account.enable_unaudited_hdwallet_features()
    demo = DemoWallets.from_seed("test-seed")
    assert demo.mnemonic == demo_mnemonic("test-seed") != demo_mnemonic("other-seed")
    for i in (0, 1, 2, 99, 1299):
        expected = Account.from_mnemonic(demo.mnemonic, account_path=f"m/44'/60'/0'/0/{i}")
        assert demo.private_key(i) == bytes(expected.key)
        assert demo.address(i) == expected.address
    # No timing assertion (house rules: the machine is shared; speed is the benchmarks' business).
    addresses = [w.address for w in DemoWallets.from_seed("test-seed").infos(1300)]
    assert len(set(addresses)) == 1300
    assert addresses == [w.address for w in DemoWallets.from_seed("test-seed").infos(1300)]
    info = demo.infos(1, start=5)[0]
    assert info.demo and info.path is None and info.name == "demo-5"


def test_demo_matches_anvil_funded_accounts(tmp_path: Path) -> None:
    from xborder.chain import start_anvil
    demo = DemoWallets()
    with start_anvil(mnemonic=demo.mnemonic, accounts=3) as node:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        assert list(w3.eth.accounts) == [demo.address(i) for i in range(3)]


# -- interop with Foundry's cast on a real anvil ------------------------------------------------

def test_xborder_keystore_signs_with_cast(anvil: LocalNode, tmp_path: Path) -> None:
    keystore = Keystore(tmp_path / "ks")  # production scrypt parameters
    info = keystore.new("exporter", "pa ss\tword")
    assert info.address and info.path
    w3 = fund(anvil, info.address)
    password_file = tmp_path / "pw"
    password_file.write_text("pa ss\tword\n")
    os.chmod(password_file, 0o600)
    receiver = Account.create().address
    out = cast("send", "--rpc-url", anvil.rpc_url, "--keystore", str(info.path),
               "--password-file", str(password_file), receiver, "--value", "1ether", "--json")
    receipt = json.loads(out)
    assert int(receipt["status"], 16) == 1
    assert Web3.to_checksum_address(receipt["from"]) == info.address
    assert w3.eth.get_balance(receiver) == Web3.to_wei(1, "ether")


def test_cast_keystores_are_listed_imported_and_sign(anvil: LocalNode, tmp_path: Path) -> None:
    cast_dir = tmp_path / "cast-ks"
    cast_dir.mkdir()
    out = cast("wallet", "new", str(cast_dir), "treasury", "--unsafe-password", "pw")
    new_address = Web3.to_checksum_address(out.split("Address:")[1].split()[0])
    key = Account.create().key.hex()
    cast("wallet", "import", "ops", "--keystore-dir", str(cast_dir), "--private-key", key,
         "--unsafe-password", "pw")
    foreign = Keystore(cast_dir)
    listed = {w.name: w for w in foreign.list()}
    assert set(listed) == {"treasury", "ops"}
    assert listed["treasury"].address is None  # Foundry keystores carry no address field
    with pytest.raises(WalletError, match="does not record its address"):
        foreign.address("treasury")
    assert foreign.load("treasury", "pw").address == new_address
    assert foreign.address("treasury") == new_address  # remembered after the first unlock

    ours = Keystore(tmp_path / "ours", scrypt_n=LIGHT)
    info = ours.import_file("ops", cast_dir / "ops", "pw")
    assert info.address == Account.from_key(key).address
    account = ours.load("ops", "pw")
    w3 = fund(anvil, account.address)
    tx: TransactionDictType = {"to": new_address, "value": 12345, "gas": 21_000, "nonce": 0, "chainId": w3.eth.chain_id,
          "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9}
    tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)
    assert receipt["status"] == 1 and receipt["from"] == account.address
    assert w3.eth.get_balance(new_address) == 12345
    # and the file cast wrote is also usable by cast after our import (it is a plain copy + address)
    password_file = tmp_path / "pw"
    password_file.write_text("pw")
    cast("send", "--rpc-url", anvil.rpc_url, "--keystore", str(info.path), "--password-file",
         str(password_file), new_address, "--value", "1")
    assert w3.eth.get_balance(new_address) == 12346

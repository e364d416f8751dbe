"""A node's two keys: its p2p node key (its enode identity) and its sealer key.

Both are secrets: written once, mode 0600, in a folder of mode 0700, never printed or logged.
The node key is geth's `<datadir>/geth/nodekey` (64 hex digits). The sealer key is an encrypted
Web3 Secret Storage v3 keystore (scrypt, eth-account's production strength) in
`<datadir>/keystore/`, unlocked by geth with the random password in `<datadir>/password.txt`.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path

import coincurve
from eth_account import Account

from xborder.errors import ConfigurationError


def write_secret(path: Path, content: bytes) -> None:
    """Create `path` with mode 0600 (never replacing a file) and write `content`."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigurationError(f"{path} already exists: refusing to overwrite a key") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)


def enode_id(node_key: bytes) -> str:
    """The node's public identity: its uncompressed secp256k1 public key without the 0x04 prefix."""
    return coincurve.PrivateKey(node_key).public_key.format(compressed=False)[1:].hex()


def new_node_key(datadir: Path) -> str:
    """Write a fresh node key to `<datadir>/geth/nodekey`; returns the enode id."""
    key = coincurve.PrivateKey().secret
    write_secret(datadir / "geth" / "nodekey", key.hex().encode())
    return enode_id(key)


def read_enode_id(datadir: Path) -> str:
    return enode_id(bytes.fromhex((datadir / "geth" / "nodekey").read_text().strip()))


def new_sealer(datadir: Path) -> str:
    """A fresh sealer account: encrypted keystore + random password file; returns its address."""
    password = secrets.token_urlsafe(32)
    account = Account.create()
    keystore = Account.encrypt(account.key, password)
    stamp = time.strftime("%Y-%m-%dT%H-%M-%S.000000000Z", time.gmtime())
    write_secret(datadir / "password.txt", password.encode())
    write_secret(datadir / "keystore" / f"UTC--{stamp}--{account.address[2:].lower()}",
                 json.dumps(keystore).encode())
    return str(account.address)

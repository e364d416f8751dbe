"""DEMO-ONLY wallets: keys derived from one public BIP-39 mnemonic.

Nothing here is for real money or real institutions. The demo registers ~1,300 institutions;
a scrypt keystore costs ~0.7 s each, so demo institutions have no keystore at all: their keys
are derived on the fly from a mnemonic made from a public seed (BIP-44 path m/44'/60'/0'/0/i,
the path anvil and Ganache use for their funded accounts, so `start_anvil(mnemonic=...,
accounts=n)` funds the first n demo wallets at genesis).

Derivation speed: eth-account's `Account.from_mnemonic` re-runs PBKDF2 (2,048 rounds) and the
whole path for every key, ~3 ms per key. `DemoWallets` stretches the mnemonic once, derives the
parent m/44'/60'/0'/0 once, and then each child with one HMAC-SHA512 plus coincurve for the
public key; the keys are identical (tests compare them with `Account.from_mnemonic`).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

import coincurve
from eth_account import Account
from eth_account.hdaccount import seed_from_mnemonic
from eth_account.hdaccount.deterministic import HDPath, derive_child_key
from eth_account.hdaccount.mnemonic import Mnemonic
from eth_account.signers.local import LocalAccount
from eth_account.types import Language
from eth_hash.auto import keccak
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address

from xborder.errors import WalletError
from xborder.wallets.keystore import WalletInfo

#: secp256k1 group order.
_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
DEMO_PARENT_PATH = "m/44'/60'/0'/0"
DEFAULT_DEMO_SEED = "xborder-demo"


def demo_mnemonic(seed: str = DEFAULT_DEMO_SEED) -> str:
    """A 12-word English mnemonic determined by `seed` (public: DEMO-ONLY)."""
    return Mnemonic(Language.ENGLISH).to_mnemonic(hashlib.sha256(seed.encode()).digest()[:16])


def address_of(private_key: bytes) -> ChecksumAddress:
    """Checksummed address of a 32-byte private key (coincurve, ~20 µs)."""
    public = coincurve.PublicKey.from_valid_secret(private_key).format(compressed=False)[1:]
    return to_checksum_address(keccak(public)[-20:])


@dataclass
class DemoWallets:
    """DEMO-ONLY key ring: wallet i is m/44'/60'/0'/0/i of a public mnemonic.

    Never use for production wallets: anyone who knows the seed knows every key."""

    mnemonic: str = field(default_factory=demo_mnemonic)
    name_prefix: str = "demo-"
    _parent_key: bytes = field(init=False, repr=False)
    _parent_chain: bytes = field(init=False, repr=False)
    _parent_pub: bytes = field(init=False, repr=False)
    _cache: dict[int, bytes] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        if not Mnemonic(Language.ENGLISH).is_mnemonic_valid(self.mnemonic):
            raise WalletError("the demo mnemonic is not a valid English BIP-39 mnemonic")
        seed = seed_from_mnemonic(self.mnemonic, "")
        master = hmac.new(b"Bitcoin seed", seed, hashlib.sha512).digest()
        key, chain = master[:32], master[32:]
        for node in HDPath(DEMO_PARENT_PATH)._path:
            key, chain = derive_child_key(key, chain, node)
        self._parent_key, self._parent_chain = key, chain
        self._parent_pub = coincurve.PublicKey.from_valid_secret(key).format(compressed=True)

    @classmethod
    def from_seed(cls, seed: str = DEFAULT_DEMO_SEED) -> DemoWallets:
        return cls(mnemonic=demo_mnemonic(seed))

    def private_key(self, index: int) -> bytes:
        """The key of wallet `index` (BIP-32 CKDpriv of a non-hardened child)."""
        if not 0 <= index < 2**31:
            raise WalletError(f"demo wallet index {index} out of range 0..2**31-1")
        cached = self._cache.get(index)
        if cached is not None:
            return cached
        i = index
        while True:  # an invalid child (probability < 2**-127) moves on to the next index, as BIP-32 says
            digest = hmac.new(self._parent_chain, self._parent_pub + i.to_bytes(4, "big"), hashlib.sha512).digest()
            tweak = int.from_bytes(digest[:32], "big")
            child = (tweak + int.from_bytes(self._parent_key, "big")) % _N
            if tweak < _N and child != 0:
                break
            i += 1
        key = child.to_bytes(32, "big")
        self._cache[index] = key
        return key

    def address(self, index: int) -> ChecksumAddress:
        return address_of(self.private_key(index))

    def account(self, index: int) -> LocalAccount:
        account: LocalAccount = Account.from_key(self.private_key(index))
        return account

    def accounts(self, count: int, start: int = 0) -> list[LocalAccount]:
        return [self.account(i) for i in range(start, start + count)]

    def name(self, index: int) -> str:
        return f"{self.name_prefix}{index}"

    def infos(self, count: int, start: int = 0) -> list[WalletInfo]:
        """Listing entries, marked `demo=True` and without a keystore path."""
        return [WalletInfo(name=self.name(i), address=self.address(i), path=None, demo=True)
                for i in range(start, start + count)]

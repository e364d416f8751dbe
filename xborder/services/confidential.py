"""Confidential loan terms (issue #7): who may read them, sealing for the parties and the regulator,
opening with one's own keys, registering and rotating encryption keys, re-sharing.

* `EncryptionKeys` reads and writes the registry's X25519 public keys (institution 0 = regulator).
* `TermsSealer` turns `salt || encoding` into an envelope for the borrower, the creditor, the
  recorder and the regulator (their current keys, looked up once per institution and cached).
* `TermsReader` opens envelopes with an operator's `KeyRing` (indexer, `loan show`); it lives in
  `xborder.wallets.terms_reader` (the indexer may not import services) and is re-exported here.

Format and rationale: docs/confidential-terms.md; framing in `xborder.wallets.envelope`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from xborder.bindings.client import XborderClient, decode_logs
from xborder.bindings.consent import selector
from xborder.errors import ValidationError
from xborder.wallets import envelope as env
from xborder.wallets import terms as terms_codec
from xborder.wallets.encryption import KeyRing, derive_key, public_bytes
from xborder.wallets.envelope import REGULATOR, Binding, Recipient
from xborder.wallets.terms_reader import ReadTerms as ReadTerms
from xborder.wallets.terms_reader import TermsReader as TermsReader

log = logging.getLogger(__name__)


class MissingEncryptionKey(ValidationError):
    """A recipient of the terms has registered no encryption key."""


@dataclass(frozen=True)
class KeyVersion:
    institution: int
    version: int
    public_key: str
    by: str
    block_number: int
    tx_hash: str


_SEL_KEY = selector("encryptionKey(uint32)")


def _label(institution: int) -> str:
    return "the regulator (key id 0)" if institution == REGULATOR else f"institution {institution}"


@dataclass
class EncryptionKeys:
    """The registry's encryption keys, with a per-instance cache of current keys."""

    client: XborderClient
    _current: dict[int, tuple[bytes, int]] = field(default_factory=dict, repr=False)

    def current(self, institution: int, *, refresh: bool = False) -> tuple[bytes, int]:
        """(public key, version) of `institution`; (32 zero bytes, 0) when it has none."""
        if refresh or institution not in self._current:
            key, version = self.client.registry.functions.encryptionKey(institution).call()
            self._current[institution] = (bytes(key), int(version))
        return self._current[institution]

    def prefetch(self, institutions: Sequence[int]) -> None:
        """Current keys of many institutions in one JSON-RPC batch (a batch of loans names
        hundreds of parties; one call each would dominate sealing)."""
        wanted = sorted(set(institutions) - set(self._current))
        registry = self.client.registry
        # calldata by hand: web3's contract machinery costs milliseconds a call (minutes for 13,000 parties)
        calls = [("eth_call", [{"to": registry.address,
                                "data": "0x" + (_SEL_KEY + i.to_bytes(32, "big")).hex()}, "latest"])
                 for i in wanted]
        answers = self.client.rpc.results(calls, context="reading encryption keys")
        for institution, answer in zip(wanted, answers, strict=True):
            raw = bytes.fromhex(str(answer)[2:])
            self._current[institution] = (raw[:32], int.from_bytes(raw[32:64], "big"))

    def at(self, institution: int, version: int) -> bytes:
        return bytes(self.client.registry.functions.encryptionKeyAt(institution, version).call())

    def history(self, institution: int) -> list[KeyVersion]:
        """Every EncryptionKeyRegistered of `institution`, oldest first."""
        entries = self.client.registry.events.EncryptionKeyRegistered.get_logs(
            from_block=self.client.deployment.start_block, argument_filters={"institutionId": institution})
        return [KeyVersion(int(e["args"]["institutionId"]), int(e["args"]["version"]),
                           "0x" + bytes(e["args"]["publicKey"]).hex(), str(e["args"]["by"]), int(e["blockNumber"]),
                           "0x" + bytes(e["transactionHash"]).hex()) for e in entries]

    def register(self, account: LocalAccount, institution: int, public_key: bytes) -> KeyVersion:
        """setEncryptionKey from `account` (the institution's admin wallet, or the regulator)."""
        outcome = self.client.transact(account, self.client.registry.functions.setEncryptionKey(
            institution, public_key), f"encryption key of {_label(institution)}")
        args = decode_logs(self.client.registry, "EncryptionKeyRegistered", outcome.logs)[0]
        self._current[institution] = (public_key, int(args["version"]))
        return KeyVersion(institution, int(args["version"]), "0x" + public_key.hex(), str(args["by"]),
                          int(outcome.block_number or 0), str(outcome.tx_hash))

    def recipients(self, institutions: Sequence[int]) -> list[Recipient]:
        """The current keys of `institutions` (deduplicated, order kept); MissingEncryptionKey names
        every institution without one and how to fix it."""
        wanted = list(dict.fromkeys(institutions))
        found, missing = [], []
        for institution in wanted:
            key, version = self.current(institution)
            if version == 0:
                missing.append(institution)
            else:
                found.append(Recipient(institution, version, key))
        if missing:
            names = ", ".join(_label(i) for i in missing)
            raise MissingEncryptionKey(
                f"terms: {names} registered no encryption key, so the terms cannot be sealed for "
                "every party: register one with `xborder institution set-key` (the regulator's own: "
                "`xborder institution set-key 0 --wallet REGULATOR`), or pass --allow-plaintext to "
                "publish the terms in clear to every member", field="recipients", value=missing,
                allowed="institutions with a registered encryption key")
        return found


@dataclass
class TermsSealer:
    """Seals terms for a loan's parties and the regulator. One per batch: keys and wallet owners
    are looked up once per institution / address."""

    client: XborderClient
    include_regulator: bool = True
    keys: EncryptionKeys | None = None
    _owners: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.keys is None:
            self.keys = EncryptionKeys(self.client)
        self.ledger = str(self.client.ledger.address)
        self.chain_id = int(self.client.deployment.chain_id)

    def institution_of(self, address: str) -> int:
        if address not in self._owners:
            self._owners[address] = int(self.client.registry.functions.institutionOf(
                Web3.to_checksum_address(address)).call())
        return self._owners[address]

    def recipient_ids(self, borrower: int, creditor: int, recorder: int | str) -> list[int]:
        recorder_id = recorder if isinstance(recorder, int) else self.institution_of(recorder)
        ids = [borrower, creditor] + ([recorder_id] if recorder_id else [])
        return ids + ([REGULATOR] if self.include_regulator else [])

    def binding(self, document_hash: bytes, terms_hash: bytes) -> Binding:
        return Binding(self.chain_id, self.ledger, document_hash, terms_hash)

    def seal_plaintext(self, plaintext: bytes, *, document_hash: bytes, terms_hash: bytes,
                       recipients: Sequence[Recipient]) -> bytes:
        return env.seal(plaintext, recipients, self.binding(document_hash, terms_hash))

    def seal(self, sealed: terms_codec.SealedTerms, *, document_hash: bytes, borrower: int, creditor: int,
             recorder: int | str) -> terms_codec.SealedTerms:
        """`sealed` with its emitted bytes replaced by an envelope for the loan's parties + regulator."""
        assert self.keys is not None
        recipients = self.keys.recipients(self.recipient_ids(borrower, creditor, recorder))
        data = self.seal_plaintext(sealed.salt + sealed.encoding, document_hash=document_hash,
                                   terms_hash=sealed.terms_hash, recipients=recipients)
        return terms_codec.SealedTerms(sealed.terms, sealed.salt, sealed.encoding, sealed.terms_hash, data)


def register_derived_keys(client: XborderClient, admins: Mapping[int, LocalAccount],
                          regulator: LocalAccount | None = None) -> KeyRing:
    """DEMO-ONLY / benchmarks: give every institution of `admins` (id -> admin wallet) and, with
    `regulator`, the regulator (id 0) the key v1 derived from its wallet (`derive_key`), registering
    it where none is registered yet. Returns the ring of all those keys (what an all-seeing
    indexer, e.g. the regulator's plus the banks', would hold)."""
    keys = EncryptionKeys(client)
    owners: dict[int, LocalAccount] = dict(admins)
    if regulator is not None:
        owners[REGULATOR] = regulator
    ring = KeyRing()
    for institution, account in sorted(owners.items()):
        key = derive_key(bytes(account.key), institution, 1)
        ring.add(institution, 1, key)
        if keys.current(institution)[1] == 0:
            keys.register(account, institution, public_bytes(key))
    return ring


def key_view(k: KeyVersion) -> dict[str, Any]:
    return {"institution": k.institution, "version": k.version, "public_key": k.public_key, "by": k.by,
            "block": k.block_number, "tx": k.tx_hash}

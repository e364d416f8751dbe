"""Gas money for new wallets.

A wallet that signs must hold ETH for gas. On a local development chain (anvil 31337, Ganache
1337) the money comes from the first account of the public development mnemonic, which both
nodes pre-fund (DEV-ONLY: its key is public knowledge, so it is refused on any other chain).
Elsewhere the operator names a funder wallet of their own.

Funding tops up: a wallet that already holds the target amount gets nothing, so funding twice
sends nothing the second time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from xborder.bindings.batch import Batch, Tx
from xborder.bindings.reverts import ErrorDecoder
from xborder.chain.launcher import DEV_MNEMONIC
from xborder.chain.rpc import Rpc
from xborder.chain.sender import SenderPool
from xborder.domain.money import decimal
from xborder.errors import ChainError, InsufficientFunds, ValidationError

log = logging.getLogger(__name__)

#: Chain ids of local development nodes (anvil, Ganache), where the dev mnemonic is funded.
DEV_CHAIN_IDS = frozenset({31337, 1337})
#: Default top-up: plenty for hundreds of registry / ledger writes on a dev chain.
DEFAULT_AMOUNT_WEI = Web3.to_wei(1, "ether")
_TRANSFER_GAS = 21_000


@dataclass(frozen=True)
class Funded:
    address: str
    balance_before: int
    sent: int  # wei sent by this run (0: it already held enough)
    tx_hash: str | None


def is_dev_chain(w3: Web3) -> bool:
    return Rpc(w3).chain_id() in DEV_CHAIN_IDS


def dev_funder() -> LocalAccount:
    """DEV-ONLY: account 0 of the public development mnemonic (pre-funded by anvil and Ganache)."""
    Account.enable_unaudited_hdwallet_features()
    account: LocalAccount = Account.from_mnemonic(DEV_MNEMONIC)
    return account


def choose_funder(w3: Web3, funder: LocalAccount | None) -> LocalAccount:
    """`funder` if given; on a dev chain the dev account; elsewhere a ValidationError naming the option."""
    if funder is not None:
        return funder
    chain_id = int(w3.eth.chain_id)
    if chain_id in DEV_CHAIN_IDS:
        log.info("funding from the DEV-ONLY development account on chain %d", chain_id)
        return dev_funder()
    raise ValidationError(
        f"chain {chain_id} is not a local development chain (anvil 31337 / Ganache 1337): "
        "name a funder wallet with --funder NAME", field="--funder", value=None,
        allowed="a keystore wallet holding ETH")


def parse_ether(value: object, field: str = "--amount") -> int:
    """'0.5' (ether) -> wei; positive."""
    allowed = "a positive amount of ether, e.g. 0.5"
    number = decimal(value, field, allowed)  # the one number rule: no exponent, no NaN
    if number <= 0:
        raise ValidationError(f"{field}: {value!r} must be greater than zero ({allowed})", field=field,
                              value=value, allowed=allowed)
    wei = number * 10**18
    if wei != wei.to_integral_value():
        raise ValidationError(f"{field}: {value!r} has more than 18 decimals ({allowed})", field=field,
                              value=value, allowed=allowed)
    return int(wei)


def fund(w3: Web3, funder: LocalAccount, addresses: Sequence[str], amount_wei: int = DEFAULT_AMOUNT_WEI,
         progress: Callable[[Funded], None] | None = None, timeout: float = 60.0,
         pool: SenderPool | None = None) -> list[Funded]:
    """Top every address up to `amount_wei`: one batch of transfers through the engine (consecutive
    nonces, about one block for many wallets); a funder that cannot pay for all is refused first.
    `pool`: the run's senders (their nonces and sending windows), if it has them."""
    targets = list(dict.fromkeys(_address(a) for a in addresses))
    rpc = Rpc(w3)
    balances = [int(b, 16) for b in rpc.results([("eth_getBalance", [a, "latest"]) for a in targets],
                                               context="reading balances")]
    wanted = [(a, b, max(amount_wei - b, 0)) for a, b in zip(targets, balances, strict=True)]
    sends = [(a, need) for a, _, need in wanted if need]
    batch = Batch(w3, ErrorDecoder([]), [Tx(funder, a, b"", _TRANSFER_GAS, need, f"fund {a}") for a, need in sends],
                  pool=pool, receipt_timeout=timeout)
    if batch.check_funds(range(len(sends))):
        total = sum(need for _, need in sends)
        have = int(rpc.call("eth_getBalance", [funder.address, "latest"]), 16)
        raise InsufficientFunds(
            f"funder {funder.address} holds {Web3.from_wei(have, 'ether')} ETH, needs "
            f"{Web3.from_wei(total, 'ether')} ETH plus gas to fund {len(sends)} wallet(s): top the funder up")
    failed = batch.submit()
    if failed:
        raise ChainError(f"funding {failed[0].label.removeprefix('fund ')} failed: {failed[0].reason}")
    sent = {a: o.tx_hash for (a, _), o in zip(sends, batch.outcomes, strict=True)}
    results: list[Funded] = []
    for target, balance, need in wanted:
        item = Funded(target, balance, need, sent.get(target))
        log.info("funded %s with %s wei", target, need)
        if progress is not None:
            progress(item)
        results.append(item)
    return results


def _address(raw: str) -> str:
    if not Web3.is_address(raw):
        raise ValidationError(f"cannot fund {raw!r}: not an address (0x followed by 40 hex digits)",
                              field="address", value=raw, allowed="0x + 40 hex digits")
    return Web3.to_checksum_address(raw)

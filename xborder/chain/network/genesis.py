"""The clique genesis of a local consortium network.

Clique (EIP-225) keeps the authorised signers in the genesis block's `extraData`:
32 bytes of vanity, the signers' 20-byte addresses in ascending order, 65 zero bytes where a
block's seal would go. Every fork through London is active from block 0 (EIP-1559 fees, so the
sender's fee model is the one of public chains); Shanghai and later cannot be: geth's clique
engine refuses them ("clique does not support shanghai fork"). The contracts are compiled for
`paris`, whose bytecode (no PUSH0) runs on London unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from eth_utils.address import is_hex_address, to_checksum_address

from xborder.errors import ValidationError

VANITY = 32
SEAL = 65
#: Votes are checkpointed (and pending votes reset) every `epoch` blocks (geth's default).
DEFAULT_EPOCH = 30_000
#: geth's initial base fee (params.InitialBaseFee), used when gas is not free.
INITIAL_BASE_FEE = 1_000_000_000
MIN_GAS_LIMIT = 5_000
MAX_GAS_LIMIT = 2**63 - 1

_FORKS_AT_ZERO = ("homesteadBlock", "eip150Block", "eip155Block", "eip158Block", "byzantiumBlock",
                  "constantinopleBlock", "petersburgBlock", "istanbulBlock", "muirGlacierBlock",
                  "berlinBlock", "londonBlock", "arrowGlacierBlock", "grayGlacierBlock")


def _address_bytes(address: str, field: str) -> bytes:
    if not is_hex_address(address):
        raise ValidationError(f"{field}: {address!r} is not an address", field=field, value=address,
                              allowed="0x followed by 40 hex digits")
    return bytes.fromhex(address[2:])


def clique_extra_data(signers: Sequence[str]) -> bytes:
    """Vanity (32 zero bytes) || sorted signer addresses || 65 zero bytes."""
    if not signers:
        raise ValidationError("a clique network needs at least one signer", field="validators",
                              value=[], allowed="one or more sealer addresses")
    raw = sorted({_address_bytes(s, "signer") for s in signers})
    if len(raw) != len(signers):
        raise ValidationError(f"the signer list names an address twice: {list(signers)}", field="validators",
                              value=list(signers), allowed="distinct addresses")
    return bytes(VANITY) + b"".join(raw) + bytes(SEAL)


def clique_signers(extra_data: bytes) -> list[str]:
    """The signer list of a clique genesis / checkpoint `extraData` (the inverse of the above)."""
    body = extra_data[VANITY:len(extra_data) - SEAL]
    if len(extra_data) < VANITY + SEAL or len(body) % 20:
        raise ValidationError(f"extraData of {len(extra_data)} bytes is not vanity + 20-byte signers + seal",
                              field="extraData", value="0x" + extra_data.hex())
    return [to_checksum_address(body[i:i + 20]) for i in range(0, len(body), 20)]


def check_parameters(*, chain_id: int, period: int, gas_limit: int) -> None:
    if not 0 < chain_id < 2**63:
        raise ValidationError(f"--chain-id: {chain_id} is out of range", field="--chain-id", value=chain_id,
                              allowed="1 to 2^63-1 (pick one no public chain uses)")
    if chain_id in (1, 5, 11155111, 17000, 31337, 1337):
        raise ValidationError(f"--chain-id: {chain_id} belongs to a public network or a dev node", field="--chain-id",
                              value=chain_id, allowed="a chain id of your own, e.g. 20190")
    if not 1 <= period <= 3600:
        raise ValidationError(f"--period: {period} s is not allowed", field="--period", value=period,
                              allowed="1 to 3600 seconds between blocks (clique period 0 seals only on demand, "
                                      "which several sealers cannot share)")
    if not MIN_GAS_LIMIT <= gas_limit <= MAX_GAS_LIMIT:
        raise ValidationError(f"--gas-limit: {gas_limit} is out of range", field="--gas-limit", value=gas_limit,
                              allowed=f"{MIN_GAS_LIMIT:,} to 2^63-1 gas per block")


def clique_genesis(*, chain_id: int, signers: Sequence[str], period: int, gas_limit: int, free_gas: bool,
                   alloc: Mapping[str, int], epoch: int = DEFAULT_EPOCH, timestamp: int | None = None) -> dict[str, Any]:
    """A geth genesis (JSON-ready dict) for a clique network.

    `free_gas`: base fee 0 at genesis (the sealers also accept tip 0), as Besu free-gas networks
    run. geth has no switch to pin the base fee at 0: EIP-1559 raises it by at least 1 wei after a
    block more than half full, so a free-gas geth network keeps blocks under half its gas limit or
    its wallets hold a little ETH (docs/operations.md)."""
    check_parameters(chain_id=chain_id, period=period, gas_limit=gas_limit)
    allocations: dict[str, dict[str, str]] = {}
    for address, wei in alloc.items():
        if wei < 0:
            raise ValidationError(f"cannot allocate {wei} wei to {address}", field="--fund", value=wei,
                                  allowed="a non-negative amount")
        allocations[_address_bytes(address, "--fund").hex()] = {"balance": hex(wei)}
    config: dict[str, Any] = {"chainId": chain_id}
    config.update({fork: 0 for fork in _FORKS_AT_ZERO})
    config["clique"] = {"period": period, "epoch": epoch}
    return {
        "config": config,
        "nonce": "0x0",
        "timestamp": hex(int(time.time()) if timestamp is None else timestamp),
        "extraData": "0x" + clique_extra_data(signers).hex(),
        "gasLimit": hex(gas_limit),
        "difficulty": "0x1",
        "mixHash": "0x" + "00" * 32,
        "coinbase": "0x" + "00" * 20,
        "baseFeePerGas": hex(0 if free_gas else INITIAL_BASE_FEE),
        "alloc": allocations,
        "number": "0x0",
        "gasUsed": "0x0",
        "parentHash": "0x" + "00" * 32,
    }

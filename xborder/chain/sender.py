"""The one sender: nonces, the fee rule, gas limits, JSON-RPC batched submission and pipelining.

The plain web3.py loop (build_transaction, sign_transaction, send_raw_transaction,
wait_for_transaction_receipt) pays one HTTP round trip per call and waits for each receipt.
`TxSender` instead

* fetches the `pending` nonce once and counts locally (resyncing when the node says
  "nonce too low"); a `SenderPool` asks many wallets' nonces in one batch,
* applies THE fee rule (`fee_rule`): EIP-1559 when the latest block has `baseFeePerGas` (max fee
  = 2 x base fee + tip, tip from `eth_maxPriorityFeePerGas` or 1 gwei), else legacy `eth_gasPrice`,
* takes the gas limit from the caller (per transaction or a sender default) and only estimates
  when neither is given (in one batch),
* signs locally (`xborder.chain.signer.sign_raw`, byte-identical to eth-account),
* submits raw transactions in JSON-RPC batches (`xborder.chain.rpc.Rpc`; web3's
  `batch_requests()` refuses `eth_sendRawTransaction`) without waiting for receipts,
* and `send_all` pipelines windows of a few blocks' gas, collecting one window's receipts
  (`xborder.chain.receipts.wait_receipts`, the one poller) while the next is in flight.

Findings that shaped it (anvil 1.7.1, this 2-core machine): automine stalls with thousands of
pending transactions, so bulk loads use interval mining (0.2 s blocks); a 30M-gas block holds
~200 loan calls, so the bench and the demo raise the block gas limit; the base fee rises 12.5 %
per full block, so a deep pool outruns a 2 x base-fee cap: `send_all` recomputes fees per window.

Errors from the node become xborder errors through `xborder.chain.rpc.NODE_ERRORS`:
InsufficientFunds (which wallet, its balance, what was needed), NonceConflict (resynced and
retried), TransactionRejected (with `revert_data` for the bindings to decode custom errors),
ChainError when the node cannot be reached.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from xborder.chain.receipts import Receipt, ReceiptProgress, reverted, wait_receipts
from xborder.chain.receipts import check_receipts as check_receipts
from xborder.chain.rpc import AlreadyKnown, Rpc, classify, error_message, mined_anyway, revert_data
from xborder.chain.rpc import rpc as rpc
from xborder.chain.rpc import rpc_batch as rpc_batch
from xborder.chain.signer import Call, Fees, SignedTx, TxLike, as_call, sign_raw
from xborder.errors import InsufficientFunds, NonceConflict, TransactionRejected, XborderError

log = logging.getLogger(__name__)

GWEI = 10**9
DEFAULT_TIP = 1 * GWEI
DEFAULT_BATCH = 250
FEE_MULTIPLIER = 2


def fee_rule(latest_block: dict[str, Any], tip: int, gas_price: int | None = None) -> Fees:
    """THE fee rule: EIP-1559 max fee = 2 x base fee + tip when the block has a base fee; else the
    node's legacy gas price."""
    base = latest_block.get("baseFeePerGas")
    if base is not None:
        return Fees(max_fee=FEE_MULTIPLIER * int(base, 16) + tip, tip=tip)
    return Fees(gas_price=gas_price or 0)


@dataclass
class TxSender:
    """Sends transactions from one wallet. Not thread-safe: one sender per wallet per thread."""

    w3: Web3
    account: LocalAccount
    #: Wallet name for messages ("wallet 'bank-1' (0xabc...)").
    name: str | None = None
    #: Gas limit for calls that give none; None means estimate (slow: one round trip).
    default_gas: int | None = None
    #: Priority fee; None asks the node (`eth_maxPriorityFeePerGas`) once, 1 gwei if it cannot say.
    tip: int | None = None
    #: Raw transactions per JSON-RPC batch.
    batch_size: int = DEFAULT_BATCH
    #: Multiplier applied to `eth_estimateGas` results (in percent).
    gas_margin_percent: int = 120
    _nonce: int | None = field(default=None, init=False, repr=False)
    _chain_id: int | None = field(default=None, init=False, repr=False)
    _fees: Fees | None = field(default=None, init=False, repr=False)
    _fees_at: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        self.address = self.account.address
        self._key = bytes(self.account.key)
        self.rpc = Rpc(self.w3, batch_size=self.batch_size)

    # -- chain facts ---------------------------------------------------------------------
    @property
    def label(self) -> str:
        return f"wallet {self.name!r} ({self.address})" if self.name else f"wallet {self.address}"

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = self.rpc.chain_id()
        return self._chain_id

    def fees(self, *, refresh: bool = False, max_age: float = 2.0) -> Fees:
        """The node's fees under `fee_rule`, cached for `max_age` seconds."""
        if self._fees is not None and not refresh and time.monotonic() - self._fees_at < max_age:
            return self._fees
        block = self.rpc.latest_block()
        if block.get("baseFeePerGas") is not None and self.tip is None:
            answer = self.rpc.try_call("eth_maxPriorityFeePerGas")
            self.tip = int(answer, 16) if isinstance(answer, str) else DEFAULT_TIP
        legacy = None if block.get("baseFeePerGas") is not None else int(self.rpc.call("eth_gasPrice"), 16)
        fees = fee_rule(block, DEFAULT_TIP if self.tip is None else self.tip, legacy)  # a tip of 0 is a tip
        self._fees, self._fees_at = fees, time.monotonic()
        return fees

    def resync_nonce(self) -> int:
        """Forget the local nonce and ask the node (`pending`)."""
        self._nonce = int(self.rpc.call("eth_getTransactionCount", [self.address, "pending"]), 16)
        log.debug("%s: nonce resynced to %d", self.label, self._nonce)
        return self._nonce

    @property
    def nonce(self) -> int:
        """The nonce the next transaction will use."""
        return self._nonce if self._nonce is not None else self.resync_nonce()

    def balance(self) -> int:
        return int(self.rpc.call("eth_getBalance", [self.address, "latest"]), 16)

    # -- building ------------------------------------------------------------------------
    def _gas_limits(self, calls: Sequence[Call]) -> list[int]:
        missing = [i for i, c in enumerate(calls) if c.gas is None and self.default_gas is None]
        limits = [c.gas or self.default_gas or 0 for c in calls]
        if not missing:
            return limits
        requests = [("eth_estimateGas", [self.call_json(calls[i])]) for i in missing]
        for i, response in zip(missing, self.rpc.batch(requests), strict=True):
            if "error" in response:
                raise self.map_error(response["error"], calls[i], gas=0, fees=None, nonce=None)
            limits[i] = int(response["result"], 16) * self.gas_margin_percent // 100
        return limits

    def call_json(self, call: Call) -> dict[str, Any]:
        tx: dict[str, Any] = {"from": self.address, "value": hex(call.value), "data": "0x" + call.data.hex()}
        if call.to:
            tx["to"] = call.to
        return tx

    def sign(self, txs: Iterable[TxLike], *, fees: Fees | None = None) -> list[SignedTx]:
        """Assign nonces, fees and gas, and sign (advances the local nonce)."""
        calls = [as_call(tx) for tx in txs]
        if not calls:
            return []
        fees = fees or self.fees()
        limits = self._gas_limits(calls)
        chain_id, nonce = self.chain_id, self.nonce
        signed = []
        for call, gas in zip(calls, limits, strict=True):
            raw, digest = sign_raw(self._key, chain_id, nonce, call, gas, fees)
            signed.append(SignedTx("0x" + digest.hex(), raw, self.address, nonce, call, gas, fees))
            nonce += 1
        self._nonce = nonce
        return signed

    # -- sending -------------------------------------------------------------------------
    def send(self, tx: TxLike) -> str:
        """Sign and submit one transaction; returns its hash without waiting."""
        return self.send_many([tx])[0]

    def send_many(self, txs: Iterable[TxLike]) -> list[str]:
        """Sign all and submit them in JSON-RPC batches; returns hashes (no receipts awaited)."""
        return send_interleaved([(self, list(txs))], batch_size=self.batch_size)[0]

    def transact(self, tx: TxLike, timeout: float = 60.0) -> Receipt:
        """Send one transaction, wait for it, raise TransactionRejected if it reverted."""
        tx_hash = self.send(tx)
        receipt = wait_receipts(self.w3, [tx_hash], timeout=timeout)[0]
        if receipt.status != 1:
            raise reverted(self.w3, receipt, self.label)
        return receipt

    def map_error(self, error: object, call: Call, *, gas: int, fees: Fees | None,
                  nonce: int | None) -> XborderError:
        """The node's refusal of one of this wallet's transactions, said with the wallet's facts."""
        kind, message = classify(error), error_message(error)
        what = f"transaction {'nonce ' + str(nonce) + ' ' if nonce is not None else ''}from {self.label}"
        if issubclass(kind, InsufficientFunds):
            try:
                balance: int | str = self.balance()
            except XborderError:
                balance = "unknown"
            cap = (fees or self._fees or Fees()).cap
            needed = gas * cap + call.value
            shown = f"{balance} wei ({balance / 10**18:.6f} ETH)" if isinstance(balance, int) else balance
            return InsufficientFunds(
                f"{self.label} cannot pay for {what}: balance {shown}, needs up to {needed} wei "
                f"(gas {gas} x max fee {cap} wei + value {call.value} wei): fund the wallet with "
                f"ETH on this chain (node said: {message})")
        if issubclass(kind, NonceConflict):
            return NonceConflict(
                f"the node refused the nonce of {what}: {message}. Another program may be sending "
                "from this wallet; xborder resyncs and retries, so if this persists stop the other sender")
        if issubclass(kind, TransactionRejected):
            return kind(f"the node rejected {what}: {message}", revert_data=revert_data(error))
        return kind(f"the node rejected {what}: {message}")


@dataclass
class SenderPool:
    """One TxSender per wallet for a whole run: every batch of the run reuses them, and the
    wallets' nonces (and the chain id) are asked once, in JSON-RPC batches."""

    w3: Web3
    batch_size: int = DEFAULT_BATCH
    #: At most about this many transactions per `send_all` window of the run's batches (None: the
    #: windows hold `window_blocks` blocks' gas, however many transactions that is).
    window_txs: int | None = None
    #: Called once each `send_all` window of the run's batches is submitted (a `PoolMiner.mine_now`).
    after_window: Callable[[], None] | None = None
    _senders: dict[str, TxSender] = field(default_factory=dict, repr=False)
    _chain_id: int | None = field(default=None, repr=False)

    def get(self, account: LocalAccount) -> TxSender:
        sender = self._senders.get(account.address)
        if sender is None:
            sender = self._senders[account.address] = TxSender(self.w3, account, batch_size=self.batch_size)
            if self._chain_id is None:
                self._chain_id = Rpc(self.w3).chain_id()
            sender._chain_id = self._chain_id
        return sender

    def prepare(self, accounts: Iterable[LocalAccount]) -> None:
        """Create the senders of `accounts` and learn their pending nonces in one batch."""
        fresh = [self.get(a) for a in accounts]
        unknown = list({s.address: s for s in fresh if s._nonce is None}.values())
        answers = Rpc(self.w3).batch([("eth_getTransactionCount", [s.address, "pending"]) for s in unknown],
                                     self.batch_size)
        for sender, answer in zip(unknown, answers, strict=True):
            if "result" in answer:
                sender._nonce = int(str(answer["result"]), 16)


def _interleave(groups: Sequence[Sequence[SignedTx]]) -> list[SignedTx]:
    out: list[SignedTx] = []
    longest = max((len(g) for g in groups), default=0)
    for i in range(longest):
        out.extend(g[i] for g in groups if i < len(g))
    return out


Job = tuple[TxSender, Sequence[TxLike]]


def send_interleaved(jobs: Sequence[Job], *, batch_size: int = DEFAULT_BATCH, retries: int = 2) -> list[list[str]]:
    """Send many wallets' transactions in shared JSON-RPC batches, round-robin between wallets
    (each wallet's nonces stay in order). Returns each job's hashes, in its input order.

    A transaction refused for its nonce (someone else sent from the wallet) is re-signed with a
    fresh nonce and resent, up to `retries` times; "already known" (a resend of the same bytes after
    a lost reply) counts as sent; any other refusal raises the mapped error after the rest of the
    batch has been submitted."""
    if not jobs:
        return []
    w3 = jobs[0][0].w3
    node = Rpc(w3, batch_size=batch_size)
    fees = jobs[0][0].fees(refresh=True)
    groups = [sender.sign(txs, fees=fees if sender.w3 is w3 else None) for sender, txs in jobs]
    hashes: list[list[str]] = [[s.hash for s in g] for g in groups]
    position = {(s.sender, s.nonce): (j, k) for j, g in enumerate(groups) for k, s in enumerate(g)}
    pending = _interleave(groups)
    for attempt in range(retries + 1):
        responses = node.batch([("eth_sendRawTransaction", ["0x" + s.raw.hex()]) for s in pending])
        refused: dict[int, list[SignedTx]] = {}
        first_error: XborderError | None = None
        for signed, response in zip(pending, responses, strict=True):
            error = response.get("error")
            if error is None or mined_anyway(error, signed.hash) or classify(error) is AlreadyKnown:
                continue
            j, _ = position[(signed.sender, signed.nonce)]
            if classify(error) is NonceConflict and attempt < retries:
                refused.setdefault(j, []).append(signed)
            elif first_error is None:
                first_error = jobs[j][0].map_error(error, signed.call, gas=signed.gas, fees=signed.fees,
                                                   nonce=signed.nonce)
        if first_error is not None:
            for j in {position[(s.sender, s.nonce)][0] for s in pending}:
                jobs[j][0]._nonce = None  # a refused nonce leaves a gap: ask the node next time
            raise first_error
        refused = _not_known(node, refused)
        if not refused:
            break
        pending = _resign(jobs, refused, position, hashes)
    log.debug("submitted %d transactions from %d wallets", sum(map(len, groups)), len(jobs))
    return hashes


def _not_known(node: Rpc, refused: dict[int, list[SignedTx]]) -> dict[int, list[SignedTx]]:
    """The nonce-refused transactions the node does not know by their hash. A resend of a batch
    whose first reply was lost (the transport retry) is refused "nonce too low" for what already
    landed: those were sent, and re-signing them would do the same action twice."""
    flat = [s for group in refused.values() for s in group]
    answers = node.batch([("eth_getTransactionByHash", [s.hash]) for s in flat])
    known = {s.hash for s, a in zip(flat, answers, strict=True) if a.get("result")}
    left = {j: [s for s in group if s.hash not in known] for j, group in refused.items()}
    return {j: group for j, group in left.items() if group}


def _resign(jobs: Sequence[Job], refused: dict[int, list[SignedTx]],
            position: dict[tuple[str, int], tuple[int, int]], hashes: list[list[str]]) -> list[SignedTx]:
    """Re-sign nonce-refused transactions with the node's current nonces (hashes updated in place)."""
    resent: list[list[SignedTx]] = []
    for j, failed in refused.items():
        sender = jobs[j][0]
        log.info("%s: %d transactions refused for their nonce; resyncing and resending", sender.label, len(failed))
        sender.resync_nonce()
        again = sender.sign([s.call for s in failed], fees=failed[0].fees)
        for old, new in zip(failed, again, strict=True):
            jj, k = position.pop((old.sender, old.nonce))
            position[(new.sender, new.nonce)] = (jj, k)
            hashes[jj][k] = new.hash
        resent.append(again)
    return _interleave(resent)


def send_all(jobs: Sequence[Job], *, window_blocks: float = 4.0, timeout: float = 120.0,
             nudge_after: float | None = 1.0, batch_size: int = DEFAULT_BATCH,
             progress: ReceiptProgress | None = None, window_txs: int | None = None,
             after_window: Callable[[], None] | None = None) -> list[list[Receipt]]:
    """Send everything and return every receipt (per job, in input order), in pipelined windows.

    Each window holds about `window_blocks` blocks' worth of gas (from the latest block's gas
    limit), and at most about `window_txs` transactions when given; window k+1 is submitted before
    the receipts of window k are awaited, so at most two windows are in flight; `after_window` is
    called as each window is submitted. This keeps the fee cap (recomputed per window) above the base fee and
    keeps anvil's pool small (`nudge_after` seconds without a new receipt sends one `evm_mine`,
    ignored by nodes that refuse it). Does not check statuses: see `check_receipts`."""
    if not jobs:
        return []
    w3 = jobs[0][0].w3
    block = Rpc(w3).latest_block()
    gas_per_window = int(int(block.get("gasLimit", hex(30_000_000)), 16) * window_blocks)
    calls = [[as_call(tx) for tx in txs] for _, txs in jobs]
    default_gas = [sender.default_gas or 0 for sender, _ in jobs]
    total_gas = sum(sum(c.gas or default_gas[j] or 100_000 for c in cs) for j, cs in enumerate(calls))
    windows = max(1, -(-total_gas // max(gas_per_window, 1)))
    if window_txs:
        windows = max(windows, -(-sum(map(len, calls)) // window_txs))
    receipts: list[list[Receipt]] = [[] for _ in jobs]
    total = sum(map(len, calls))
    done = 0

    def collect(owners: list[int], hashes: list[list[str]], sent_after: int) -> None:
        nonlocal done
        flat = wait_receipts(w3, [h for group in hashes for h in group], timeout=timeout, nudge_after=nudge_after,
                             progress=(lambda n, _t: progress(done + n, total)) if progress else None,
                             sent_after=sent_after)
        done += len(flat)
        it = iter(flat)
        for j, group in zip(owners, hashes, strict=True):
            receipts[j].extend(next(it) for _ in group)

    in_flight: tuple[list[int], list[list[str]], int] | None = None
    node = Rpc(w3)
    for bounds in _windows([len(cs) for cs in calls], windows):
        part = [(jobs[j][0], calls[j][start:end]) for j, (start, end) in bounds]
        head = node.block_number()
        sent = _send_by_priority(part, batch_size)
        if after_window is not None:
            after_window()
        if in_flight is not None:
            collect(*in_flight)
        in_flight = [j for j, _ in bounds], sent, head
    if in_flight is not None:
        collect(*in_flight)
    return receipts


def _windows(sizes: Sequence[int], windows: int) -> list[list[tuple[int, tuple[int, int]]]]:
    """Cut jobs of `sizes` transactions into `windows` windows of (almost) equal size, taking the
    jobs' transactions round-robin (each job's nonces stay in order, its share of a window is a
    contiguous slice): per window, (job index, (start, end)) of every job with a share in it.

    Each job's own list cut into `windows` parts put every transaction of a batch of single-transaction
    wallets (the encryption keys: 13,022 wallets, one transaction each) into the first window."""
    total = sum(sizes)
    per_window = max(1, -(-total // max(windows, 1)))
    # round r holds the r-th transaction of every job longer than r; after round r, job j has
    # sent min(size_j, r + 1): walk the rounds, closing a window each time it is full.
    out: list[list[tuple[int, tuple[int, int]]]] = []
    taken = [0] * len(sizes)
    window: dict[int, int] = {}  # job -> its start in the open window
    room = per_window
    active = [j for j, size in enumerate(sizes) if size]
    r = 0
    while active:
        for j in active:
            window.setdefault(j, taken[j])
            taken[j] += 1
            room -= 1
            if room == 0:
                out.append([(jj, (start, taken[jj])) for jj, start in sorted(window.items())])
                window, room = {}, per_window
        r += 1
        active = [j for j in active if sizes[j] > r]
    if window:
        out.append([(jj, (start, taken[jj])) for jj, start in sorted(window.items())])
    return out


def _send_by_priority(jobs: Sequence[tuple[TxSender, list[Call]]], batch_size: int) -> list[list[str]]:
    """`send_interleaved` per priority level, lowest first, each level with a tip 1 wei above the
    next one's, so the node orders them even inside one block. Hashes come back in input order."""
    levels = sorted({c.priority for _, cs in jobs for c in cs})
    if len(levels) <= 1:
        return send_interleaved(jobs, batch_size=batch_size)
    hashes: list[list[str]] = [[""] * len(cs) for _, cs in jobs]
    base = {id(sender): sender.tip for sender, _ in jobs}
    start: dict[int, int] = {}  # each sender's tip before any bump (its own, or the node's)
    node_tips: dict[int, int] = {}  # per node (w3): its tip, asked of one sender (a block read per wallet
    # was most of a 500-wallet batch's submission)
    try:
        for rank, level in enumerate(levels):
            part = [(j, sender, [k for k, c in enumerate(cs) if c.priority == level])
                    for j, (sender, cs) in enumerate(jobs)]
            part = [p for p in part if p[2]]
            for _, sender, _ks in part:
                if id(sender) not in start:
                    if sender.tip is None and id(sender.w3) not in node_tips:
                        sender.fees()  # learn the node's tip once per node
                        node_tips[id(sender.w3)] = DEFAULT_TIP if sender.tip is None else sender.tip
                    start[id(sender)] = sender.tip if sender.tip is not None else node_tips[id(sender.w3)]
                sender.tip = start[id(sender)] + (len(levels) - 1 - rank)
            sent = send_interleaved([(sender, [jobs[j][1][k] for k in ks]) for j, sender, ks in part],
                                    batch_size=batch_size)
            for (j, _, ks), group in zip(part, sent, strict=True):
                for k, tx_hash in zip(ks, group, strict=True):
                    hashes[j][k] = tx_hash
    finally:
        for sender, _ in jobs:
            sender.tip = base[id(sender)]
    return hashes

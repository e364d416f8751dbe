"""The rows the projection writes, and the state of those one batch of events touches.

`HISTORY_TABLES` hold a row per event, with the state after it (what `rollback` restores the
current-state tables from); `HISTORY_COLUMNS` names each one's columns. `Batch` is loaded once per batch of events
by `XborderProjection`, changed by the event handlers (`xborder.index.institution_projection` and
the loan handlers in `xborder.index.projection`) and written once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from xborder.index.decode import DecodedEvent
from xborder.index.loan_state import FACT_COLUMNS, LOAN_STATE
from xborder.index.summaries import SummaryDelta

HISTORY_TABLES = ("institution_events", "wallet_events", "parameter_changes", "reference_rate_changes",
                  "financing_type_changes", "loan_events", "loan_terms", "drawdown_freezes", "agent_events",
                  "consent_nonce_invalidations")
INSTITUTION_STATE = ("status", "capital_base", "admin", "signature_epoch")
INSTITUTION_COLUMNS = ("institution_id", "kind", "identifier", "jurisdiction", "name", *INSTITUTION_STATE,
                        "registered_block", "registered_at", "updated_block")

def meta(ev: DecodedEvent, times: dict[int, int]) -> tuple[int, int, int, str, int]:
    """The columns every history row starts with: block, log index, tx index, tx hash, block time."""
    return ev.block_number, ev.log_index, ev.tx_index, ev.tx_hash, times[ev.block_number]


@dataclass
class Batch:
    """The state of the rows one batch touches, loaded once and written once."""

    loans: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: each touched loan's state before the batch (None: recorded in this batch)
    before: dict[int, dict[str, Any] | None] = field(default_factory=dict)
    new_loans: set[int] = field(default_factory=set)
    institutions: dict[int, dict[str, Any]] = field(default_factory=dict)
    new_institutions: set[int] = field(default_factory=set)
    countries: dict[int, str] = field(default_factory=dict)
    wallets: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=lambda: {t: [] for t in HISTORY_TABLES})
    positions: dict[int, dict[str, Any]] = field(default_factory=dict)
    params: dict[str, int] = field(default_factory=dict)
    limits_changed: bool = False
    delta: SummaryDelta = field(default_factory=SummaryDelta)


#: The columns of each history table's rows (`Database.insert_rows`).
HISTORY_COLUMNS: dict[str, tuple[str, ...]] = {
    "institution_events": ("block_number", "log_index", "tx_index", "tx_hash", "block_time", "institution_id",
                           "event", "status", "capital_base", "admin", "signature_epoch", "old_value", "by_wallet"),
    "wallet_events": ("block_number", "log_index", "tx_index", "tx_hash", "block_time", "wallet", "institution_id",
                      "event", "by_wallet"),
    "parameter_changes": ("block_number", "log_index", "tx_index", "tx_hash", "block_time", "parameter", "name",
                          "old_value", "new_value"),
    "reference_rate_changes": ("block_number", "log_index", "tx_index", "tx_hash", "block_time", "currency",
                               "old_rate", "new_rate", "updated_at"),
    "financing_type_changes": ("block_number", "log_index", "tx_index", "tx_hash", "block_time", "type_id", "name",
                               "old_weight_bps", "weight_bps", "old_off_balance", "off_balance", "removed"),
    "loan_events": ("block_number", "log_index", "tx_index", "tx_hash", "block_time", "loan_id", "borrower", "event",
                    *FACT_COLUMNS, *LOAN_STATE, "borrower_balance"),
    "loan_terms": ("block_number", "log_index", "tx_hash", "loan_id", "source", "shared_by", "encrypted", "readable",
                   "commitment_ok", "key_institution", "key_version", "terms_json", "interest_rate", "error"),
    "drawdown_freezes": ("block_number", "log_index", "tx_index", "tx_hash", "block_time", "institution_id", "frozen",
                         "reason", "by_wallet"),
    "agent_events": ("block_number", "log_index", "tx_index", "tx_hash", "block_time", "principal", "agent", "event",
                     "wallet"),
    "consent_nonce_invalidations": ("block_number", "log_index", "tx_index", "tx_hash", "block_time", "borrower",
                                    "word_pos", "mask", "wallet"),
}

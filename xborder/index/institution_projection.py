"""How the events that are not about one loan become rows: institutions and their wallets
(InstitutionRegistry), parameters, reference rates and financing types (MacroPrudentialPolicy), and
the ledger's drawdown freezes, agent appointments and consent-nonce invalidations. Each handler
changes the `Batch` of `xborder.index.projection_rows`; `HANDLERS` says which one projects an event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from xborder.domain.enums import InstitutionStatus
from xborder.index.decode import DecodedEvent
from xborder.index.loan_state import ascii_code
from xborder.index.policy import BORROWING_KINDS, LIMIT_PARAMETERS, parameter_name
from xborder.index.projection_rows import INSTITUTION_STATE, Batch, meta
from xborder.index.summaries import new_position

log = logging.getLogger(__name__)

INSTITUTION_ACTIVE = int(InstitutionStatus.ACTIVE)
INSTITUTION_EVENTS = frozenset({"InstitutionRegistered", "InstitutionStatusChanged",
                                 "CapitalBaseUpdated", "AdminWalletChanged", "SignatureEpochChanged"})
FREEZE_EVENTS = {"DrawdownsFrozen": 1, "DrawdownsUnfrozen": 0}
Handler = Callable[[Batch, DecodedEvent, dict[int, int]], None]


def _institution(batch: Batch, ev: DecodedEvent, times: dict[int, int]) -> None:
    a = ev.args
    iid = int(a["institutionId"])
    if ev.event == "InstitutionRegistered":
        _registered(batch, ev, times)
        return
    state = batch.institutions.get(iid)
    if state is None:
        log.error("%s for institution %d that was never registered (block %d): skipped",
                  ev.event, iid, ev.block_number)
        return
    old: object
    by: str | None = None
    if ev.event == "InstitutionStatusChanged":
        old, state["status"], by = a["oldStatus"], a["newStatus"], a["by"]
    elif ev.event == "CapitalBaseUpdated":
        old, state["capital_base"] = a["oldCapitalBase"], a["newCapitalBase"]
    elif ev.event == "SignatureEpochChanged":
        old, state["signature_epoch"], by = state["signature_epoch"], a["epoch"], a["by"]
    else:  # AdminWalletChanged
        old, state["admin"] = a["oldAdmin"], a["newAdmin"]
    position = batch.positions.get(iid)
    if position is not None:
        position["status"], position["capital_base"] = state["status"], state["capital_base"]
    _institution_row(batch, ev, times, state, str(old), by)


def _registered(batch: Batch, ev: DecodedEvent, times: dict[int, int]) -> None:
    a = ev.args
    iid = int(a["institutionId"])
    state = {"institution_id": iid, "kind": a["kind"], "identifier": ascii_code(a["identifier"]),
             "jurisdiction": ascii_code(a["jurisdiction"]), "name": a["name"],
             "status": INSTITUTION_ACTIVE, "capital_base": a["capitalBase"], "admin": a["admin"],
             "signature_epoch": 0, "registered_block": ev.block_number, "registered_at": times[ev.block_number]}
    batch.institutions[iid] = state
    batch.new_institutions.add(iid)
    batch.countries[iid] = state["jurisdiction"]
    if int(a["kind"]) in BORROWING_KINDS:
        batch.positions[iid] = new_position(iid, int(a["kind"]), INSTITUTION_ACTIVE, int(a["capitalBase"]))
    _institution_row(batch, ev, times, state, None, None)


def _institution_row(batch: Batch, ev: DecodedEvent, times: dict[int, int], state: dict[str, Any],
                     old: str | None, by: str | None) -> None:
    state["updated_block"] = ev.block_number
    batch.rows["institution_events"].append(
        (*meta(ev, times), state["institution_id"], ev.event, *(state[c] for c in INSTITUTION_STATE), old, by))


def _wallet(batch: Batch, ev: DecodedEvent, times: dict[int, int]) -> None:
    a = ev.args
    wallet, iid = a["wallet"], int(a["institutionId"])
    batch.wallets[wallet] = (iid, 1 if ev.event == "WalletAdded" else 0, ev.block_number)
    batch.rows["wallet_events"].append((*meta(ev, times), wallet, iid, ev.event, a["by"]))


def _policy(batch: Batch, ev: DecodedEvent, times: dict[int, int]) -> None:
    a = ev.args
    head = meta(ev, times)
    if ev.event == "ParameterUpdated":
        p = int(a["parameter"])
        name = parameter_name(p)
        batch.rows["parameter_changes"].append((*head, p, name, a["oldValue"], a["newValue"]))
        batch.params[name] = int(a["newValue"])
        batch.limits_changed |= name in LIMIT_PARAMETERS
    elif ev.event == "ReferenceRateUpdated":
        batch.rows["reference_rate_changes"].append(
            (*head, ascii_code(a["currency"]), a["oldRate"], a["newRate"], a["updatedAt"]))
    elif ev.event == "FinancingTypeSet":
        batch.rows["financing_type_changes"].append(
            (*head, a["typeId"], a["name"], a["oldWeightBps"], a["newWeightBps"],
             int(a["oldOffBalance"]), int(a["newOffBalance"]), 0))
    else:  # FinancingTypeRemoved
        batch.rows["financing_type_changes"].append(
            (*head, a["typeId"], None, a["oldWeightBps"], 0, int(a["oldOffBalance"]), 0, 1))


def _freeze(batch: Batch, ev: DecodedEvent, times: dict[int, int]) -> None:
    """DrawdownsFrozen / DrawdownsUnfrozen: the borrower's position carries the flag."""
    a = ev.args
    iid, frozen = int(a["institution"]), FREEZE_EVENTS[ev.event]
    batch.rows["drawdown_freezes"].append((*meta(ev, times), iid, frozen, int(a["reason"]), a["by"]))
    position = batch.positions.get(iid)
    if position is not None:
        position["frozen"] = frozen


def _agent(batch: Batch, ev: DecodedEvent, times: dict[int, int]) -> None:
    a = ev.args
    batch.rows["agent_events"].append(
        (*meta(ev, times), int(a["principal"]), int(a["agent"]), ev.event, a["wallet"]))


def _nonces(batch: Batch, ev: DecodedEvent, times: dict[int, int]) -> None:
    a = ev.args
    batch.rows["consent_nonce_invalidations"].append(
        (*meta(ev, times), int(a["borrower"]), int(a["wordPos"]), hex(int(a["mask"])), a["wallet"]))


#: The events other than the loan events and TermsShared, and the function that projects each.
HANDLERS: dict[str, Handler] = {
    "InstitutionRegistered": _institution, "InstitutionStatusChanged": _institution,
    "CapitalBaseUpdated": _institution, "AdminWalletChanged": _institution, "SignatureEpochChanged": _institution,
    "WalletAdded": _wallet, "WalletRemoved": _wallet,
    "ParameterUpdated": _policy, "ReferenceRateUpdated": _policy, "FinancingTypeSet": _policy,
    "FinancingTypeRemoved": _policy,
    "DrawdownsFrozen": _freeze, "DrawdownsUnfrozen": _freeze,
    "AgentAppointed": _agent, "AgentDismissed": _agent,
    "ConsentNoncesInvalidated": _nonces,
}

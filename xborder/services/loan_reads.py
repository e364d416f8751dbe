"""The read side of the loan service and what every loan write shares: institution and
financing-type lookups, sending one write through the engine (`LoanBase._send`), one loan, its
events (the recorded request and terms, its drawdowns at their own rates and weights, re-shared
envelopes), a borrower's exposure. `LoanService` (`xborder.services.loans`) builds on it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.abi import event_abi_to_log_topic
from faster_eth_abi import decode as abi_decode
from web3 import Web3
from web3.contract.contract import ContractFunction

from xborder.bindings.client import XborderClient, decode_logs
from xborder.domain.dates import format_date
from xborder.domain.enums import SEEDED_FINANCING_TYPES, ConsentSide, InstitutionStatus, LoanStatus
from xborder.domain.limits import headroom
from xborder.domain.loans import UINT32_MAX, Loan, LoanRecorded, loan_label
from xborder.domain.money import format_amount, format_bps, format_rate
from xborder.errors import ValidationError
from xborder.services.confidential import ReadTerms, TermsReader
from xborder.wallets.encryption import KeyRing

log = logging.getLogger(__name__)

LOAN_RECORDED_TOPIC = LoanRecorded.topic()
TERMS_SHARED_TOPIC = "0x" + Web3.keccak(text="TermsShared(uint64,uint32,uint32,bytes)").hex()
INSTITUTION_ALLOWED = "a registered institution id or identifier (LEI / USCC)"
LOAN_ALLOWED = "the id of a recorded loan (BORROWER:N)"


# ---------------------------------------------------------------------------------- results

@dataclass(frozen=True)
class LoanTx:
    """A landed ledger transaction (`loan_id` 0 and `status` "" for one that concerns no loan,
    e.g. appointing an agent)."""

    action: str
    loan_id: int
    tx_hash: str
    block_number: int
    gas_used: int
    status: str
    borrower_balance: int | None = None


@dataclass(frozen=True)
class Drawdown:
    """One `LoanDrawn`: converted at the rate and weighted with the policy of its own block."""

    block_number: int
    amount: int
    rate: int
    weight_bps: int
    contribution_added: int
    by: int


@dataclass(frozen=True)
class LoanView:
    loan_id: int
    status: str
    borrower: int
    borrower_name: str
    creditor: int
    creditor_name: str
    recorder: int
    recorder_name: str
    currency: str
    financing_type: int
    value_date: str
    maturity_date: str
    short_term: bool
    borrower_consented: bool
    creditor_consented: bool
    confirm_by: str | None
    principal: int
    drawn: int
    outstanding: int
    available: int
    contribution_cny: int
    drawdowns: list[Drawdown]
    document_hash: str | None
    terms_hash: str | None
    terms: dict[str, str] | None
    terms_verified: bool | None
    #: "plaintext", "encrypted" (sealed for the parties and the regulator) or None (no event found)
    terms_form: str | None = None
    #: False when the terms are encrypted and none of the given keys is a recipient
    terms_readable: bool | None = None
    terms_error: str = ""

    def human(self) -> dict[str, str]:
        c = self.currency
        consents = [side.label for side, given in ((ConsentSide.BORROWER, self.borrower_consented),
                                                    (ConsentSide.CREDITOR, self.creditor_consented)) if given]
        rows = {
            "loan": loan_label(self.loan_id), "status": f"{self.status} ({LoanStatus.by_name(self.status).label})",
            "borrower": self.borrower_name, "creditor": self.creditor_name, "recorder": self.recorder_name,
            "consents": ", ".join(consents) or "none",
            "financing type": str(self.financing_type),
            "term": f"{self.value_date} -> {self.maturity_date} ({'short' if self.short_term else 'long'}-term)",
            "principal": format_amount(self.principal, c), "drawn": format_amount(self.drawn, c),
            "outstanding": format_amount(self.outstanding, c), "undrawn": format_amount(self.available, c),
            "contribution": format_amount(self.contribution_cny, "CNY"),
        }
        if self.confirm_by:
            rows["confirm by"] = self.confirm_by
        for n, d in enumerate(self.drawdowns, start=1):
            rows[f"drawdown {n}"] = (f"{format_amount(d.amount, c)} at {format_rate(d.rate)} CNY per {c}, weight "
                                     f"{format_bps(d.weight_bps)}: +{format_amount(d.contribution_added, 'CNY')} "
                                     f"(block {d.block_number})")
        return rows | {"document hash": self.document_hash or "?", "terms hash": self.terms_hash or "?",
                       "terms": self._terms_text()}

    def _terms_text(self) -> str:
        if self.terms_readable is False:
            return "encrypted: not readable with your keys (give --keys-wallet of a party or the regulator)"
        text = "; ".join(f"{k}={v}" for k, v in (self.terms or {}).items()) or "-"
        if self.terms_verified is False:
            text += f" (NOT AUTHENTIC: {self.terms_error or 'they do not match the terms hash'})"
        return text + (" [encrypted]" if self.terms_form == "encrypted" else "")


@dataclass(frozen=True)
class Exposure:
    borrower: int
    name: str
    balance: int
    limit: int
    headroom: int
    loan_count: int
    frozen: bool = False

    def human(self) -> str:
        used = f" ({self.balance * 100 / self.limit:.1f} % used)" if self.limit else ""
        frozen = "; drawdowns FROZEN by the regulator" if self.frozen else ""
        return (f"{self.name}: risk-weighted balance {format_amount(self.balance, 'CNY')} of limit "
                f"{format_amount(self.limit, 'CNY')}{used}; headroom {format_amount(self.headroom, 'CNY')}; "
                f"{self.loan_count} loans recorded{frozen}")


# ---------------------------------------------------------------------------------- the base

@dataclass
class LoanBase:
    """Lookups, one write through the engine, and the reads."""

    client: XborderClient
    _institution_of: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def w3(self) -> Web3:
        return self.client.w3

    @cached_property
    def ledger_address(self) -> str:
        return str(self.client.ledger.address)

    @cached_property
    def separator(self) -> bytes:
        return self.client.ledger_separator

    # -- lookups ----------------------------------------------------------------------------
    def resolve_institution(self, ref: object, field: str = "institution") -> int:
        """An institution id ('12') or identifier (LEI / USCC) -> id of a registered institution."""
        text = str(ref).strip().lstrip("#")
        if text.isdigit():
            institution_id = int(text)
            if 0 < institution_id <= UINT32_MAX and self.client.core(institution_id).status != InstitutionStatus.NONE:
                return institution_id
            raise ValidationError(f"{field}: no institution with id {text} is registered", field=field,
                                  value=text, allowed=INSTITUTION_ALLOWED)
        ident = text.upper()
        if 18 <= len(ident) <= 20 and ident.isalnum():
            found = int(self.client.registry.functions.institutionByIdentifier(
                ident.encode("ascii").ljust(20, b"\0")).call())
            if found:
                return found
        raise ValidationError(f"{field}: {text!r} is not a registered institution", field=field, value=text,
                              allowed=INSTITUTION_ALLOWED)

    def institution_of(self, account: LocalAccount | str) -> int:
        """The institution a wallet acts for (0 if none), cached per service."""
        address = account if isinstance(account, str) else account.address
        if address not in self._institution_of:
            self._institution_of[address] = self.client.institution_of(address)
        return self._institution_of[address]

    def financing_types(self) -> dict[str, int]:
        """Financing-type names -> ids: the seeded table plus the regulator's FinancingTypeSet events."""
        names = dict(SEEDED_FINANCING_TYPES)
        try:
            for entry in self.client.policy.events.FinancingTypeSet.get_logs(
                    from_block=self.client.deployment.start_block):
                names[str(entry["args"]["name"]).upper()] = int(entry["args"]["typeId"])
        except Exception as exc:  # names are a convenience: ids always work
            log.debug("could not read FinancingTypeSet events: %s", exc)
        return names

    def resolve_financing_type(self, ref: object, names: dict[str, int] | None = None,
                               field: str = "financing_type") -> int:
        text = str(ref).strip()
        if text.isdigit() and 0 < int(text) <= 255:
            return int(text)
        table = names if names is not None else self.financing_types()
        found = table.get(text.upper().replace(" ", "_").replace("-", "_"))
        if found is None:
            raise ValidationError(f"{field}: {text!r} is not a financing type", field=field, value=text,
                                  allowed="an id 1..255 or one of " + ", ".join(sorted(table)))
        return found

    def position(self, borrower: int) -> tuple[int, int, bool]:
        """(risk-weighted balance, loan count, drawdowns frozen)."""
        p = self.client.position(borrower)
        return p.balance, p.loan_count, p.frozen

    def chain_time(self) -> int:
        return self.client.now()

    def loan(self, loan_id: int) -> Loan:
        return Loan.from_abi(self.client.ledger.functions.getLoan(loan_id).call())

    # -- one write --------------------------------------------------------------------------
    def _send(self, account: LocalAccount, fn: ContractFunction, action: str, loan_id: int | None = None) -> LoanTx:
        outcome = self.client.transact(account, fn, action)
        found_id = loan_id
        for entry in outcome.logs:
            topics = entry.get("topics") or []
            if topics and topics[0] == LOAN_RECORDED_TOPIC:
                found_id = int(topics[1], 16)
        status, balance = "", None
        if found_id:
            loan = self.loan(found_id)
            status = LoanStatus.name_of(loan.status)
            balance = self.client.position(loan.borrower).balance
        log.info("%s: loan %s tx %s gas %s", action, found_id, outcome.tx_hash, outcome.gas_used)
        return LoanTx(action=action, loan_id=found_id or 0, tx_hash=str(outcome.tx_hash),
                      block_number=int(outcome.block_number or 0), gas_used=int(outcome.gas_used or 0),
                      status=status, borrower_balance=balance)

    # -- events -----------------------------------------------------------------------------
    def _loan_logs(self, topic: str, loan_id: int) -> list[dict[str, Any]]:
        return list(self.client.rpc.call("eth_getLogs", [{
            "address": self.ledger_address, "fromBlock": hex(self.client.deployment.start_block), "toBlock": "latest",
            "topics": [topic, "0x" + loan_id.to_bytes(32, "big").hex()]}]) or [])

    def recorded_event(self, loan_id: int) -> LoanRecorded | None:
        """The LoanRecorded event of `loan_id` (None if not found)."""
        logs = self._loan_logs(LOAN_RECORDED_TOPIC, loan_id)
        return LoanRecorded.decode(bytes.fromhex(logs[-1]["data"][2:])) if logs else None

    def shared_envelopes(self, loan_id: int) -> list[bytes]:
        """The envelopes of the loan's TermsShared events (re-shares), oldest first."""
        return [bytes(abi_decode(["bytes"], bytes.fromhex(e["data"][2:]))[0])
                for e in self._loan_logs(TERMS_SHARED_TOPIC, loan_id)]

    def drawdowns(self, loan_id: int) -> list[Drawdown]:
        """The loan's drawdowns, each with the rate and weight of its own block."""
        topic = "0x" + event_abi_to_log_topic(self.client.ledger.events.LoanDrawn().abi).hex()
        logs = self._loan_logs(topic, loan_id)
        return [Drawdown(int(raw["blockNumber"], 16), int(e["amount"]), int(e["rate"]), int(e["weightBps"]),
                         int(e["contributionAdded"]), int(e["by"]))
                for raw, e in zip(logs, decode_logs(self.client.ledger, "LoanDrawn", logs), strict=True)]

    def _event(self, loan_id: int) -> LoanRecorded:
        event = self.recorded_event(loan_id)
        if event is None:
            raise ValidationError(f"loan id: no loan {loan_label(loan_id)} on this ledger", field="loan id",
                                  value=loan_id, allowed=LOAN_ALLOWED)
        return event

    def _binding(self, event: LoanRecorded) -> dict[str, Any]:
        return {"ledger": self.ledger_address, "document_hash": event.request.document_hash,
                "terms_hash": event.request.terms_hash}

    def read_terms(self, loan_id: int, ring: KeyRing) -> tuple[LoanRecorded, ReadTerms]:
        """(LoanRecorded event, what `ring` reads): the recorded envelope, or else a re-shared one."""
        event = self._event(loan_id)
        reader = TermsReader(ring, self.client.deployment.chain_id)
        result = reader.read(event.terms, **self._binding(event))
        if not result.readable or result.tampered:
            for data in self.shared_envelopes(loan_id):
                shared = reader.read(data, **self._binding(event))
                if shared.readable and not shared.tampered:
                    return event, shared
        return event, result

    def _terms_view(self, loan_id: int, ring: KeyRing | None) -> dict[str, Any]:
        event = self.recorded_event(loan_id)
        if event is None:
            return {"document_hash": None, "terms_hash": None, "terms": None, "terms_verified": None}
        _, result = self.read_terms(loan_id, ring or KeyRing())
        terms = result.terms
        if result.readable and terms is None and not result.encrypted:
            terms = {"raw": "0x" + event.terms.hex()}
        return {"document_hash": "0x" + event.request.document_hash.hex(),
                "terms_hash": "0x" + event.request.terms_hash.hex(), "terms": terms,
                "terms_verified": result.commitment_ok, "terms_form": "encrypted" if result.encrypted else "plaintext",
                "terms_readable": result.readable, "terms_error": result.error}

    # -- views ------------------------------------------------------------------------------
    def show(self, loan_id: int, ring: KeyRing | None = None) -> LoanView:
        loan = self.loan(loan_id)
        if loan.status == LoanStatus.NONE:
            raise ValidationError(f"loan id: no loan {loan_label(loan_id)} on this ledger", field="loan id",
                                  value=loan_id, allowed=LOAN_ALLOWED)
        name = self.client.institution_name
        return LoanView(
            loan_id=loan_id, status=LoanStatus.name_of(loan.status),
            borrower=loan.borrower, borrower_name=name(loan.borrower), creditor=loan.creditor,
            creditor_name=name(loan.creditor), recorder=loan.recorder, recorder_name=name(loan.recorder),
            currency=loan.currency, financing_type=loan.financing_type, value_date=format_date(loan.value_date),
            maturity_date=format_date(loan.maturity_date), short_term=loan.short_term,
            borrower_consented=loan.borrower_consented, creditor_consented=loan.creditor_consented,
            confirm_by=format_date(loan.confirm_by) if loan.status == LoanStatus.RECORDED else None,
            principal=loan.principal, drawn=loan.drawn, outstanding=loan.outstanding, available=loan.available,
            contribution_cny=loan.counted, drawdowns=self.drawdowns(loan_id), **self._terms_view(loan_id, ring))

    def exposure(self, borrower: int) -> Exposure:
        position = self.client.position(borrower)
        limit = int(self.client.ledger.functions.borrowingLimit(borrower).call())
        return Exposure(borrower=borrower, name=self.client.institution_name(borrower), balance=position.balance,
                        limit=limit, headroom=headroom(limit, position.balance), loan_count=position.loan_count,
                        frozen=position.frozen)

    def preview_drawdown(self, loan_id: int, amount: int) -> tuple[int, int, bool]:
        """(balance after, limit, fits) of drawing `amount` now, at today's rate and weight."""
        after, limit, fits = self.client.ledger.functions.previewDrawdown(loan_id, amount).call()
        return int(after), int(limit), bool(fits)

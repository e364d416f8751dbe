"""Loan lifecycle on the LoanLedger: record, confirm, record with the borrower's consent (EIP-712),
draw, repay, extend, cancel, close, default; and the read side (one loan, a borrower's exposure).

Every write is signed by the acting institution's own wallet and sent as a batch of one through the
engine (`XborderClient.transact`): the dry run comes first, so a refusal surfaces as a decoded
sentence before anything is sent. Amounts are integers in the chain's 1/100 units; dates unix
seconds (UTC); the CLI parses human input once (`xborder.cli.params`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from eth_account.signers.local import LocalAccount
from faster_eth_abi import decode as abi_decode
from web3 import Web3
from web3.contract.contract import ContractFunction

from xborder.bindings.client import XborderClient
from xborder.bindings.consent import domain_separator, sign_consent
from xborder.domain.dates import format_date
from xborder.domain.enums import SEEDED_FINANCING_TYPES, InstitutionStatus, LoanStatus
from xborder.domain.limits import base_amount, headroom
from xborder.domain.loans import UINT32_MAX, Loan, LoanRecorded, LoanRequest, loan_label
from xborder.domain.money import format_amount, format_rate
from xborder.errors import ValidationError
from xborder.services import terms as terms_codec
from xborder.services.confidential import ReadTerms, TermsReader, TermsSealer
from xborder.wallets.encryption import KeyRing

log = logging.getLogger(__name__)

LOAN_RECORDED_TOPIC = LoanRecorded.topic()
TERMS_SHARED_TOPIC = "0x" + Web3.keccak(text="TermsShared(uint64,uint32,uint32,bytes)").hex()
INSTITUTION_ALLOWED = "a registered institution id or identifier (LEI / USCC)"
LOAN_ALLOWED = "the id of a recorded loan (BORROWER:N)"


# ---------------------------------------------------------------------------------- results

@dataclass(frozen=True)
class LoanTx:
    """A landed loan transaction."""

    action: str
    loan_id: int
    tx_hash: str
    block_number: int
    gas_used: int
    status: str
    borrower_balance: int | None = None


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
    principal: int
    drawn: int
    outstanding: int
    available: int
    rate: int
    weight_bps: int
    base_outstanding_cny: int
    contribution_cny: int
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
        return {
            "loan": loan_label(self.loan_id), "status": f"{self.status} ({LoanStatus.by_name(self.status).label})",
            "borrower": self.borrower_name, "creditor": self.creditor_name, "recorder": self.recorder_name,
            "financing type": str(self.financing_type),
            "term": f"{self.value_date} -> {self.maturity_date}",
            "principal": format_amount(self.principal, c), "drawn": format_amount(self.drawn, c),
            "outstanding": format_amount(self.outstanding, c), "undrawn": format_amount(self.available, c),
            "reference rate": f"{format_rate(self.rate)} CNY per {c}", "weight": f"{self.weight_bps / 100:.2f} %",
            "outstanding in CNY": format_amount(self.base_outstanding_cny, "CNY"),
            "contribution": format_amount(self.contribution_cny, "CNY"),
            "document hash": self.document_hash or "?", "terms hash": self.terms_hash or "?",
            "terms": self._terms_text(),
        }

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
    nonce: int

    def human(self) -> str:
        used = f" ({self.balance * 100 / self.limit:.1f} % used)" if self.limit else ""
        return (f"{self.name}: risk-weighted balance {format_amount(self.balance, 'CNY')} of limit "
                f"{format_amount(self.limit, 'CNY')}{used}; headroom {format_amount(self.headroom, 'CNY')}; "
                f"{self.loan_count} loans recorded")


# ---------------------------------------------------------------------------------- the service

@dataclass
class LoanService:
    """One institution's loan operations against a deployed ledger."""

    client: XborderClient

    @property
    def w3(self) -> Web3:
        return self.client.w3

    @cached_property
    def ledger_address(self) -> str:
        return str(self.client.ledger.address)

    @cached_property
    def separator(self) -> bytes:
        return domain_separator(self.client.deployment.chain_id, self.ledger_address)

    # -- lookups ----------------------------------------------------------------------------
    def resolve_institution(self, ref: object, field: str = "institution") -> int:
        """An institution id ('12') or identifier (LEI / USCC) -> id of a registered institution."""
        text = str(ref).strip()
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

    def position(self, borrower: int) -> tuple[int, int, int]:
        """(risk-weighted balance, loan count, consent nonce)."""
        p = self.client.position(borrower)
        return p.balance, p.loan_count, p.nonce

    def chain_time(self) -> int:
        return self.client.rpc.chain_time()

    def loan(self, loan_id: int) -> Loan:
        return Loan.from_abi(self.client.ledger.functions.getLoan(loan_id).call())

    # -- consent ----------------------------------------------------------------------------
    def sign_consent(self, borrower_account: LocalAccount, request: LoanRequest, draw_amount: int,
                     nonce: int | None = None, deadline: int | None = None,
                     valid_for: int = 3600) -> tuple[bytes, int, int]:
        """(signature, nonce, deadline): the borrower's consent for this ledger; nonce defaults to the
        borrower's current one, deadline to chain time + `valid_for` seconds."""
        if nonce is None:
            nonce = self.position(request.borrower)[2]
        if deadline is None:
            deadline = self.chain_time() + valid_for
        signature = sign_consent(borrower_account, request, draw_amount, nonce, deadline,
                                 chain_id=self.client.deployment.chain_id, ledger=self.ledger_address,
                                 separator=self.separator)
        return signature, nonce, deadline

    # -- writes -----------------------------------------------------------------------------
    def _send(self, account: LocalAccount, fn: ContractFunction, action: str, loan_id: int | None = None) -> LoanTx:
        outcome = self.client.transact(account, fn, action)
        found_id = loan_id
        for entry in outcome.logs:
            topics = entry.get("topics") or []
            if topics and topics[0] == LOAN_RECORDED_TOPIC:
                found_id = int(topics[1], 16)
        status, balance = "", None
        if found_id is not None:
            loan = self.loan(found_id)
            status = LoanStatus.name_of(loan.status)
            balance = self.client.position(loan.borrower).balance
        log.info("%s: loan %s tx %s gas %s", action, found_id, outcome.tx_hash, outcome.gas_used)
        return LoanTx(action=action, loan_id=found_id or 0, tx_hash=str(outcome.tx_hash),
                      block_number=int(outcome.block_number or 0), gas_used=int(outcome.gas_used or 0),
                      status=status, borrower_balance=balance)

    def record(self, recorder: LocalAccount, request: LoanRequest, terms: terms_codec.SealedTerms | bytes) -> LoanTx:
        """recordLoan: the lender side records; the loan awaits the borrower's confirmation."""
        request.check()
        data = _terms_data(request, terms)
        return self._send(recorder, self.client.ledger.functions.recordLoan(request.as_abi(), data), "record loan")

    def record_with_consent(self, recorder: LocalAccount, request: LoanRequest,
                            terms: terms_codec.SealedTerms | bytes, *, signature: bytes, deadline: int,
                            draw: int = 0) -> LoanTx:
        """recordLoanWithConsent: one transaction, Active at once, optional first drawdown."""
        request.check()
        if not 0 <= draw <= request.principal:
            raise ValidationError(f"draw: {format_amount(draw)} must be between 0 and the principal "
                                  f"{format_amount(request.principal)}", field="draw", value=draw,
                                  allowed=f"0 to {format_amount(request.principal)}")
        data = _terms_data(request, terms)
        call = self.client.ledger.functions.recordLoanWithConsent(request.as_abi(), data, draw, deadline, signature)
        return self._send(recorder, call, "record loan with consent")

    def confirm(self, account: LocalAccount, loan_id: int) -> LoanTx:
        return self._send(account, self.client.ledger.functions.confirmLoan(loan_id), f"confirm loan {loan_id}", loan_id)

    def draw(self, account: LocalAccount, loan_id: int, amount: int) -> LoanTx:
        return self._send(account, self.client.ledger.functions.drawdown(loan_id, amount), f"drawdown on loan {loan_id}",
                          loan_id)

    def repay(self, account: LocalAccount, loan_id: int, amount: int) -> LoanTx:
        return self._send(account, self.client.ledger.functions.repay(loan_id, amount), f"repayment of loan {loan_id}",
                          loan_id)

    def extend(self, account: LocalAccount, loan_id: int, new_maturity: int) -> LoanTx:
        return self._send(account, self.client.ledger.functions.extendMaturity(loan_id, new_maturity),
                          f"extension of loan {loan_id}", loan_id)

    def cancel(self, account: LocalAccount, loan_id: int) -> LoanTx:
        return self._send(account, self.client.ledger.functions.cancelLoan(loan_id), f"cancelling loan {loan_id}",
                          loan_id)

    def close(self, account: LocalAccount, loan_id: int) -> LoanTx:
        return self._send(account, self.client.ledger.functions.closeLoan(loan_id), f"closing loan {loan_id}", loan_id)

    def default(self, account: LocalAccount, loan_id: int) -> LoanTx:
        return self._send(account, self.client.ledger.functions.declareDefault(loan_id),
                          f"declaring loan {loan_id} in default", loan_id)

    # -- reads ------------------------------------------------------------------------------
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

    def reshare(self, account: LocalAccount, loan_id: int, ring: KeyRing, to: Sequence[int]) -> LoanTx:
        """shareTerms: re-seal the terms (which `ring` must open) for the current keys of `to`."""
        event = self._event(loan_id)
        reader = TermsReader(ring, self.client.deployment.chain_id)
        plaintext: bytes | None = None
        problems = []
        for data in [event.terms, *self.shared_envelopes(loan_id)]:
            try:
                plaintext = reader.plaintext(data, **self._binding(event))
                break
            except ValidationError as exc:
                problems.append(str(exc))
        if plaintext is None:
            raise ValidationError(f"cannot re-share loan {loan_label(loan_id)}: {problems[0]}", field="keys",
                                  value=loan_id, allowed="the key ring of a party (or the regulator) of the loan")
        sealer = TermsSealer(self.client)
        assert sealer.keys is not None
        envelope = sealer.seal_plaintext(plaintext, document_hash=event.request.document_hash,
                                         terms_hash=event.request.terms_hash,
                                         recipients=sealer.keys.recipients(list(to)))
        return self._send(account, self.client.ledger.functions.shareTerms(loan_id, envelope),
                          f"re-sharing the terms of loan {loan_id}", loan_id)

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

    def show(self, loan_id: int, ring: KeyRing | None = None) -> LoanView:
        loan = self.loan(loan_id)
        if loan.status == LoanStatus.NONE:
            raise ValidationError(f"loan id: no loan {loan_label(loan_id)} on this ledger", field="loan id",
                                  value=loan_id, allowed=LOAN_ALLOWED)
        contribution = int(self.client.ledger.functions.loanContribution(loan_id).call())
        name = self.client.institution_name
        return LoanView(
            loan_id=loan_id, status=LoanStatus.name_of(loan.status),
            borrower=loan.borrower, borrower_name=name(loan.borrower), creditor=loan.creditor,
            creditor_name=name(loan.creditor), recorder=loan.recorder, recorder_name=name(loan.recorder),
            currency=loan.currency, financing_type=loan.financing_type, value_date=format_date(loan.value_date),
            maturity_date=format_date(loan.maturity_date), principal=loan.principal, drawn=loan.drawn,
            outstanding=loan.outstanding, available=loan.principal - loan.drawn, rate=loan.rate,
            weight_bps=loan.weight_bps, base_outstanding_cny=base_amount(loan.outstanding, loan.rate),
            contribution_cny=contribution, **self._terms_view(loan_id, ring))

    def exposure(self, borrower: int) -> Exposure:
        position = self.client.position(borrower)
        limit = int(self.client.ledger.functions.borrowingLimit(borrower).call())
        return Exposure(borrower=borrower, name=self.client.institution_name(borrower), balance=position.balance,
                        limit=limit, headroom=headroom(limit, position.balance), loan_count=position.loan_count,
                        nonce=position.nonce)


def _terms_data(request: LoanRequest, terms: terms_codec.SealedTerms | bytes) -> bytes:
    data = terms.data if isinstance(terms, terms_codec.SealedTerms) else bytes(terms)
    if not terms_codec.verify_emitted(data, request.terms_hash):
        raise ValidationError("terms: the terms bytes do not open the request's terms hash", field="terms_hash",
                              value="0x" + request.terms_hash.hex(), allowed="keccak256(salt || encoding) of the terms")
    return data

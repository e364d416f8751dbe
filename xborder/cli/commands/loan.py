"""`xborder loan record|consent|record-consent|confirm|draw|repay|extend|cancel|close|default|write-off|expire|
release-document|revoke-consent|show|reshare|exposure|import`."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import click

from xborder.cli.common import allow_plaintext_option, open_client
from xborder.cli.context import App, common_options
from xborder.cli.groups import loan
from xborder.cli.params import (
    AMOUNT,
    AMOUNT_OR_ZERO,
    CURRENCY,
    DATE,
    DOCUMENT,
    INSTITUTION,
    LOAN_ID,
    NONCE,
    REASON,
    Amount,
)
from xborder.cli.signing import (
    Signer,
    keys_wallet_options,
    load_ring,
    load_signer,
    password_source,
    signer_options,
)
from xborder.domain.dates import format_date
from xborder.domain.enums import ReasonCode
from xborder.domain.loans import LoanRequest, loan_label
from xborder.domain.money import format_amount
from xborder.errors import ValidationError
from xborder.services import consent_file
from xborder.services import terms as terms_codec
from xborder.services.confidential import MissingEncryptionKey, TermsSealer
from xborder.services.loans import LoanService, LoanTx
from xborder.wallets.encryption import KeyRing


def _service(app: App) -> LoanService:
    return LoanService(open_client(app))


def _emit_tx(app: App, service: LoanService, tx: LoanTx) -> None:
    data = asdict(tx) | {"loan": loan_label(tx.loan_id)}

    def human() -> None:
        app.console.print(f"{tx.action}: loan {loan_label(tx.loan_id)} is {tx.status} "
                          f"(tx {tx.tx_hash}, block {tx.block_number}, gas {tx.gas_used:,})")
        if tx.loan_id:
            app.console.print("  " + service.exposure(tx.loan_id >> 32).human())

    app.emit(data, human)




def _terms_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for name, help_text in reversed([
        ("interest-rate", "annual interest rate in percent, e.g. 4.35"),
        ("fees", "fees, free text"), ("purpose", "purpose of the financing"),
        ("external-ref", "your own reference"), ("document-name", "name of the loan contract document"),
        ("document-uri", "where the document is kept"), ("notes", "free text"),
    ]):
        func = click.option(f"--{name}", default="", help=f"terms (off-chain, committed): {help_text}")(func)
    return func




def _request_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--borrower", required=True, type=INSTITUTION, help="borrower institution id or identifier"),
        click.option("--creditor", required=True, type=INSTITUTION, help="creditor institution id or identifier"),
        click.option("--currency", required=True, type=CURRENCY, is_eager=True, help="ISO 4217 code, e.g. USD"),
        click.option("--principal", required=True, type=AMOUNT,
                     help="principal in the currency's minor units, e.g. 1,000,000.00 (JPY: whole yen)"),
        click.option("--value-date", required=True, type=DATE,
                     help="YYYY-MM-DD (UTC), within the regulator's window around today"),
        click.option("--maturity-date", required=True, type=DATE, help="YYYY-MM-DD (UTC), after today and the value date"),
        click.option("--financing-type", default="ORDINARY_LOAN", show_default=True, help="id or name"),
        click.option("--document", required=True, type=DOCUMENT,
                     help="document id / file name (hashed) or 0x 32-byte hash"),
        click.option("--draw", default="0", type=AMOUNT_OR_ZERO,
                     help="draw this much at once, at today's rate (needs the borrower's consent)"),
    ]):
        func = option(func)
    return _terms_options(func)


def _request(service: LoanService, sealed: terms_codec.SealedTerms, borrower: str, creditor: str, currency: str,
             principal: Amount, value_date: int, maturity_date: int, financing_type: str,
             document: bytes) -> LoanRequest:
    request = LoanRequest(
        borrower=service.resolve_institution(borrower, "--borrower"),
        creditor=service.resolve_institution(creditor, "--creditor"),
        currency=currency, principal=principal.minor, value_date=value_date, maturity_date=maturity_date,
        financing_type=service.resolve_financing_type(financing_type, field="--financing-type"),
        document_hash=document, terms_hash=sealed.terms_hash)
    request.check()
    return request


def _envelope(app: App, service: LoanService, request: LoanRequest, sealed: terms_codec.SealedTerms,
              recorder: str, allow_plaintext: bool) -> terms_codec.SealedTerms:
    """The terms sealed for the borrower, the creditor, the recorder and the regulator (or, with
    --allow-plaintext and a party without a key, in clear)."""
    sealer = TermsSealer(service.client)
    try:
        assert sealer.keys is not None
        recipients = sealer.keys.recipients(sealer.recipient_ids(request.borrower, request.creditor, recorder))
        return replace(sealed, data=sealer.seal_plaintext(sealed.salt + sealed.encoding,
                                                          document_hash=request.document_hash,
                                                          terms_hash=sealed.terms_hash, recipients=recipients))
    except MissingEncryptionKey as exc:
        if not allow_plaintext:
            raise
        app.note(f"[yellow]warning: {exc}; --allow-plaintext: the terms go on chain IN CLEAR[/yellow]")
        return sealed


@loan.command("record")
@_request_options
@click.option("--borrower-wallet", default=None, metavar="NAME",
              help="the borrower's wallet co-signs (EIP-712 consent naming --wallet's institution): Active at once")
@click.option("--consent-valid", default=3600, show_default=True, help="seconds the consent stays valid")
@allow_plaintext_option
@common_options
@signer_options
def record(app: App, sign: Signer, borrower: str, creditor: str, currency: str, principal: Amount,
           value_date: int, maturity_date: int, financing_type: str, document: bytes, draw: Amount,
           borrower_wallet: str | None, consent_valid: int, allow_plaintext: bool, **terms: str) -> None:
    """Record a loan. Without --borrower-wallet, --wallet is a wallet of the borrower, the creditor
    or the creditor's agent: the loan is Recorded with that side's consent and the other side
    confirms it (`loan confirm`) within the confirmation window. With --borrower-wallet the borrower
    signs a consent naming --wallet's institution (the creditor or its agent), which submits it:
    Active at once. The terms are encrypted for the parties and the regulator
    (docs/confidential-terms.md); only the salted commitment is public."""
    service = _service(app)
    sealed = terms_codec.seal(terms_codec.LoanTerms(**terms))
    request = _request(service, sealed, borrower, creditor, currency, principal, value_date, maturity_date,
                       financing_type, document)
    if draw.minor and borrower_wallet is None:
        raise ValidationError("--draw: drawing at once needs the borrower's consent: add --borrower-wallet "
                              "(or record, confirm, then `loan draw`)", field="--draw", value=draw.text,
                              allowed="0 without --borrower-wallet")
    sealed = _envelope(app, service, request, sealed, sign().address, allow_plaintext)
    if borrower_wallet is None:
        tx = service.record(sign(), request, sealed)
    else:
        borrower_account = load_signer(app, borrower_wallet, password_source(None, None))
        tx = service.record_co_signed(sign(), borrower_account, request, sealed, draw=draw.minor,
                                      valid_for=consent_valid)
    _emit_tx(app, service, tx)


@loan.command("consent")
@_request_options
@click.option("--submitter", required=True, type=INSTITUTION,
              help="the institution that may submit this consent: the creditor or an agent it appointed")
@click.option("--valid-for", default=86_400, show_default=True, help="seconds (of chain time) the consent stays valid")
@click.option("--nonce", default=None, type=NONCE, help="consent nonce [default: the lowest unused one]")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="file to write the signed consent to (give it to the submitter)")
@common_options
@signer_options
def consent(app: App, sign: Signer, borrower: str, creditor: str, currency: str, principal: Amount,
            value_date: int, maturity_date: int, financing_type: str, document: bytes, draw: Amount,
            submitter: str, valid_for: int, nonce: int | None, out: Path, **terms: str) -> None:
    """The borrower's consent, signed off-line (--wallet: a wallet of the borrower): an EIP-712
    LoanConsent naming --submitter, written to --out with the request and the salted terms. The
    submitter records it with `loan record-consent FILE --wallet ...`; nobody else can."""
    service = _service(app)
    sealed = terms_codec.seal(terms_codec.LoanTerms(**terms))
    request = _request(service, sealed, borrower, creditor, currency, principal, value_date, maturity_date,
                       financing_type, document)
    signed = service.sign_consent(sign(), request, draw.minor, submitter=service.resolve_institution(
        submitter, "--submitter"), nonce=nonce, valid_for=valid_for)
    data = consent_file.dump(service.client, request, sealed, draw.minor, signed)
    out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    app.emit(data, lambda: app.console.print(
        f"consent nonce {signed.nonce} (epoch {signed.epoch}) for {service.client.institution_name(signed.submitter)}"
        f" to submit, valid until {format_date(signed.deadline)}: written to {out}"))


@loan.command("record-consent")
@click.argument("consent_path", metavar="FILE", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@allow_plaintext_option
@common_options
@signer_options
def record_consent(app: App, sign: Signer, consent_path: Path, allow_plaintext: bool) -> None:
    """Record the loan of a borrower's consent FILE (`loan consent`): --wallet is a wallet of the
    submitter the consent names (the creditor or its agent); the loan is Active at once."""
    service = _service(app)
    loaded = consent_file.load(service.client, consent_path)
    sealed = _envelope(app, service, loaded.request, loaded.sealed, sign().address, allow_plaintext)
    _emit_tx(app, service, service.record_with_consent(sign(), loaded.request, sealed, consent=loaded.consent,
                                                       draw=loaded.draw))


def _loan_command(name: str, help_text: str, method: str, extra: str | None = None) -> click.Command:
    @common_options
    @signer_options
    def command(app: App, sign: Signer, loan_id: int, **kwargs: Any) -> None:
        service = _service(app)
        args: list[Any] = [loan_id]
        if extra == "amount":
            amount: Amount = kwargs["amount"]
            current = service.loan(loan_id)
            args.append(amount.for_currency(current.currency) if current.status else amount.minor)
        elif extra == "reason":
            args.append(kwargs["reason"])
        _emit_tx(app, service, getattr(service, method)(sign(), *args))

    command.__doc__ = help_text
    if extra == "amount":
        command = click.argument("amount", type=AMOUNT)(command)
    elif extra == "reason":
        command = click.option("--reason", type=REASON, default=_DEFAULT_REASON[method].slug, show_default=True,
                               help=f"why (one of {REASON.ALLOWED})")(command)
    command = click.argument("loan_id", type=LOAN_ID)(command)
    return loan.command(name)(command)


_DEFAULT_REASON = {"write_off": ReasonCode.WRITE_OFF_APPROVED, "expire": ReasonCode.UNSPECIFIED}

_loan_command("confirm", "Consent to a recorded loan for your side (--wallet: a wallet of the borrower, or of the "
              "creditor or its agent): Active once both sides consented.", "confirm")
_loan_command("draw", "Draw AMOUNT of an active loan at today's rate and weight (borrower or lender side; "
              "limit-checked on chain).", "draw", "amount")
_loan_command("repay", "Acknowledge a repayment of AMOUNT (lender side: the creditor or its agent); closes the loan "
              "when fully drawn and repaid.", "repay", "amount")
_loan_command("cancel", "Cancel a recorded loan (borrower, lender side or recorder) or an active one with no "
              "drawdown (borrower or lender side).", "cancel")
_loan_command("close", "Close an active loan with nothing outstanding (lender side).", "close")
_loan_command("default", "Declare an active loan in default (lender side): it keeps counting in the borrower's "
              "balance until the regulator writes it off.", "default")
_loan_command("write-off", "Write off a defaulted loan, or an active loan of a revoked creditor (the regulator): "
              "its contribution leaves the balance.",
              "write_off", "reason")
_loan_command("expire", "Expire a recorded loan: the regulator any time, anyone once its confirmation window "
              "closed.", "expire", "reason")


@loan.command("extend")
@click.argument("loan_id", type=LOAN_ID)
@click.argument("new_maturity_date", type=DATE)
@click.option("--borrower-wallet", default=None, metavar="NAME",
              help="the borrower's wallet signs an extension consent (needed when the term class changes)")
@common_options
@signer_options
def extend(app: App, sign: Signer, loan_id: int, new_maturity_date: int, borrower_wallet: str | None) -> None:
    """Move the maturity of an active loan to NEW_MATURITY_DATE (lender side). A change of term class
    (short <-> long, one calendar year) needs the borrower's consent: --borrower-wallet."""
    service = _service(app)
    if borrower_wallet is None:
        tx = service.extend(sign(), loan_id, new_maturity_date)
    else:
        borrower_account = load_signer(app, borrower_wallet, password_source(None, None))
        tx = service.extend_co_signed(sign(), borrower_account, loan_id, new_maturity_date)
    _emit_tx(app, service, tx)


@loan.command("release-document")
@click.argument("document", type=DOCUMENT)
@click.option("--reason", type=REASON, default=ReasonCode.DOCUMENT_DISPUTE.slug, show_default=True,
              help=f"why (one of {REASON.ALLOWED})")
@common_options
@signer_options
def release_document(app: App, sign: Signer, document: bytes, reason: ReasonCode) -> None:
    """Free DOCUMENT from the live loan that holds it (the regulator); the loan itself is unchanged."""
    service = _service(app)
    _emit_tx(app, service, service.release_document(sign(), document, reason))


@loan.command("revoke-consent")
@click.argument("nonces", metavar="NONCE", nargs=-1, required=True, type=NONCE)
@common_options
@signer_options
def revoke_consent(app: App, sign: Signer, nonces: tuple[int, ...]) -> None:
    """Withdraw consents your institution signed as borrower, by nonce (--wallet: any of its wallets).
    To withdraw all of them at once: `institution revoke-signatures`."""
    service = _service(app)
    txs = service.revoke_consents(sign(), nonces)
    app.emit([asdict(tx) for tx in txs], lambda: app.console.print(
        f"consent nonce(s) {', '.join(str(n) for n in sorted(set(nonces)))} revoked "
        f"({len(txs)} transaction(s), last {txs[-1].tx_hash})"))


@loan.command("show")
@click.argument("loan_id", type=LOAN_ID)
@common_options
@keys_wallet_options
def show(app: App, loan_id: int, ring: KeyRing | None) -> None:
    """Show a loan: status, amounts, CNY equivalent, contribution to the borrower's balance, terms
    (encrypted terms only with --keys-wallet of a party of the loan or of the regulator)."""
    service = _service(app)
    view = service.show(loan_id, ring)

    def human() -> None:
        for key, value in view.human().items():
            app.console.print(f"{key + ':':<20} {value}")

    app.emit(asdict(view), human)


@loan.command("reshare")
@click.argument("loan_id", type=LOAN_ID)
@click.option("--to", "to", multiple=True, required=True, metavar="INSTITUTION",
              help="institution (id, LEI, USCC; 0 = the regulator) whose CURRENT key gets the terms; repeatable")
@click.option("--keys-wallet", "keys_wallet", default=None, metavar="NAME",
              help="key ring that opens the terms now [default: the --wallet name]")
@common_options
@signer_options
def reshare(app: App, sign: Signer, loan_id: int, to: tuple[str, ...], keys_wallet: str | None) -> None:
    """Re-share the terms of LOAN_ID with the current key of each --to institution (e.g. after it
    rotated its key): emits TermsShared with a new envelope (--wallet: a party of the loan)."""
    service = _service(app)
    targets = [0 if t.strip().lower() in ("0", "regulator") else service.resolve_institution(t, "--to") for t in to]
    signer = sign()
    ring = load_ring(app, keys_wallet or _wallet_name(), password_source(None, None))
    _emit_tx(app, service, service.reshare(signer, loan_id, ring, targets))


def _wallet_name() -> str:
    ctx = click.get_current_context()
    return str(ctx.params.get("wallet_name") or "")


@loan.command("exposure")
@click.argument("borrower")
@common_options
def exposure(app: App, borrower: str) -> None:
    """A borrower's risk-weighted balance, limit and headroom."""
    service = _service(app)
    e = service.exposure(service.resolve_institution(borrower, "borrower"))
    app.emit(asdict(e) | {"balance_text": format_amount(e.balance, "CNY"), "limit_text": format_amount(e.limit, "CNY")},
             lambda: app.console.print(e.human()))

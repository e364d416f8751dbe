"""A borrower's off-line consent as a file: the borrower signs (`loan consent`), the submitter it
names records it (`loan record-consent`). The file carries the loan request, the first draw, the
salted plaintext terms (so the submitter can seal them for the parties and the regulator; their
hash is what the borrower signed) and the `ConsentSignature`. Loading checks the file against this
chain and ledger and that the terms open the request's terms hash; a bad file is refused naming
the field, the value and what is allowed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xborder.bindings.client import XborderClient
from xborder.bindings.consent import ConsentSignature
from xborder.domain.loans import LoanRequest
from xborder.errors import ValidationError
from xborder.services import terms as terms_codec

KIND = "xborder LoanConsent v2"


@dataclass(frozen=True)
class LoadedConsent:
    request: LoanRequest
    sealed: terms_codec.SealedTerms
    draw: int
    consent: ConsentSignature


def dump(client: XborderClient, request: LoanRequest, sealed: terms_codec.SealedTerms, draw: int,
         consent: ConsentSignature) -> dict[str, Any]:
    return {
        "kind": KIND, "chain_id": client.chain_id, "ledger": str(client.ledger.address),
        "request": {name: ("0x" + value.hex() if isinstance(value, bytes) else value)
                    for name, value in ((n, getattr(request, n)) for n, _ in LoanRequest.abi_fields())},
        "draw": draw,
        "terms": {"salt": "0x" + sealed.salt.hex(), "fields": sealed.terms.to_dict()},
        "consent": consent.to_json(),
    }


def _bad(path: Path, field: str, value: object, why: str, allowed: str) -> ValidationError:
    return ValidationError(f"consent file {path}: {field}: {why}", field=field, value=str(value)[:80], allowed=allowed)


def _bytes32(text: object) -> bytes:
    raw = bytes.fromhex(str(text).removeprefix("0x"))
    if len(raw) != 32:
        raise ValueError(text)
    return raw


def load(client: XborderClient, path: Path) -> LoadedConsent:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad(path, "file", path, f"not a readable JSON file ({exc})", "a file written by `loan consent`") from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise _bad(path, "kind", data.get("kind") if isinstance(data, dict) else type(data).__name__,
                   "not a consent file", f'"kind": "{KIND}" (a file written by `loan consent`)')
    if data.get("chain_id") != client.chain_id or str(data.get("ledger", "")).lower() != str(client.ledger.address).lower():
        raise _bad(path, "ledger", f"{data.get('chain_id')}/{data.get('ledger')}",
                   "the consent was signed for another chain or ledger",
                   f"chain {client.chain_id}, ledger {client.ledger.address}")
    try:
        r = data["request"]
        request = LoanRequest(int(r["borrower"]), int(r["creditor"]), str(r["currency"]), int(r["principal"]),
                              int(r["value_date"]), int(r["maturity_date"]), int(r["financing_type"]),
                              _bytes32(r["document_hash"]), _bytes32(r["terms_hash"]))
        consent = ConsentSignature.from_json(data["consent"])
        sealed = terms_codec.seal(terms_codec.LoanTerms.from_dict(dict(data["terms"]["fields"])),
                                  bytes.fromhex(str(data["terms"]["salt"]).removeprefix("0x")))
        draw = int(data["draw"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad(path, "request", exc, "a field is missing or malformed", "a file written by `loan consent`") from None
    if sealed.terms_hash != request.terms_hash:
        raise _bad(path, "terms", "0x" + request.terms_hash.hex(), "the terms do not open the signed terms hash",
                   "the terms the borrower signed, unchanged")
    request.check()
    return LoadedConsent(request, sealed, draw, consent)

"""Onboarding: the regulator registers institutions, one at a time or from a roster file.

A roster (CSV, or YAML with the same keys) has one institution per row:

    kind,name,identifier,jurisdiction,capital_base,admin_wallet

- kind: domestic-bank, foreign-bank-branch, non-bank-fi, enterprise, foreign-creditor, observer
- identifier: an LEI (20 characters 0-9A-Z, ISO 17442 check digits) or a unified social credit
  code (18 characters of 0123456789ABCDEFGHJKLMNPQRTUWXY)
- jurisdiction: ISO 3166-1 alpha-2 (CN, HK, DE...)
- capital_base: CNY, at most 2 decimals (1,250,000.00 or 1250000); positive (zero allowed only
  for foreign creditors and observers, which never borrow)
- admin_wallet: a keystore wallet name or an address

Every row is checked before anything is sent and every problem is reported (row, field, value,
what is allowed); only a roster without problems is applied. Applying is idempotent: an
identifier already registered on the chain is skipped (and reported as such), so re-running a
roster, or resuming one that stopped half way, registers nothing twice.
"""

from __future__ import annotations

import csv
import functools
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract.contract import ContractFunction

from xborder.bindings.batch import DONE, Outcome, Tx
from xborder.bindings.client import XborderClient, decode_logs
from xborder.domain.enums import InstitutionKind, InstitutionStatus
from xborder.domain.identifiers import (
    USCC_CHARSET,
    identifier_bytes,
    identifier_text,
    lei_checksum_ok,
    lei_with_check,
)
from xborder.domain.money import format_amount, normalise_country, parse_amount
from xborder.errors import TransactionRejected, ValidationError, WalletError
from xborder.wallets.keystore import Keystore

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------- vocabulary

Kind = InstitutionKind
_KIND_ALIASES = {kind.slug.replace("-", ""): kind for kind in InstitutionKind} | {
    "bank": Kind.DOMESTIC_BANK, "foreignbank": Kind.FOREIGN_BANK_BRANCH, "nonbank": Kind.NON_BANK_FINANCIAL_INSTITUTION,
    "nbfi": Kind.NON_BANK_FINANCIAL_INSTITUTION, "nonbankfinancialinstitution": Kind.NON_BANK_FINANCIAL_INSTITUTION,
    "regulator": Kind.OBSERVER,
}
KINDS_ALLOWED = ", ".join(kind.slug for kind in InstitutionKind)

_LEI = re.compile(r"^[0-9A-Z]{20}$")
_USCC = re.compile(rf"^[{USCC_CHARSET}]{{18}}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
ZERO_ADDRESS = "0x" + "00" * 20
#: Gas of registerInstitution, just above the measured use (docs/contracts.md): anvil fills a block
#: by declared gas.
REGISTER_GAS = 220_000

COLUMNS = ("kind", "name", "identifier", "jurisdiction", "capital_base", "admin_wallet")
_OPTIONAL_COLUMNS = ("notes",)
LEI_ALLOWED = "an LEI: 20 characters 0-9/A-Z whose ISO 17442 (MOD 97-10) check digits are valid"
USCC_ALLOWED = f"a unified social credit code: 18 characters of {USCC_CHARSET}"


def parse_kind(value: object, field: str = "kind") -> Kind:
    text = str(value if value is not None else "").strip()
    key = re.sub(r"[\s_\-]", "", text.lower())
    if key.isdigit() and int(key) in InstitutionKind._value2member_map_:
        return InstitutionKind(int(key))
    kind = _KIND_ALIASES.get(key)
    if kind is None:
        raise ValidationError(f"{field}: {text!r} is not an institution kind (one of {KINDS_ALLOWED})",
                              field=field, value=text, allowed=KINDS_ALLOWED)
    return kind


def parse_identifier(value: object, field: str = "identifier") -> str:
    """Validate an LEI or USCC; returns it upper-cased. Messages say which rule failed."""
    raw = str(value if value is not None else "").strip()
    text = raw.upper()
    allowed = f"{LEI_ALLOWED}, or {USCC_ALLOWED}"

    def bad(why: str) -> ValidationError:
        return ValidationError(f"{field}: {raw!r} {why} (allowed: {allowed})", field=field, value=raw,
                               allowed=allowed)

    if not text:
        raise bad("is empty")
    if len(text) == 20:
        if not _LEI.match(text):
            wrong = sorted({c for c in text if not ("0" <= c <= "9" or "A" <= c <= "Z")})
            raise bad(f"has characters not allowed in an LEI: {''.join(wrong)!r}")
        if not lei_checksum_ok(text):
            raise bad(f"has wrong LEI check digits {text[18:]!r} (for this prefix they would be "
                      f"{lei_with_check(text[:18])[18:]!r})")
        return text
    if len(text) == 18:
        if not _USCC.match(text):
            wrong = sorted({c for c in text if c not in USCC_CHARSET})
            raise bad(f"has characters not allowed in a unified social credit code: {''.join(wrong)!r}")
        return text
    raise bad(f"is {len(text)} characters long; an LEI has 20, a unified social credit code 18")


def parse_address(value: object, field: str = "wallet") -> str:
    text = str(value if value is not None else "").strip()
    allowed = "0x followed by 40 hex digits (EIP-55 checksum if mixed case), not the zero address"
    if not _ADDRESS.match(text):
        raise ValidationError(f"{field}: {text!r} is not an address ({allowed})", field=field, value=text,
                              allowed=allowed)
    if text != text.lower() and text[2:] != text[2:].upper() and not Web3.is_checksum_address(text):
        raise ValidationError(f"{field}: {text!r} has a wrong EIP-55 checksum (mistyped?) ({allowed})",
                              field=field, value=text, allowed=allowed)
    if int(text, 16) == 0:
        raise ValidationError(f"{field}: the zero address is not a wallet ({allowed})", field=field,
                              value=text, allowed=allowed)
    return Web3.to_checksum_address(text)


def resolve_wallet(value: object, keystore: Keystore | None, field: str = "admin_wallet") -> str:
    """An address, or the address of a keystore wallet name."""
    text = str(value if value is not None else "").strip()
    if text.lower().startswith("0x"):
        return parse_address(text, field)
    allowed = "a keystore wallet name (see `xborder wallet list`) or an address 0x + 40 hex digits"
    if not text:
        raise ValidationError(f"{field}: empty ({allowed})", field=field, value=text, allowed=allowed)
    if keystore is None:
        raise ValidationError(f"{field}: {text!r} is not an address and no keystore folder is available "
                              f"({allowed})", field=field, value=text, allowed=allowed)
    try:
        return keystore.address(text)
    except WalletError as exc:
        raise ValidationError(f"{field}: {exc}", field=field, value=text, allowed=allowed) from None


def parse_capital(value: object, kind: Kind | None, field: str = "capital_base") -> int:
    zero_ok = kind in (Kind.FOREIGN_CREDITOR, Kind.OBSERVER)
    text = str(value if value is not None else "").strip()
    if text == "":
        raise ValidationError(f"{field}: empty (a positive amount in CNY, e.g. 5000000000.00)", field=field,
                              value=text, allowed="a positive amount in CNY with at most 2 decimals")
    try:
        return parse_amount(text, field, allow_zero=zero_ok)
    except ValidationError as exc:
        exc.allowed = ("a positive amount in CNY with at most 2 decimals"
                       + (" (0 allowed for foreign creditors and observers)" if zero_ok else ""))
        raise


def parse_name(value: object, field: str = "name") -> str:
    text = " ".join(str(value if value is not None else "").split())
    if not text:
        raise ValidationError(f"{field}: the name is empty (the institution's registered name)",
                              field=field, value=value, allowed="a non-empty name")
    if len(text.encode()) > 200:
        raise ValidationError(f"{field}: {text[:40]!r}… is {len(text.encode())} bytes long (at most 200)",
                              field=field, value=text, allowed="at most 200 bytes of UTF-8")
    return text


# ---------------------------------------------------------------------------- roster


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a roster: where, which field, which value, what is allowed."""

    where: str  # "line 4" (CSV) / "entry 2" (YAML) / "file"
    field: str
    value: str
    message: str
    allowed: str


@dataclass(frozen=True)
class Entry:
    """One validated institution to register."""

    where: str
    kind: Kind
    name: str
    identifier: str
    jurisdiction: str
    capital_base: int  # CNY minor units
    admin: str  # checksummed address
    admin_given: str  # as written (a wallet name or the address)

    def describe(self) -> str:
        return f"{self.name} ({self.kind.slug}, {self.identifier})"


class RosterInvalid(ValidationError):
    """The roster has problems; `problems` lists all of them."""

    def __init__(self, path: Path, problems: list[Problem]) -> None:
        first = problems[0]
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        super().__init__(f"roster {path}: {len(problems)} problem(s); nothing was registered. First: "
                         f"{first.where}, {first.field}: {first.message}{more}",
                         field=first.field, value=first.value, allowed=first.allowed)
        self.path = path
        self.problems = problems


def _decode(path: Path, raw: bytes) -> tuple[str | None, Problem | None]:
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        bad = raw[exc.start:exc.end]
        return None, Problem(f"line {line}", "(file)", bad.hex(" "),
                             f"byte(s) {bad.hex(' ')} at line {line} are not UTF-8: save the file as UTF-8 "
                             "(Excel: 'CSV UTF-8')", "UTF-8 text")


def _csv_rows(text: str) -> tuple[list[tuple[str, dict[str, str]]], list[Problem]]:
    header: list[str] | None = None
    rows: list[tuple[str, dict[str, str]]] = []
    problems: list[Problem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = next(csv.reader([line]))
        if header is None:
            header = [c.strip().lower().replace(" ", "_").replace("-", "_") for c in cells]
            missing = [c for c in COLUMNS if c not in header]
            unknown = [c for c in header if c not in COLUMNS and c not in _OPTIONAL_COLUMNS]
            for c in missing:
                problems.append(Problem(f"line {number}", c, "(missing)", f"the header has no column {c!r}",
                                        "columns: " + ",".join(COLUMNS)))
            for c in unknown:
                problems.append(Problem(f"line {number}", c or "(blank)", c, f"unknown column {c!r}",
                                        "columns: " + ",".join(COLUMNS) + " (optional: notes)"))
            if missing or unknown:
                return [], problems
            continue
        if len(cells) != len(header):
            problems.append(Problem(f"line {number}", "(row)", line.strip(),
                                    f"has {len(cells)} cells, the header has {len(header)}",
                                    "one cell per column (quote names that contain commas)"))
            continue
        rows.append((f"line {number}", dict(zip(header, cells, strict=True))))
    if header is None:
        problems.append(Problem("file", "(header)", "", "the roster is empty",
                                "a header line " + ",".join(COLUMNS) + " and one line per institution"))
    return rows, problems


def _yaml_rows(text: str) -> tuple[list[tuple[str, dict[str, str]]], list[Problem]]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "file"
        return [], [Problem(where, "(file)", "", f"not valid YAML: {getattr(exc, 'problem', exc)}",
                            "a list of institutions (or a mapping with key 'institutions')")]
    if isinstance(data, dict) and "institutions" in data:
        data = data["institutions"]
    if not isinstance(data, list):
        return [], [Problem("file", "(file)", type(data).__name__, "the YAML roster is not a list",
                            "a list of institutions (or a mapping with key 'institutions')")]
    rows: list[tuple[str, dict[str, str]]] = []
    problems: list[Problem] = []
    for number, item in enumerate(data, start=1):
        where = f"entry {number}"
        if not isinstance(item, dict):
            problems.append(Problem(where, "(entry)", str(item), "is not a mapping",
                                    "keys: " + ", ".join(COLUMNS)))
            continue
        norm = {str(k).strip().lower().replace("-", "_"): ("" if v is None else str(v)) for k, v in item.items()}
        for c in COLUMNS:
            if c not in norm:
                problems.append(Problem(where, c, "(missing)", f"has no key {c!r}", "keys: " + ", ".join(COLUMNS)))
        for c in norm:
            if c not in COLUMNS and c not in _OPTIONAL_COLUMNS:
                problems.append(Problem(where, c, norm[c], f"unknown key {c!r}", "keys: " + ", ".join(COLUMNS)))
        if all(c in norm for c in COLUMNS):
            rows.append((where, norm))
    return rows, problems


def read_roster(path: Path, keystore: Keystore | None) -> list[Entry]:
    """Parse and validate every row of `path` (.csv, .yaml, .yml); raise RosterInvalid listing
    every problem, or return the entries."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".yaml", ".yml"):
        raise ValidationError(f"roster {path}: unknown format {suffix or '(no extension)'!r} (use .csv, .yaml "
                              "or .yml)", field="roster", value=str(path), allowed=".csv, .yaml, .yml")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValidationError(f"cannot read roster {path}: {exc.strerror or exc}", field="roster",
                              value=str(path), allowed="a readable file") from None
    text, problem = _decode(path, raw)
    if problem is not None or text is None:
        raise RosterInvalid(path, [problem] if problem else [])
    rows, problems = (_csv_rows if suffix == ".csv" else _yaml_rows)(text)
    entries = validate_rows(rows, keystore, problems)
    if problems:
        raise RosterInvalid(path, problems)
    if not entries:
        raise RosterInvalid(path, [Problem("file", "(rows)", "", "the roster lists no institution",
                                           "one line per institution after the header")])
    return entries


def _capital_of(kind: Kind | None, value: str, field: str) -> int:
    return parse_capital(value, kind, field)


def _check(values: dict[str, Any], problems: list[Problem], where: str, row: dict[str, str], name: str,
           parse: Callable[[str, str], Any]) -> None:
    """Parse row[name] into values[name], or record the problem."""
    try:
        values[name] = parse(row[name], name)
    except ValidationError as exc:
        message = str(exc)
        prefix = f"{name}: "
        problems.append(Problem(where, name, str(row.get(name, "")),
                                message[len(prefix):] if message.startswith(prefix) else message,
                                exc.allowed or ""))


def validate_rows(rows: Iterable[tuple[str, dict[str, str]]], keystore: Keystore | None,
                  problems: list[Problem]) -> list[Entry]:
    """Validate each row's fields and duplicates within the file; appends to `problems`."""
    entries: list[Entry] = []
    first_identifier: dict[str, str] = {}
    first_admin: dict[str, str] = {}
    for where, row in rows:
        values: dict[str, Any] = {}
        _check(values, problems, where, row, "kind", parse_kind)
        kind = values.get("kind")
        _check(values, problems, where, row, "name", parse_name)
        _check(values, problems, where, row, "identifier", parse_identifier)
        _check(values, problems, where, row, "jurisdiction", normalise_country)
        _check(values, problems, where, row, "capital_base", functools.partial(_capital_of, kind))
        _check(values, problems, where, row, "admin_wallet", lambda v, f: resolve_wallet(v, keystore, f))
        ident = values.get("identifier")
        if ident is not None:
            if ident in first_identifier:
                problems.append(Problem(where, "identifier", ident,
                                        f"duplicate: {ident} is also on {first_identifier[ident]}",
                                        "each identifier once per roster"))
                values.pop("identifier")
            else:
                first_identifier[ident] = where
        admin = values.get("admin_wallet")
        if admin is not None:
            if admin in first_admin:
                problems.append(Problem(where, "admin_wallet", row["admin_wallet"],
                                        f"duplicate: wallet {admin} is also the admin of {first_admin[admin]}",
                                        "a wallet belongs to at most one institution"))
                values.pop("admin_wallet")
            else:
                first_admin[admin] = where
        if len(values) == len(COLUMNS):
            entries.append(Entry(where, values["kind"], values["name"], values["identifier"],
                                 values["jurisdiction"], values["capital_base"], values["admin_wallet"],
                                 row["admin_wallet"].strip()))
    return entries


# ---------------------------------------------------------------------------- on chain


@dataclass(frozen=True)
class Planned:
    entry: Entry
    existing_id: int  # 0: to register


@dataclass
class ImportReport:
    registered: list[tuple[Entry, int]] = field(default_factory=list)
    skipped: list[tuple[Entry, int]] = field(default_factory=list)


def plan(client: XborderClient, entries: Sequence[Entry], path: Path | None = None) -> list[Planned]:
    """Check the entries against the chain: already registered identifiers are skipped; an admin
    wallet that already belongs to another institution is a problem (RosterInvalid)."""
    registry = client.registry.functions
    planned: list[Planned] = []
    problems: list[Problem] = []
    for entry in entries:
        existing = int(registry.institutionByIdentifier(identifier_bytes(entry.identifier)).call())
        if existing == 0:
            owner = int(registry.institutionOf(entry.admin).call())
            if owner != 0:
                problems.append(Problem(entry.where, "admin_wallet", entry.admin_given,
                                        f"wallet {entry.admin} already belongs to {client.institution_name(owner)}",
                                        "a wallet not yet registered to any institution"))
        planned.append(Planned(entry, existing))
    if problems:
        raise RosterInvalid(path or Path("(roster)"), problems)
    return planned


def _register_call(client: XborderClient, entry: Entry) -> ContractFunction:
    return client.registry.functions.registerInstitution(
        int(entry.kind), identifier_bytes(entry.identifier), entry.jurisdiction.encode("ascii"),
        entry.capital_base, entry.name, entry.admin)


def _registration(client: XborderClient, signer: LocalAccount, entry: Entry) -> Tx:
    return client.tx(signer, _register_call(client, entry), f"registering {entry.name}", gas=REGISTER_GAS)


def _registered_id(client: XborderClient, outcome: Outcome, entry: Entry) -> int:
    events = decode_logs(client.registry, "InstitutionRegistered", outcome.logs)
    institution_id = int(events[0]["institutionId"])
    client.remember_names({institution_id: entry.name})
    log.info("registered %s as #%d", entry.describe(), institution_id)
    return institution_id


def register(client: XborderClient, signer: LocalAccount, entry: Entry) -> int:
    """Register one institution (signed by the regulator); returns its id."""
    outcome = client.transact(signer, _register_call(client, entry), f"registering {entry.name}")
    return _registered_id(client, outcome, entry)


def apply(client: XborderClient, signer: LocalAccount, planned: Sequence[Planned],
          progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """Register every planned entry not yet on chain, as one batch (identifiers re-checked right
    before, as another run may have registered some meanwhile)."""
    report = ImportReport()
    todo = []
    registry = client.registry.functions
    for item in planned:
        existing = item.existing_id or int(registry.institutionByIdentifier(identifier_bytes(item.entry.identifier)).call())
        if existing:
            report.skipped.append((item.entry, existing))
        else:
            todo.append(item.entry)
    batch = client.batch([_registration(client, signer, e) for e in todo])
    batch.run(progress)
    for entry, outcome in zip(todo, batch.outcomes, strict=True):
        if outcome.status != DONE:
            raise TransactionRejected(f"registering {entry.name} refused: {outcome.reason}", error_name=outcome.error)
        report.registered.append((entry, _registered_id(client, outcome, entry)))
    return report


# ---------------------------------------------------------------------------- views and admin


@dataclass(frozen=True)
class InstitutionView:
    id: int
    name: str
    kind: str
    status: str
    capital_base: int
    admin: str
    identifier: str
    jurisdiction: str
    wallet_count: int

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "kind": self.kind, "status": self.status,
                "capital_base": format_amount(self.capital_base), "capital_base_minor": self.capital_base,
                "admin": self.admin, "identifier": self.identifier, "jurisdiction": self.jurisdiction,
                "wallet_count": self.wallet_count}


def registered_names(client: XborderClient) -> dict[int, str]:
    """Every institution's name, from the InstitutionRegistered events (one log query)."""
    logs = client.registry.events.InstitutionRegistered.get_logs(from_block=client.deployment.start_block)
    return {int(e["args"]["institutionId"]): str(e["args"]["name"]) for e in logs}


def _view(client: XborderClient, institution_id: int, names: dict[int, str]) -> InstitutionView:
    raw = client.registry.functions.getInstitution(institution_id).call()
    _id, kind, status, capital, admin, identifier, jurisdiction, wallets = raw
    return InstitutionView(
        id=int(_id), name=names.get(int(_id), f"institution #{_id}"),
        kind=InstitutionKind(int(kind)).slug if int(kind) in InstitutionKind._value2member_map_ else str(kind),
        status=InstitutionStatus.label_of(int(status)), capital_base=int(capital),
        admin=Web3.to_checksum_address(admin), identifier=identifier_text(identifier),
        jurisdiction=bytes(jurisdiction).decode("ascii", "replace"), wallet_count=int(wallets))


def list_institutions(client: XborderClient) -> list[InstitutionView]:
    count = int(client.registry.functions.institutionCount().call())
    names = registered_names(client) if count else {}
    return [_view(client, i, names) for i in range(1, count + 1)]


def resolve_institution(client: XborderClient, ref: str) -> int:
    """An institution id from '7', '#7', an LEI or a USCC."""
    text = str(ref).strip().lstrip("#")
    allowed = "an institution id (see `xborder institution list`), an LEI or a unified social credit code"
    if text.isdigit():
        institution_id = int(text)
        count = int(client.registry.functions.institutionCount().call())
        if not 1 <= institution_id <= count:
            raise ValidationError(f"institution: no institution #{institution_id} (ids 1..{count} are registered)",
                                  field="institution", value=ref, allowed=allowed)
        return institution_id
    identifier = parse_identifier(text, "institution")
    found = int(client.registry.functions.institutionByIdentifier(identifier_bytes(identifier)).call())
    if not found:
        raise ValidationError(f"institution: no institution is registered under {identifier}",
                              field="institution", value=ref, allowed=allowed)
    return found


def show(client: XborderClient, institution_id: int) -> dict[str, Any]:
    """The record, its current wallets (from events) and, for borrowers, the limit and balance."""
    names = registered_names(client)
    view = _view(client, institution_id, names)
    start = client.deployment.start_block
    events = client.registry.events
    changes: list[tuple[int, int, str, bool]] = []
    for e in events.WalletAdded.get_logs(from_block=start, argument_filters={"institutionId": institution_id}):
        changes.append((int(e["blockNumber"]), int(e["logIndex"]), str(e["args"]["wallet"]), True))
    for e in events.WalletRemoved.get_logs(from_block=start, argument_filters={"institutionId": institution_id}):
        changes.append((int(e["blockNumber"]), int(e["logIndex"]), str(e["args"]["wallet"]), False))
    wallets: dict[str, None] = {}
    for _b, _i, wallet, added in sorted(changes):
        if added:
            wallets[Web3.to_checksum_address(wallet)] = None
        else:
            wallets.pop(Web3.to_checksum_address(wallet), None)
    data = view.to_json()
    data["wallets"] = list(wallets)
    if view.kind in {kind.slug for kind in InstitutionKind if kind.can_borrow}:
        try:
            exposure = client.exposure(institution_id)
            data["risk_weighted_balance"] = format_amount(exposure["risk_weighted_balance"])
            data["borrowing_limit"] = format_amount(exposure["limit"])
            data["headroom"] = format_amount(exposure["headroom"])
        except Exception as exc:  # the ledger's views are a nicety here
            log.debug("no exposure for #%d: %s", institution_id, exc)
    return data


_STATUS_CALLS = {"suspend": "suspendInstitution", "reinstate": "reinstateInstitution",
                 "revoke": "revokeInstitution"}


def change_status(client: XborderClient, signer: LocalAccount, institution_id: int, action: str) -> str:
    """suspend / reinstate / revoke (regulator); returns the new status label."""
    function = getattr(client.registry.functions, _STATUS_CALLS[action])
    client.transact(signer, function(institution_id), f"{action} {client.institution_name(institution_id)}")
    return InstitutionStatus.label_of(client.core(institution_id).status)


def add_wallet(client: XborderClient, signer: LocalAccount, institution_id: int, wallet: str) -> None:
    """Authorise `wallet` for the institution (signed by the regulator or the institution's admin)."""
    client.transact(signer, client.registry.functions.addWallet(institution_id, wallet),
                    f"adding wallet {wallet} to {client.institution_name(institution_id)}")


def remove_wallet(client: XborderClient, signer: LocalAccount, institution_id: int, wallet: str) -> None:
    client.transact(signer, client.registry.functions.removeWallet(institution_id, wallet),
                    f"removing wallet {wallet} from {client.institution_name(institution_id)}")


def entry_from_fields(kind: str, name: str, identifier: str, jurisdiction: str, capital_base: str,
                      admin: str, keystore: Keystore | None) -> Entry:
    """One entry from command-line values (`institution register`), validated like a roster row."""
    problems: list[Problem] = []
    entries = validate_rows([("command line", {"kind": kind, "name": name, "identifier": identifier,
                                               "jurisdiction": jurisdiction, "capital_base": capital_base,
                                               "admin_wallet": admin})], keystore, problems)
    if problems:
        first = problems[0]
        option = "--" + first.field.replace("_", "-").replace("admin-wallet", "admin")
        raise ValidationError(f"{option}: {first.message}" + (f" ({len(problems) - 1} more problem(s))"
                                                              if len(problems) > 1 else ""),
                              field=option, value=first.value, allowed=first.allowed)
    return entries[0]


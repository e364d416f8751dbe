"""Rosters: the institutions to onboard, read from a file (or the command line) and validated.

A roster (CSV, or YAML with the same keys) has one institution per row:

    kind,name,identifier,jurisdiction,capital_base,admin_wallet

- kind: domestic-bank, foreign-bank-branch, non-bank-fi, enterprise, foreign-creditor, observer
- identifier: an LEI (20 characters 0-9A-Z, ISO 17442 check digits) or a unified social credit
  code (18 characters of 0123456789ABCDEFGHJKLMNPQRTUWXY)
- jurisdiction: ISO 3166-1 alpha-2 (CN, HK, DE...)
- capital_base: CNY, at most 2 decimals (1,250,000.00 or 1250000); positive (zero allowed only
  for foreign creditors and observers, which never borrow)
- admin_wallet: a keystore wallet name or an address
- admin_proof (optional): the admin wallet's proof that it agrees to be bound (ledger v2: a wallet
  is bound only with its own EIP-712 `WalletBinding` signature), as `xborder wallet prove` prints
  it (DEADLINE:0xSIGNATURE); without it the admin wallet must be a keystore wallet, which signs
  the proof when the roster is applied

Every row is checked before anything is sent and every problem is reported (row, field, value,
what is allowed); only a roster without problems is applied. Applying is idempotent: an
identifier already registered on the chain is skipped (and reported as such), so re-running a
roster, or resuming one that stopped half way, registers nothing twice.
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from web3 import Web3

from xborder.bindings.consent import WalletProof
from xborder.domain.enums import InstitutionKind
from xborder.domain.identifiers import USCC_CHARSET, lei_checksum_ok, lei_with_check, uscc_check_char
from xborder.domain.money import normalise_country, parse_amount
from xborder.errors import ValidationError, WalletError
from xborder.wallets.keystore import Keystore

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

COLUMNS = ("kind", "name", "identifier", "jurisdiction", "capital_base", "admin_wallet")
_OPTIONAL_COLUMNS = ("notes", "admin_proof")
LEI_ALLOWED = "an LEI: 20 characters 0-9/A-Z whose ISO 17442 (MOD 97-10) check digits are valid"
USCC_ALLOWED = (f"a unified social credit code: 18 characters of {USCC_CHARSET} whose last is the "
                "GB 32100-2015 check character")
PROOF_ALLOWED = "DEADLINE:0xSIGNATURE as `xborder wallet prove` prints it (unix seconds, 65-byte signature)"
_PROOF = re.compile(r"^(\d{1,20}):(0x[0-9a-fA-F]{128}|0x[0-9a-fA-F]{130})$")


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
        check = uscc_check_char(text[:17])
        if text[17] != check:
            raise bad(f"has a wrong USCC check character {text[17]!r} (for this prefix it would be {check!r})")
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


def parse_wallet_proof(value: object, field: str = "admin_proof") -> WalletProof | None:
    """'DEADLINE:0xSIGNATURE' -> WalletProof; empty -> None."""
    text = str(value if value is not None else "").strip()
    if not text:
        return None
    match = _PROOF.match(text)
    if match is None:
        raise ValidationError(f"{field}: {text[:40]!r} is not a wallet proof ({PROOF_ALLOWED})", field=field,
                              value=text, allowed=PROOF_ALLOWED)
    return WalletProof(int(match.group(1)), bytes.fromhex(match.group(2)[2:]))


def format_wallet_proof(proof: WalletProof) -> str:
    return f"{proof.deadline}:0x{proof.signature.hex()}"


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
    #: The admin wallet's WalletBinding proof, when the roster carries one.
    admin_proof: WalletProof | None = None

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
                                        "columns: " + ",".join(COLUMNS) + " (optional: notes, admin_proof)"))
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
        proof: dict[str, Any] = {}
        _check(proof, problems, where, {"admin_proof": row.get("admin_proof", "")}, "admin_proof",
               parse_wallet_proof)
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
                                 row["admin_wallet"].strip(), proof.get("admin_proof")))
    return entries


def entry_from_fields(kind: str, name: str, identifier: str, jurisdiction: str, capital_base: str,
                      admin: str, keystore: Keystore | None, admin_proof: str = "") -> Entry:
    """One entry from command-line values (`institution register`), validated like a roster row."""
    problems: list[Problem] = []
    entries = validate_rows([("command line", {"kind": kind, "name": name, "identifier": identifier,
                                               "jurisdiction": jurisdiction, "capital_base": capital_base,
                                               "admin_wallet": admin, "admin_proof": admin_proof})],
                            keystore, problems)
    if problems:
        first = problems[0]
        option = "--" + first.field.replace("_", "-").replace("admin-wallet", "admin").replace("admin-proof", "proof")
        raise ValidationError(f"{option}: {first.message}" + (f" ({len(problems) - 1} more problem(s))"
                                                              if len(problems) > 1 else ""),
                              field=option, value=first.value, allowed=first.allowed)
    return entries[0]


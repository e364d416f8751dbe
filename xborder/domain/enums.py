"""The contracts' enums, defined once, with their display labels.

Member order and names follow `interfaces/*.sol` (`tests/python/test_domain.py` parses the
Solidity and holds these to it): `solidity_name` is the Solidity member name (what the index
stores), `label` is what people read in sentences and tables, `slug` is the CLI / roster spelling.
Nothing else in the package restates a number of these enums.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Self


class ContractEnum(IntEnum):
    """Base of the contracts' enums (uint8 on the wire)."""

    @property
    def solidity_name(self) -> str:
        return "".join(part.capitalize() for part in self.name.split("_"))

    @property
    def label(self) -> str:
        return _LABELS[type(self).__name__][self.value]

    @property
    def slug(self) -> str:
        return self.label.replace(" ", "-")

    @classmethod
    def label_of(cls, value: int) -> str:
        """The label of `value`, or the number itself when the contracts grew a member we do not know."""
        return cls(value).label if value in cls._value2member_map_ else str(value)

    @classmethod
    def by_name(cls, solidity_name: str) -> Self:
        """The member whose Solidity name is `solidity_name` (ValueError if none)."""
        for member in cls:
            if member.solidity_name == solidity_name:
                return member
        raise ValueError(f"{solidity_name!r} is not a {cls.__name__}")

    @classmethod
    def name_of(cls, value: int) -> str:
        """The Solidity name of `value` (or the number itself)."""
        return cls(value).solidity_name if value in cls._value2member_map_ else str(value)


class InstitutionKind(ContractEnum):
    """IInstitutionRegistry.InstitutionKind."""

    DOMESTIC_BANK = 0
    FOREIGN_BANK_BRANCH = 1
    NON_BANK_FINANCIAL_INSTITUTION = 2
    ENTERPRISE = 3
    FOREIGN_CREDITOR = 4
    OBSERVER = 5

    @property
    def slug(self) -> str:
        return _KIND_SLUGS[self.value]

    @classmethod
    def by_slug(cls, slug: str) -> InstitutionKind:
        return next(kind for kind in cls if kind.slug == slug)

    @property
    def is_bank(self) -> bool:
        """Banks may record loans for others (DomesticBank, ForeignBankBranch)."""
        return self in (InstitutionKind.DOMESTIC_BANK, InstitutionKind.FOREIGN_BANK_BRANCH)

    @property
    def can_borrow(self) -> bool:
        return self not in (InstitutionKind.FOREIGN_CREDITOR, InstitutionKind.OBSERVER)


class InstitutionStatus(ContractEnum):
    """IInstitutionRegistry.InstitutionStatus."""

    NONE = 0
    ACTIVE = 1
    SUSPENDED = 2
    REVOKED = 3


class LoanStatus(ContractEnum):
    """ILoanLedger.LoanStatus."""

    NONE = 0
    RECORDED = 1
    ACTIVE = 2
    CLOSED = 3
    CANCELLED = 4
    DEFAULTED = 5


class Parameter(ContractEnum):
    """IMacroPrudentialPolicy.Parameter."""

    LEVERAGE_DOMESTIC_BANK = 0
    LEVERAGE_FOREIGN_BANK_BRANCH = 1
    LEVERAGE_NON_BANK = 2
    LEVERAGE_ENTERPRISE = 3
    ADJUSTMENT_ENTERPRISE = 4
    ADJUSTMENT_FINANCIAL = 5
    TERM_FACTOR_SHORT = 6
    TERM_FACTOR_LONG = 7
    ON_BALANCE_FACTOR = 8
    OFF_BALANCE_FACTOR = 9
    FX_RISK_FACTOR = 10
    ONE_YEAR_SECONDS = 11

    @property
    def slug(self) -> str:
        return self.name.lower().replace("_", "-")

    @property
    def default(self) -> int:
        """The policy constructor's value (bps; seconds for ONE_YEAR_SECONDS); a test holds the
        deployed contract to these."""
        return _PARAMETER_DEFAULTS[self.value]

    @property
    def in_seconds(self) -> bool:
        return self is Parameter.ONE_YEAR_SECONDS

    @property
    def zero_allowed(self) -> bool:
        return self is Parameter.FX_RISK_FACTOR


_KIND_SLUGS = {0: "domestic-bank", 1: "foreign-bank-branch", 2: "non-bank-fi", 3: "enterprise",
               4: "foreign-creditor", 5: "observer"}

_LABELS: dict[str, dict[int, str]] = {
    "InstitutionKind": {0: "domestic bank", 1: "foreign bank branch", 2: "non-bank financial institution",
                        3: "enterprise", 4: "foreign creditor", 5: "observer"},
    "InstitutionStatus": {0: "not registered", 1: "active", 2: "suspended", 3: "revoked"},
    "LoanStatus": {0: "unknown", 1: "recorded (awaiting confirmation)", 2: "active", 3: "closed",
                   4: "cancelled", 5: "defaulted"},
    "Parameter": {0: "leverage ratio, domestic banks", 1: "leverage ratio, foreign bank branches",
                  2: "leverage ratio, non-bank financial institutions", 3: "leverage ratio, enterprises",
                  4: "macro-prudential adjustment parameter, enterprises",
                  5: "macro-prudential adjustment parameter, financial institutions",
                  6: "term risk factor, term up to one year", 7: "term risk factor, term over one year",
                  8: "type risk factor, on-balance-sheet financing",
                  9: "type risk factor, off-balance-sheet financing",
                  10: "exchange-rate risk factor (foreign-currency loans)",
                  11: "length of 'one year' for short/long term, seconds"},
}

_PARAMETER_DEFAULTS = {0: 8000, 1: 8000, 2: 10000, 3: 20000, 4: 17500, 5: 17500, 6: 15000, 7: 10000,
                       8: 10000, 9: 10000, 10: 5000, 11: 31_536_000}

#: Financing types seeded by the policy's constructor (docs/contracts.md): name -> id.
SEEDED_FINANCING_TYPES = {
    "ORDINARY_LOAN": 1, "OFF_BALANCE_FINANCING": 2, "RMB_PASSIVE_LIABILITY": 3,
    "TRADE_CREDIT_FINANCE": 4, "INTRA_GROUP_CASH_POOL": 5, "INTERBANK_LENDING": 6,
    "DOMESTIC_GUARANTEE_OVERSEAS_LOAN": 7,
}

#: The regulator's key id in the registry's encryption-key table.
REGULATOR_KEY_ID = 0

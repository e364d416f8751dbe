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
    WRITTEN_OFF = 6
    EXPIRED = 7

    @property
    def is_live(self) -> bool:
        """Holds its document and counts in the borrower's balance (Active, Defaulted)."""
        return self in (LoanStatus.ACTIVE, LoanStatus.DEFAULTED)

    @property
    def is_final(self) -> bool:
        return self in (LoanStatus.CLOSED, LoanStatus.CANCELLED, LoanStatus.WRITTEN_OFF, LoanStatus.EXPIRED)


class ConsentSide(ContractEnum):
    """ILoanLedger.ConsentSide: which side a consent speaks for."""

    BORROWER = 0
    CREDITOR = 1


class ReasonCode(ContractEnum):
    """ILoanLedger.ReasonCode: why the regulator (or, for an elapsed window, anyone) acted."""

    UNSPECIFIED = 0
    CONFIRMATION_WINDOW_ELAPSED = 1
    DOCUMENT_DISPUTE = 2
    SUSPECTED_FRAUD = 3
    COURT_OR_SANCTIONS = 4
    DATA_CORRECTION = 5
    WRITE_OFF_APPROVED = 6

    @property
    def slug(self) -> str:
        return self.name.lower().replace("_", "-")

    @classmethod
    def by_slug(cls, slug: str) -> ReasonCode:
        return next(reason for reason in cls if reason.slug == slug)


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
    CONFIRMATION_WINDOW_DAYS = 11
    VALUE_DATE_MAX_PAST_DAYS = 12
    VALUE_DATE_MAX_FUTURE_DAYS = 13
    MAX_TERM_DAYS = 14

    @property
    def slug(self) -> str:
        return self.name.lower().replace("_", "-")

    @classmethod
    def by_slug(cls, slug: str) -> Parameter:
        return next(parameter for parameter in cls if parameter.slug == slug)

    @property
    def default(self) -> int:
        """The policy constructor's value (bps, or whole days for the day parameters); a test holds
        the deployed contract to these."""
        return _PARAMETER_DEFAULTS[self.value]

    @property
    def in_days(self) -> bool:
        """Whole days (the confirmation window, the value-date windows, the maximum term), not bps."""
        return self.value >= Parameter.CONFIRMATION_WINDOW_DAYS

    @property
    def unit(self) -> str:
        return "days" if self.in_days else "bps"

    @property
    def minimum(self) -> int:
        """The policy's range: every parameter fits uint16; the window and the max term are >= 1."""
        return 1 if self in (Parameter.CONFIRMATION_WINDOW_DAYS, Parameter.MAX_TERM_DAYS) else 0

    @property
    def maximum(self) -> int:
        return UINT16_MAX

    @property
    def zero_allowed(self) -> bool:
        """Whether xborder lets people set 0: the contract takes 0 for every bps factor, but a zero
        leverage, adjustment, term or type factor forbids all borrowing of a kind (certainly a typo);
        a zero FX risk factor or a zero value-date window is meaningful."""
        return self in (Parameter.FX_RISK_FACTOR, Parameter.VALUE_DATE_MAX_PAST_DAYS,
                        Parameter.VALUE_DATE_MAX_FUTURE_DAYS)


UINT16_MAX = 65_535

_KIND_SLUGS = {0: "domestic-bank", 1: "foreign-bank-branch", 2: "non-bank-fi", 3: "enterprise",
               4: "foreign-creditor", 5: "observer"}

_LABELS: dict[str, dict[int, str]] = {
    "InstitutionKind": {0: "domestic bank", 1: "foreign bank branch", 2: "non-bank financial institution",
                        3: "enterprise", 4: "foreign creditor", 5: "observer"},
    "InstitutionStatus": {0: "not registered", 1: "active", 2: "suspended", 3: "revoked"},
    "LoanStatus": {0: "unknown", 1: "recorded (awaiting confirmation)", 2: "active", 3: "closed",
                   4: "cancelled", 5: "defaulted", 6: "written off", 7: "expired"},
    "ConsentSide": {0: "borrower", 1: "creditor"},
    "ReasonCode": {0: "unspecified", 1: "confirmation window elapsed", 2: "document dispute",
                   3: "suspected fraud", 4: "court order or sanctions", 5: "data correction",
                   6: "write-off approved"},
    "Parameter": {0: "leverage ratio, domestic banks", 1: "leverage ratio, foreign bank branches",
                  2: "leverage ratio, non-bank financial institutions", 3: "leverage ratio, enterprises",
                  4: "macro-prudential adjustment parameter, enterprises",
                  5: "macro-prudential adjustment parameter, financial institutions",
                  6: "term risk factor, term up to one year", 7: "term risk factor, term over one year",
                  8: "type risk factor, on-balance-sheet financing",
                  9: "type risk factor, off-balance-sheet financing",
                  10: "exchange-rate risk factor (foreign-currency loans)",
                  11: "confirmation window of a recorded loan, days",
                  12: "how far the value date may lie in the past, days",
                  13: "how far the value date may lie in the future, days",
                  14: "longest term from value date to maturity, days"},
}

_PARAMETER_DEFAULTS = {0: 8000, 1: 8000, 2: 10000, 3: 20000, 4: 17500, 5: 17500, 6: 15000, 7: 10000,
                       8: 10000, 9: 10000, 10: 5000, 11: 30, 12: 30, 13: 366, 14: 10_958}

#: Financing types seeded by the policy's constructor (docs/contracts.md): name -> id.
SEEDED_FINANCING_TYPES = {
    "ORDINARY_LOAN": 1, "OFF_BALANCE_FINANCING": 2, "RMB_PASSIVE_LIABILITY": 3,
    "TRADE_CREDIT_FINANCE": 4, "INTRA_GROUP_CASH_POOL": 5, "INTERBANK_LENDING": 6,
    "DOMESTIC_GUARANTEE_OVERSEAS_LOAN": 7,
}

#: The regulator's key id in the registry's encryption-key table.
REGULATOR_KEY_ID = 0

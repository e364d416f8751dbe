"""Python model of the xborder contracts' arithmetic (ledger v2), exactly as documented in
docs/contracts.md.

Everything is integer arithmetic; rounding is against the borrower (balances up, limits down).
The balance rule: each drawdown converts at the reference rate and weighs with the policy in
force at its block, adding `contribution(amount, rate, weight)` to the loan's contribution; a
repayment leaves `ceil(contribution x (outstanding - amount) / outstanding)`; the borrower's
balance is the sum of the contributions of its Active and Defaulted loans.
"""

import datetime as dt
from dataclasses import dataclass, field

RATE_ONE = 10**8
BPS = 10**4
DAY = 86400

# Loan statuses (ILoanLedger.LoanStatus)
NONE, RECORDED, ACTIVE, CLOSED, CANCELLED, DEFAULTED, WRITTEN_OFF, EXPIRED = range(8)
LIVE = (ACTIVE, DEFAULTED)  # hold their document, count in the balance
BORROWER_SIDE, CREDITOR_SIDE = 0, 1  # ILoanLedger.ConsentSide
# ILoanLedger.ReasonCode
(UNSPECIFIED, CONFIRMATION_WINDOW_ELAPSED, DOCUMENT_DISPUTE, SUSPECTED_FRAUD, COURT_OR_SANCTIONS,
 DATA_CORRECTION, WRITE_OFF_APPROVED) = range(7)

# Institution kinds / statuses (IInstitutionRegistry)
DOMESTIC_BANK, FOREIGN_BANK_BRANCH, NON_BANK, ENTERPRISE, FOREIGN_CREDITOR, OBSERVER = range(6)
ST_NONE, ST_ACTIVE, ST_SUSPENDED, ST_REVOKED = range(4)

# Policy parameters (IMacroPrudentialPolicy.Parameter), in enum order, with the seeded defaults
PARAMETERS = [
    ("LeverageDomesticBank", 8000),
    ("LeverageForeignBankBranch", 8000),
    ("LeverageNonBank", 10000),
    ("LeverageEnterprise", 20000),
    ("AdjustmentEnterprise", 17500),
    ("AdjustmentFinancial", 17500),
    ("TermFactorShort", 15000),
    ("TermFactorLong", 10000),
    ("OnBalanceFactor", 10000),
    ("OffBalanceFactor", 10000),
    ("FxRiskFactor", 5000),
    ("ConfirmationWindowDays", 30),
    ("ValueDateMaxPastDays", 30),
    ("ValueDateMaxFutureDays", 366),
    ("MaxTermDays", 10958),
]
PARAM_INDEX = {name: i for i, (name, _) in enumerate(PARAMETERS)}
AT_LEAST_ONE = ("ConfirmationWindowDays", "MaxTermDays")

# Seeded financing types: id -> (name, weight bps, off-balance)
FINANCING_TYPES = {
    1: ("ORDINARY_LOAN", 10000, False),
    2: ("OFF_BALANCE_FINANCING", 10000, True),
    3: ("RMB_PASSIVE_LIABILITY", 0, False),
    4: ("TRADE_CREDIT_FINANCE", 0, False),
    5: ("INTRA_GROUP_CASH_POOL", 0, False),
    6: ("INTERBANK_LENDING", 0, False),
    7: ("DOMESTIC_GUARANTEE_OVERSEAS_LOAN", 2000, True),
}


def ceil_div(a, b):
    return -(-a // b)


# ---------------------------------------------------------------- calendar


def add_one_year(timestamp):
    """`timestamp` + one calendar year, same time of day; 29 Feb -> 28 Feb (as dateutil's
    relativedelta(years=1))."""
    t = dt.datetime.fromtimestamp(timestamp, dt.timezone.utc)
    day = 28 if (t.month, t.day) == (2, 29) else t.day
    return int(t.replace(year=t.year + 1, day=day).timestamp())


def is_short_term(value_date, maturity_date):
    return maturity_date <= add_one_year(value_date)


def utc(y, m, d, hh=0, mm=0, ss=0):
    return int(dt.datetime(y, m, d, hh, mm, ss, tzinfo=dt.timezone.utc).timestamp())


# ---------------------------------------------------------------- arithmetic


def base_amount(amount, rate):
    """CNY minor units of `amount` minor units at `rate` (CNY per unit x 1e8), rounded up."""
    return ceil_div(amount * rate, RATE_ONE)


def contribution(amount, rate, weight_bps):
    """What a drawdown of `amount` at `rate` and `weight_bps` adds (CNY minor units, rounded up)."""
    return ceil_div(base_amount(amount, rate) * weight_bps, BPS)


def remaining_after_repay(contribution_, outstanding, amount):
    """Contribution left after repaying `amount` of `outstanding` (pro rata, rounded up)."""
    return ceil_div(contribution_ * (outstanding - amount), outstanding)


@dataclass
class Policy:
    params: dict = field(default_factory=lambda: {n: v for n, v in PARAMETERS})
    types: dict = field(default_factory=lambda: dict(FINANCING_TYPES))
    rates: dict = field(default_factory=dict)

    def rate(self, currency):
        if currency == b"CNY":
            return RATE_ONE
        return self.rates[currency]

    def weight(self, currency, type_id, short_term):
        _, type_weight, off = self.types[type_id]
        if type_weight == 0:
            return 0
        p = self.params
        term = p["TermFactorShort"] if short_term else p["TermFactorLong"]
        type_factor = p["OffBalanceFactor"] if off else p["OnBalanceFactor"]
        w = ceil_div(term * type_factor * type_weight, 10**8)
        if currency != b"CNY":
            w += p["FxRiskFactor"]
        return w

    def limit_factors(self, kind):
        p = self.params
        if kind == ENTERPRISE:
            return p["LeverageEnterprise"], p["AdjustmentEnterprise"]
        if kind == DOMESTIC_BANK:
            return p["LeverageDomesticBank"], p["AdjustmentFinancial"]
        if kind == FOREIGN_BANK_BRANCH:
            return p["LeverageForeignBankBranch"], p["AdjustmentFinancial"]
        if kind == NON_BANK:
            return p["LeverageNonBank"], p["AdjustmentFinancial"]
        return 0, 0

    def limit(self, kind, capital_base):
        leverage, adjustment = self.limit_factors(kind)
        return capital_base * leverage * adjustment // 10**8

    def confirm_by(self, now):
        return now + self.params["ConfirmationWindowDays"] * DAY


def fits(balance_after, delta, limit):
    """A drawdown fits when it adds nothing or stays within the limit."""
    return delta == 0 or balance_after <= limit


@dataclass
class Loan:
    loan_id: int
    borrower: int
    creditor: int
    recorder: int
    currency: bytes
    principal: int
    value_date: int
    maturity_date: int
    financing_type: int
    document_hash: bytes
    status: int
    short_term: bool
    confirm_by: int = 0
    borrower_consented: bool = False
    creditor_consented: bool = False
    drawn: int = 0
    outstanding: int = 0
    contribution: int = 0

    def draw(self, amount, delta):
        self.drawn += amount
        self.outstanding += amount
        self.contribution += delta

    def repay(self, amount):
        """Returns the contribution removed; closes the loan as the contract does."""
        remaining = remaining_after_repay(self.contribution, self.outstanding, amount)
        removed = self.contribution - remaining
        self.outstanding -= amount
        self.contribution = remaining
        if self.outstanding == 0 and (self.status == DEFAULTED or self.drawn == self.principal):
            self.status = CLOSED
        return removed

    @property
    def counted(self):
        return self.contribution if self.status in LIVE else 0


class Ledger:
    """Model of the ledger's per-borrower state, fed with the same operations as the contract."""

    def __init__(self):
        self.loans = {}
        self.loan_count = {}

    def next_id(self, borrower):
        return (borrower << 32) | (self.loan_count.get(borrower, 0) + 1)

    def add(self, loan):
        self.loan_count[loan.borrower] = self.loan_count.get(loan.borrower, 0) + 1
        assert loan.loan_id == (loan.borrower << 32) | self.loan_count[loan.borrower]
        self.loans[loan.loan_id] = loan

    def balance(self, borrower):
        return sum(l.counted for l in self.loans.values() if l.borrower == borrower)

    def live_loans_of_document(self, document_hash):
        return [l for l in self.loans.values() if l.document_hash == document_hash and l.status in LIVE]


# ---------------------------------------------------------------- packed words (contracts/types/*.sol)


def institution_core(admin, kind, status, capital_base, signature_epoch=0):
    """InstitutionCore: admin (0-159) | kind (160) | status (168) | capitalBase (176) | signatureEpoch (240)."""
    return int(str(admin), 16) | kind << 160 | status << 168 | capital_base << 176 | signature_epoch << 240


def loan_header(borrower, creditor, recorder, currency, financing_type, status, borrower_consented=False,
                creditor_consented=False, short_term=False, value_date=0, maturity_date=0, confirm_by=0):
    """LoanHeader: borrower | creditor << 32 | recorder << 64 | currency << 96 | financingType << 120 |
    status << 128 | flags << 136 | valueDate << 144 | maturityDate << 176 | confirmBy << 208."""
    flags = int(borrower_consented) | int(creditor_consented) << 1 | int(short_term) << 2
    return (borrower | creditor << 32 | recorder << 64 | int.from_bytes(currency, "big") << 96
            | financing_type << 120 | status << 128 | flags << 136 | value_date << 144 | maturity_date << 176
            | confirm_by << 208)


def loan_amounts(principal, drawn=0, outstanding=0, contribution_=0):
    """LoanAmounts: principal | drawn << 64 | outstanding << 128 | contribution << 192."""
    return principal | drawn << 64 | outstanding << 128 | contribution_ << 192


# ---------------------------------------------------------------- EIP-712

_DOMAIN = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


def _typed(primary, fields, message, name, chain_id, verifying_contract):
    return {
        "types": {"EIP712Domain": _DOMAIN, primary: [{"name": n, "type": t} for n, t in fields]},
        "primaryType": primary,
        "domain": {"name": name, "version": "2", "chainId": chain_id, "verifyingContract": str(verifying_contract)},
        "message": message,
    }


LOAN_CONSENT_FIELDS = [
    ("submitter", "uint32"), ("borrower", "uint32"), ("creditor", "uint32"), ("currency", "bytes3"),
    ("principal", "uint64"), ("valueDate", "uint32"), ("maturityDate", "uint32"), ("financingType", "uint8"),
    ("documentHash", "bytes32"), ("termsHash", "bytes32"), ("drawAmount", "uint64"), ("nonce", "uint64"),
    ("epoch", "uint16"), ("deadline", "uint64"),
]
EXTENSION_CONSENT_FIELDS = [
    ("submitter", "uint32"), ("loanId", "uint64"), ("newMaturityDate", "uint32"), ("nonce", "uint64"),
    ("epoch", "uint16"), ("deadline", "uint64"),
]
WALLET_BINDING_FIELDS = [("identifier", "bytes20"), ("wallet", "address"), ("nonce", "uint64"), ("deadline", "uint64")]


def consent_typed_data(request, draw_amount, submitter, nonce, epoch, deadline, chain_id, ledger):
    """EIP-712 typed data of the borrower's LoanConsent (for eth_account.messages.encode_typed_data)."""
    (borrower, creditor, currency, principal, value_date, maturity_date, financing_type,
     document_hash, terms_hash) = request
    message = {
        "submitter": submitter, "borrower": borrower, "creditor": creditor, "currency": bytes(currency),
        "principal": principal, "valueDate": value_date, "maturityDate": maturity_date,
        "financingType": financing_type, "documentHash": bytes(document_hash), "termsHash": bytes(terms_hash),
        "drawAmount": draw_amount, "nonce": nonce, "epoch": epoch, "deadline": deadline,
    }
    return _typed("LoanConsent", LOAN_CONSENT_FIELDS, message, "xborder LoanLedger", chain_id, ledger)


def extension_consent_typed_data(submitter, loan_id, new_maturity, nonce, epoch, deadline, chain_id, ledger):
    message = {"submitter": submitter, "loanId": loan_id, "newMaturityDate": new_maturity, "nonce": nonce,
               "epoch": epoch, "deadline": deadline}
    return _typed("ExtensionConsent", EXTENSION_CONSENT_FIELDS, message, "xborder LoanLedger", chain_id, ledger)


def wallet_binding_typed_data(identifier, wallet, nonce, deadline, chain_id, registry):
    message = {"identifier": bytes(identifier), "wallet": str(wallet), "nonce": nonce, "deadline": deadline}
    return _typed("WalletBinding", WALLET_BINDING_FIELDS, message, "xborder InstitutionRegistry", chain_id, registry)

"""Python model of the xborder contracts' arithmetic, exactly as documented in docs/contracts.md.

Everything is integer arithmetic; rounding is against the borrower (balances up, limits down).
"""

from dataclasses import dataclass, field

RATE_ONE = 10**8
BPS = 10**4
ONE_YEAR = 365 * 86400

# Loan statuses (ILoanLedger.LoanStatus)
NONE, RECORDED, ACTIVE, CLOSED, CANCELLED, DEFAULTED = range(6)
LIVE = (RECORDED, ACTIVE)

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
    ("OneYearSeconds", ONE_YEAR),
]
PARAM_INDEX = {name: i for i, (name, _) in enumerate(PARAMETERS)}

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


def base_amount(amount, rate):
    """CNY minor units of `amount` minor units at `rate` (CNY per unit x 1e8), rounded up."""
    return ceil_div(amount * rate, RATE_ONE)


def contribution(outstanding, rate, weight_bps):
    return ceil_div(base_amount(outstanding, rate) * weight_bps, BPS)


@dataclass
class Policy:
    params: dict = field(default_factory=lambda: {n: v for n, v in PARAMETERS})
    types: dict = field(default_factory=lambda: dict(FINANCING_TYPES))
    rates: dict = field(default_factory=dict)

    def rate(self, currency):
        if currency == b"CNY":
            return RATE_ONE
        return self.rates[currency]

    def weight(self, currency, type_id, term_seconds):
        _, type_weight, off = self.types[type_id]
        if type_weight == 0:
            return 0
        p = self.params
        term = p["TermFactorShort"] if term_seconds <= p["OneYearSeconds"] else p["TermFactorLong"]
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
    rate: int
    weight: int
    status: int
    drawn: int = 0
    outstanding: int = 0

    @property
    def contribution(self):
        return contribution(self.outstanding, self.rate, self.weight) if self.status == ACTIVE else 0


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
        return sum(l.contribution for l in self.loans.values() if l.borrower == borrower)

    def live_loans_of_document(self, document_hash):
        return [l for l in self.loans.values() if l.document_hash == document_hash and l.status in LIVE]


def consent_typed_data(request, draw_amount, nonce, deadline, chain_id, verifying_contract):
    """EIP-712 typed data of the borrower's LoanConsent (for eth_account.messages.encode_typed_data)."""
    (borrower, creditor, currency, principal, value_date, maturity_date, financing_type,
     document_hash, terms_hash) = request
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "LoanConsent": [
                {"name": "borrower", "type": "uint32"},
                {"name": "creditor", "type": "uint32"},
                {"name": "currency", "type": "bytes3"},
                {"name": "principal", "type": "uint64"},
                {"name": "valueDate", "type": "uint32"},
                {"name": "maturityDate", "type": "uint32"},
                {"name": "financingType", "type": "uint8"},
                {"name": "documentHash", "type": "bytes32"},
                {"name": "termsHash", "type": "bytes32"},
                {"name": "drawAmount", "type": "uint64"},
                {"name": "nonce", "type": "uint32"},
                {"name": "deadline", "type": "uint64"},
            ],
        },
        "primaryType": "LoanConsent",
        "domain": {
            "name": "xborder LoanLedger",
            "version": "1",
            "chainId": chain_id,
            "verifyingContract": verifying_contract,
        },
        "message": {
            "borrower": borrower,
            "creditor": creditor,
            "currency": bytes(currency),
            "principal": principal,
            "valueDate": value_date,
            "maturityDate": maturity_date,
            "financingType": financing_type,
            "documentHash": bytes(document_hash),
            "termsHash": bytes(terms_hash),
            "drawAmount": draw_amount,
            "nonce": nonce,
            "deadline": deadline,
        },
    }

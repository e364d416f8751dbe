"""A seeded, realistic cross-border financing workload, shaped like what SAFE's platform had
processed by the end of October 2019: about 6,370 financing transactions totalling about
USD 6.8 billion for about 1,262 enterprises through a few dozen banks, in several currencies,
with terms under and over one year.

Pure data: no chain, no wallets. The demo turns it into transactions; the tests use small ones.
Every figure comes from one `random.Random(seed)`, so the same seed gives the same workload.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from xborder.domain.identifiers import USCC_CHARSET, lei_check_digits, uscc_check_char

DAY = 86_400
T = TypeVar("T")

# Central parity style reference rates (CNY per 1 unit), late-2019 magnitudes.
REFERENCE_RATES: dict[str, str] = {
    "USD": "7.0383", "EUR": "7.7612", "HKD": "0.89823", "JPY": "0.064657", "GBP": "9.0637",
    "SGD": "5.1673",
}
# Share of loans by currency; CNY loans carry no exchange-rate risk factor.
CURRENCY_MIX = [("USD", 0.52), ("EUR", 0.12), ("HKD", 0.13), ("CNY", 0.10), ("JPY", 0.06),
                ("GBP", 0.04), ("SGD", 0.03)]
# Financing-type ids of the seeded table (docs/contracts.md) and their share.
TYPE_MIX = [(1, 0.80), (7, 0.04), (4, 0.08), (5, 0.04), (2, 0.04)]
CREDITOR_COUNTRIES = [("HK", 0.38), ("SG", 0.12), ("US", 0.10), ("GB", 0.09), ("DE", 0.07),
                      ("JP", 0.07), ("FR", 0.05), ("KY", 0.05), ("VG", 0.04), ("KR", 0.03)]
BANK_NAMES = ["Industrial", "Commerce", "Construction", "Agricultural", "Communications",
              "Merchants", "Everbright", "Minsheng", "Huaxia", "CITIC", "Pudong Development",
              "Ping An", "Guangfa", "Zheshang", "Bohai", "Hengfeng", "Postal Savings", "Beijing",
              "Shanghai", "Jiangsu", "Ningbo", "Nanjing", "Hangzhou", "Xiamen International",
              "Qingdao", "Chongqing", "Chengdu", "Tianjin", "Harbin", "Shengjing"]
CITIES = ["Shanghai", "Shenzhen", "Beijing", "Guangzhou", "Hangzhou", "Suzhou", "Tianjin",
          "Xiamen", "Ningbo", "Qingdao", "Chengdu", "Wuhan", "Dalian", "Nanjing", "Chongqing"]
SECTORS = ["Electronics", "Logistics", "Chemicals", "Textiles", "Machinery", "Pharma",
           "Auto Parts", "Software", "New Energy", "Food", "Shipping", "Steel", "Retail", "Media"]


@dataclass(frozen=True)
class WorkloadInstitution:
    index: int  # position in the roster: institution id = index + 1 after onboarding in order
    kind: int  # InstitutionKind (docs/contracts.md)
    name: str
    identifier: str
    jurisdiction: str
    capital_base: int  # CNY minor units

    @property
    def institution_id(self) -> int:
        return self.index + 1


@dataclass(frozen=True)
class Tranche:
    """A later action on a loan: a drawdown or a repayment (amount in loan minor units), an
    extension (amount: days added to the maturity) or a default (amount 0)."""

    kind: str  # "draw" | "repay" | "extend" | "default"
    amount: int


@dataclass(frozen=True)
class WorkloadLoan:
    number: int
    borrower: int  # roster index
    creditor: int  # roster index
    recorder: int  # roster index (the borrower's bank)
    currency: str
    principal: int
    value_date: int
    maturity_date: int
    financing_type: int
    document: str
    interest_rate_bps: int
    purpose: str
    co_signed: bool  # recorded with the borrower's EIP-712 consent (and first draw) in one tx
    first_draw: int
    later: tuple[Tranche, ...] = ()
    intent: str = "normal"  # "normal" | "over-limit" | "duplicate-document" | "after-tightening"


@dataclass(frozen=True)
class Workload:
    seed: int
    institutions: list[WorkloadInstitution]
    loans: list[WorkloadLoan]
    rates: dict[str, str]
    regulator_index: int = 0
    bank_indices: list[int] = field(default_factory=list)
    enterprise_indices: list[int] = field(default_factory=list)
    creditor_indices: list[int] = field(default_factory=list)

    def total_usd(self) -> float:
        usd = float(self.rates["USD"])
        return sum(loan.principal / 100 * (float(self.rates[loan.currency]) if loan.currency != "CNY" else 1.0)
                   for loan in self.loans) / usd


def _pick(rng: random.Random, mix: Sequence[tuple[T, float]]) -> T:
    x = rng.random()
    acc = 0.0
    for value, weight in mix:
        acc += weight
        if x < acc:
            return value
    return mix[-1][0]


def _lei(rng: random.Random, prefix: str) -> str:
    body = prefix + "".join(rng.choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(18 - len(prefix)))
    return body + lei_check_digits(body)


def _uscc(rng: random.Random) -> str:
    body = "91" + f"{rng.randrange(110000, 659999):06d}" + "".join(rng.choice(USCC_CHARSET[:-1]) for _ in range(9))
    return body + uscc_check_char(body)


BRANCH_NAMES = ["HSBC-like", "Citi-like", "DBS-like", "MUFG-like", "SocGen-like", "StanChart-like"]


@dataclass
class _Roster:
    """The institutions, drawn from `rng` in a fixed order (the same seed gives the same roster)."""

    rng: random.Random
    insts: list[WorkloadInstitution] = field(default_factory=list)

    def add(self, kind: int, name: str, identifier: str, country: str, capital_cny: float) -> int:
        self.insts.append(WorkloadInstitution(len(self.insts), kind, name, identifier, country,
                                              int(round(capital_cny)) * 100))
        return len(self.insts) - 1

    def banks(self, banks: int, foreign_branches: int) -> list[int]:
        rng, n = self.rng, len(BANK_NAMES)
        out = [self.add(0, f"{BANK_NAMES[i % n]} Bank" + (f" {i // n + 1}" if i >= n else ""), _lei(rng, "300300"),
                        "CN", rng.uniform(2e10, 2e12)) for i in range(banks)]
        return out + [self.add(1, f"{c} Bank (China) Branch {i + 1}", _lei(rng, "549300"), "CN",
                               rng.uniform(1e9, 2e10))
                      for i, c in enumerate(rng.choice(BRANCH_NAMES) for _ in range(foreign_branches))]

    def nbfis(self, count: int) -> list[int]:
        rng = self.rng
        return [self.add(2, f"{rng.choice(CITIES)} Finance Leasing Co {i + 1}", _uscc(rng), "CN", rng.uniform(1e9, 1e10))
                for i in range(count)]

    def creditors(self, count: int) -> list[int]:
        out = []
        for i in range(count):
            country = _pick(self.rng, CREDITOR_COUNTRIES)
            out.append(self.add(4, f"Overseas Lender {country}-{i + 1:03d}", _lei(self.rng, "213800"), country, 0))
        return out

    def enterprises(self, count: int) -> list[int]:
        rng, out = self.rng, []
        for i in range(count):
            # Net assets: log-normal around CNY 60 million (small and mid-sized importers/exporters).
            capital = math.exp(rng.gauss(math.log(6e7), 1.0))
            out.append(self.add(3, f"{rng.choice(CITIES)} {rng.choice(SECTORS)} Co {i + 1:04d}", _uscc(rng), "CN",
                                min(max(capital, 5e6), 5e9)))
        return out

    def size_capitals(self, borrowers: list[int], activity: list[float], loans: int, total_usd: float,
                      adjustment: float) -> None:
        """Busy borrowers are bigger companies: give each enterprise enough capital for its expected
        borrowing (limit = capital x leverage 2 x `adjustment`) with a random margin, so that most
        fit and a few run into their limit."""
        share = sum(activity)
        mean_loan_cny = total_usd * float(REFERENCE_RATES["USD"]) / max(loans, 1)
        for borrower, weight in zip(borrowers, activity, strict=True):
            inst = self.insts[borrower]
            if inst.kind != 3:
                continue
            expected_rw = weight / share * loans * mean_loan_cny * 1.6
            needed = expected_rw / (2 * adjustment) * self.rng.uniform(0.9, 3.0)
            if needed * 100 > inst.capital_base:
                self.insts[borrower] = replace(inst, capital_base=int(round(needed)) * 100)


@dataclass
class _Loans:
    rng: random.Random
    borrowers: list[int]
    activity: list[float]
    creditors: list[int]
    banks: list[int]
    home_bank: dict[int, int]
    start_ts: int
    documents: list[str] = field(default_factory=list)
    #: Value dates fall in [start_ts, start_ts + span_days days] (300: Jan-Oct 2019).
    span_days: int = 300
    #: Also extensions and a few defaults (the 2022-scale run); off, the RNG draws are the 2019 demo's.
    lifecycle: bool = False
    #: `activity` accumulated once: `rng.choices(weights=...)` accumulates them on every call, which
    #: made planning quadratic (131 s of the 2022-scale run: 85,000 loans x 12,000 borrowers). The
    #: draws are the same (`choices` accumulates `weights` into exactly these `cum_weights`).
    _cum_activity: list[float] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._cum_activity = list(itertools.accumulate(self.activity))

    def tranches(self, principal: int, co_signed: bool) -> tuple[int, tuple[Tranche, ...]]:
        rng = self.rng
        later: list[Tranche] = []
        first = (principal if rng.random() < 0.6 else principal // 2) if co_signed else 0
        remaining = principal - first
        pieces = rng.choice([1, 2, 3]) if remaining else 0
        for i in range(pieces):
            amount = remaining - (remaining // pieces) * (pieces - 1) if i == pieces - 1 else remaining // pieces
            if amount:
                later.append(Tranche("draw", amount))
        if rng.random() < 0.35:
            repay = principal if rng.random() < 0.3 else principal * rng.randint(10, 60) // 100
            if repay:
                later.append(Tranche("repay", repay))
        return first, tuple(later)

    def lifecycle_tranches(self, later: tuple[Tranche, ...], first: int, principal: int,
                           short: bool) -> tuple[Tranche, ...]:
        """Extensions (long-term loans only, so the term class never changes and no borrower consent
        is needed: `amount` is the days added to the maturity) and a few defaults (a drawn loan not
        repaid in full: the lender side declares it; it keeps counting)."""
        rng, out = self.rng, list(later)
        if not short and rng.random() < 0.10:  # before any repayment (a loan repaid in full is closed)
            at = next((k for k, t in enumerate(out) if t.kind == "repay"), len(out))
            out.insert(at, Tranche("extend", rng.choice([90, 180, 365])))
        repaid_in_full = any(t.kind == "repay" and t.amount >= principal for t in out)
        if (first or any(t.kind == "draw" for t in out)) and not repaid_in_full and rng.random() < 0.004:
            out.append(Tranche("default", 0))
        return tuple(out)

    def loan(self, n: int, usd_amount: float) -> WorkloadLoan:
        rng = self.rng
        borrower = rng.choices(self.borrowers, cum_weights=self._cum_activity)[0]
        currency = _pick(rng, CURRENCY_MIX)
        rate = 1.0 if currency == "CNY" else float(REFERENCE_RATES[currency])
        principal = max(int(usd_amount * float(REFERENCE_RATES["USD"]) / rate), 10_000) * 100
        short = rng.random() < 0.42
        term_days = rng.randint(90, 365) if short else rng.randint(366, 5 * 365)
        value = self.start_ts + rng.randint(0, self.span_days) * DAY
        ftype = _pick(rng, TYPE_MIX)
        creditor = rng.choice(self.creditors)
        recorder = self.home_bank.get(borrower, rng.choice(self.banks))
        doc = f"CBF-{value // DAY}-{n:05d}-{rng.getrandbits(32):08x}"
        intent = "normal"
        if self.documents and rng.random() < 0.012:
            doc = rng.choice(self.documents)  # the same contract presented to finance a second loan
            intent = "duplicate-document"
        self.documents.append(doc)
        co_signed = rng.random() < 0.55
        first, later = self.tranches(principal, co_signed)
        if self.lifecycle:
            later = self.lifecycle_tranches(later, first, principal, short)
        return WorkloadLoan(
            number=n, borrower=borrower, creditor=creditor, recorder=recorder, currency=currency,
            principal=principal, value_date=value, maturity_date=value + term_days * DAY,
            financing_type=ftype, document=doc, interest_rate_bps=rng.randint(180, 650),
            purpose=rng.choice(["working capital", "equipment import", "refinancing", "project", "trade"]),
            co_signed=co_signed, first_draw=first, later=later, intent=intent)

    def over_limit(self, number: int, k: int, enterprises: list[int], insts: list[WorkloadInstitution]) -> WorkloadLoan:
        """A deliberately oversized request: it must be refused by the limit check."""
        rng = self.rng
        borrower = rng.choice(enterprises)
        principal = int(insts[borrower].capital_base * 3.6)  # above capital x 2 x 1.75: refused under any calendar value
        value = self.start_ts + rng.randint(0, self.span_days) * DAY
        return WorkloadLoan(
            number=number, borrower=borrower, creditor=rng.choice(self.creditors),
            recorder=self.home_bank[borrower], currency="CNY", principal=principal, value_date=value,
            maturity_date=value + 3 * 365 * DAY, financing_type=1,
            document=f"CBF-OVER-{k:04d}-{rng.getrandbits(32):08x}", interest_rate_bps=400,
            purpose="acquisition", co_signed=True, first_draw=principal, intent="over-limit")


def _spread(loans: list[WorkloadLoan], extra: list[WorkloadLoan]) -> list[WorkloadLoan]:
    """Keep chain order realistic: the extra loans are spread through the run."""
    out = list(loans)
    for k, item in enumerate(extra):
        out.insert((k + 1) * len(out) // (len(extra) + 1), item)
    return out


def generate(seed: int = 2019, enterprises: int = 1262, banks: int = 36, foreign_branches: int = 6,
             nbfis: int = 4, creditors: int = 60, loans: int = 6370,
             total_usd: float = 6.8e9, start_ts: int = 1_546_300_800, adjustment: float = 1.75,
             span_days: int = 300, lifecycle: bool = False) -> Workload:
    """The workload; defaults give the full demo, smaller numbers give test workloads. Capital bases
    are sized for the enterprises' adjustment parameter `adjustment` (1.0 in 2019). Value dates
    spread over `span_days` from `start_ts`; `lifecycle` adds extensions and a few defaults."""
    rng = random.Random(seed)
    roster = _Roster(rng)
    regulator = roster.add(5, "State Administration of Foreign Exchange (observer)", _lei(rng, "300300"), "CN", 0)
    bank_idx = roster.banks(banks, foreign_branches)
    nbfi_idx = roster.nbfis(nbfis)
    creditor_idx = roster.creditors(creditors)
    ent_idx = roster.enterprises(enterprises)
    home_bank = {e: rng.choice(bank_idx) for e in ent_idx}
    borrowers = ent_idx + nbfi_idx
    # A few enterprises borrow a lot: Zipf-like activity.
    activity = [1.0 / (rank + 1) ** 0.6 for rank in range(len(borrowers))]
    rng.shuffle(activity)
    # Amounts: log-normal, scaled so that the total is about `total_usd`.
    raw = [math.exp(rng.gauss(0.0, 1.1)) for _ in range(loans)]
    scale = total_usd / sum(raw)
    roster.size_capitals(borrowers, activity, loans, total_usd, adjustment)
    maker = _Loans(rng, borrowers, activity, creditor_idx, bank_idx, home_bank, start_ts, span_days=span_days,
                   lifecycle=lifecycle)
    normal = [maker.loan(n, raw[n] * scale) for n in range(loans)]
    extra = [maker.over_limit(loans + k, k, ent_idx, roster.insts) for k in range(max(1, loans // 300))]
    return Workload(seed=seed, institutions=roster.insts, loans=_spread(normal, extra), rates=dict(REFERENCE_RATES),
                    regulator_index=regulator, bank_indices=bank_idx,
                    enterprise_indices=ent_idx, creditor_indices=creditor_idx)

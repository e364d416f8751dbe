"""Loans for the benchmark: realistic currencies, amounts, terms and documents, co-signed by the
borrower's own wallet and recorded by its bank's wallet (the creditor's agent), value dates around
the bench chain's own time (the v2 date windows)."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from eth_hash.auto import keccak

from xborder.bench.world import Party, World
from xborder.services.confidential import TermsSealer
from xborder.services.loan_batch import LoanItem
from xborder.services.terms import LoanTerms
from xborder.services.workload import CURRENCY_MIX, DAY, REFERENCE_RATES


def _pick(rng: random.Random, mix: Sequence[tuple[str, float]]) -> str:
    x, acc = rng.random(), 0.0
    for value, weight in mix:
        acc += weight
        if x < acc:
            return value
    return mix[-1][0]


def make_items(world: World, count: int, *, borrowers: Sequence[Party], tag: str, seed: int,
               draw_half: bool = True, sealer: TermsSealer | None = None) -> list[LoanItem]:
    """`count` co-signed loans (recorded Active with a first drawdown in one transaction), each
    co-signed by the borrower naming its home bank (an agent of every creditor) as submitter."""
    rng = random.Random(seed)
    items = []
    for n in range(count):
        borrower = borrowers[rng.randrange(len(borrowers))]
        bank = world.home_bank[borrower.institution_id]
        creditor = world.creditors[rng.randrange(len(world.creditors))]
        currency = _pick(rng, CURRENCY_MIX)
        usd = math.exp(rng.gauss(math.log(1_000_000), 1.0))
        rate = 1.0 if currency == "CNY" else float(REFERENCE_RATES[currency])
        principal = max(int(usd * 7.04 / rate), 10_000) * 100
        value = world.start - 20 * DAY + rng.randrange(300) * DAY  # within the v2 value-date window
        term = rng.randint(90, 365) if rng.random() < 0.42 else rng.randint(366, 5 * 365)
        doc = f"BENCH-{tag}-{n:07d}-{rng.getrandbits(32):08x}".encode()
        terms = LoanTerms(interest_rate=f"{rng.randint(180, 650) / 100:.2f}",
                          purpose=rng.choice(["working capital", "equipment import", "refinancing", "trade"]),
                          external_ref=f"CBF-{tag}-{n:07d}", document_name=f"facility-{n:07d}.pdf")
        items.append(LoanItem.build(
            borrower=borrower.institution_id, creditor=creditor.institution_id, currency=currency,
            principal=principal, value_date=value, maturity_date=value + term * DAY, financing_type=1,
            document=bytes(keccak(doc)), terms=terms, recorder=bank.account, borrower_account=borrower.account,
            draw=principal // 2 if draw_half else principal, ref=doc.decode(), sealer=sealer))
    return items

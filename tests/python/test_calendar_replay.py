"""The real PBOC/SAFE calendar replayed on a real anvil (issue #14's acceptance test).

The chain starts on 2 December 2019; the regulator applies the calendar
(`xborder.services.policy.apply_calendar`, the function the 2022-scale demo uses) on each date the
chain's clock reaches. On dates before 11 Mar 2020, after the 11 Mar 2020 loosening, after 11 Dec
2020 (financial institutions back to 1.0) and after 7 Jan 2021 (enterprises back to 1.0), the limit
of one enterprise and one bank is exactly capital base x leverage x adjustment — the Python
arithmetic (`xborder.domain.limits`) and the contract's own `borrowingLimit` agree. A loan drawn
before the January 2021 tightening runs on (Active, contribution unchanged, repayable); a new
drawdown after it that would exceed the new limit is refused with `BorrowingLimitExceeded` and its
values, and fits again once a repayment brings the balance under the new limit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from loan_setup import BANK_A, BANK_B, BORROWER_Y, CAST, World, build_world
from web3.types import RPCEndpoint

from xborder.bindings.client import calldata
from xborder.chain import start_anvil
from xborder.chain.rpc import revert_data
from xborder.domain import calendar, limits
from xborder.domain.dates import DAY
from xborder.domain.enums import InstitutionKind, Parameter
from xborder.domain.loans import LoanRequest, document_hash
from xborder.errors import TransactionRejected
from xborder.services import policy
from xborder.services import terms as T

GENESIS = dt.datetime(2019, 12, 2, tzinfo=dt.UTC)
E, F = Parameter.ADJUSTMENT_ENTERPRISE, Parameter.ADJUSTMENT_FINANCIAL
CAPITAL_Y = int(CAST[BORROWER_Y - 1][3])  # 20,000,000.00 CNY
CAPITAL_BANK = int(CAST[BANK_A - 1][3])  # 1,000,000,000.00 CNY, domestic bank


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with start_anvil(log_path=tmp_path / "anvil.log", extra_args=["--timestamp", str(int(GENESIS.timestamp()))]) as node:
        yield build_world(node.rpc_url, tmp_path / "deployments")


def move_to(world: World, day: dt.date, hour: int = 9) -> None:
    """The chain's clock to `day` `hour`:00 UTC (one block at that time)."""
    moment = int(dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC).timestamp())
    world.client.rpc.call("evm_setNextBlockTimestamp", [moment])
    world.client.rpc.call("evm_mine")
    assert world.client.now() == moment


def limits_on_chain(world: World) -> tuple[int, int]:
    ledger = world.client.ledger.functions
    return int(ledger.borrowingLimit(BORROWER_Y).call()), int(ledger.borrowingLimit(BANK_A).call())


def python_limits(on: dt.date) -> tuple[int, int]:
    params = {p: calendar.in_force(p, on) for p in (E, F)}
    return (limits.borrowing_limit(InstitutionKind.ENTERPRISE, CAPITAL_Y, params),
            limits.borrowing_limit(InstitutionKind.DOMESTIC_BANK, CAPITAL_BANK, params))


def revert_of(world: World, sender: str, loan_id: int, amount: int) -> bytes:
    """The raw revert data of drawdown(loan_id, amount) from `sender` at the latest block (the contract's
    own error and values, decoded independently of the sentence the engine made of it)."""
    call = {"from": sender, "to": str(world.client.ledger.address),
            "data": "0x" + bytes(calldata(world.client.ledger.functions.drawdown(loan_id, amount))).hex()}
    answer = world.w3.provider.make_request(RPCEndpoint("eth_call"), [call, "latest"])
    data = revert_data(answer["error"])
    assert data is not None, answer
    return data


def cny_request(world: World, principal: int, doc: str) -> tuple[LoanRequest, T.SealedTerms]:
    """A two-year CNY ordinary loan valued today: weight 1.0 (long-term, no FX factor), so its
    contribution is the amount drawn."""
    sealed = T.seal(T.LoanTerms(interest_rate="4.35", purpose="working capital"))
    value = world.client.now() // DAY * DAY
    return LoanRequest(BORROWER_Y, BANK_A, "CNY", principal, value, value + 730 * DAY, 1, document_hash(doc),
                       sealed.terms_hash), sealed


def test_the_calendar_on_its_dates(world: World) -> None:
    s, bank, borrower = world.service, world.wallets[BANK_A], world.wallets[BORROWER_Y]
    # (date, enterprise adjustment, financial adjustment, enterprise limit, bank limit), CNY fen
    expected = [
        (dt.date(2019, 12, 16), 10_000, 10_000, 40_000_000_00, 800_000_000_00),   # 1.0 (Yinfa [2017] No. 9)
        (dt.date(2020, 3, 11), 12_500, 12_500, 50_000_000_00, 1_000_000_000_00),  # loosening, both 1.25
        (dt.date(2020, 12, 11), 12_500, 10_000, 50_000_000_00, 800_000_000_00),   # financial institutions 1.0
        (dt.date(2021, 1, 7), 10_000, 10_000, 40_000_000_00, 800_000_000_00),     # enterprises 1.0
    ]
    assert policy.parameters(world.client)[E.slug] == 17_500  # the constructor's (today's) value
    applied_on: dict[dt.date, list[tuple[Parameter, int]]] = {}
    loan_a = loan_b = 0
    for day, e_bps, f_bps, e_limit, bank_limit in expected:
        if day == dt.date(2021, 1, 7):
            # Before the enterprise tightening (20 Dec 2020, limit 50M): loan A drawn 45M, loan B Active, undrawn.
            move_to(world, dt.date(2020, 12, 20))
            assert policy.apply_calendar(world.client, world.regulator) == []  # nothing due that day
            req_a, sealed_a = cny_request(world, 45_000_000_00, "CAL-A")
            loan_a = s.record_co_signed(bank, borrower, req_a, sealed_a, draw=45_000_000_00).loan_id
            req_b, sealed_b = cny_request(world, 5_000_000_00, "CAL-B")
            loan_b = s.record_co_signed(bank, borrower, req_b, sealed_b).loan_id
            assert s.exposure(BORROWER_Y).balance == 45_000_000_00
        move_to(world, day)
        applied_on[day] = policy.apply_calendar(world.client, world.regulator)  # on the chain's own date
        values = policy.parameters(world.client)
        assert (values[E.slug], values[F.slug]) == (e_bps, f_bps), day
        assert python_limits(day) == (e_limit, bank_limit) == limits_on_chain(world), day
        assert policy.apply_calendar(world.client, world.regulator) == []  # idempotent: a resumed run sends nothing

    assert applied_on == {dt.date(2019, 12, 16): [(E, 10_000), (F, 10_000)],
                          dt.date(2020, 3, 11): [(E, 12_500), (F, 12_500)],
                          dt.date(2020, 12, 11): [(F, 10_000)],
                          dt.date(2021, 1, 7): [(E, 10_000)]}
    # The other bank (foreign bank branch, 500,000,000.00 CNY x 0.8 x 1.0) reads the same on chain.
    assert int(world.client.ledger.functions.borrowingLimit(BANK_B).call()) == 400_000_000_00

    # After 7 Jan 2021 the enterprise's limit is 40M: loan A (45M drawn before) runs on, over the limit.
    view = s.show(loan_a)
    assert (view.status, view.outstanding, view.contribution_cny) == ("Active", 45_000_000_00,
                                                                      45_000_000_00)
    assert s.exposure(BORROWER_Y).balance == 45_000_000_00
    # A new drawdown of 1,000,000.00 on loan B (it would have fitted the 50M limit) is refused.
    with pytest.raises(TransactionRejected) as refused:
        s.draw(borrower, loan_b, 1_000_000_00)
    assert refused.value.error_name == "BorrowingLimitExceeded"
    decoded = world.client.decoder.decode(revert_of(world, borrower.address, loan_b, 1_000_000_00))
    assert decoded is not None and (decoded.name, decoded.args) == (
        "BorrowingLimitExceeded", {"borrower": BORROWER_Y, "balanceAfter": 46_000_000_00, "limit": 40_000_000_00})
    assert "46,000,000.00" in str(refused.value) and "40,000,000.00" in str(refused.value), refused.value
    assert s.show(loan_b).drawn == 0 and s.exposure(BORROWER_Y).balance == 45_000_000_00
    # Loan A is repayable: the creditor acknowledges 10,000,000.00 and its contribution falls pro rata.
    move_to(world, dt.date(2021, 2, 1))
    s.repay(bank, loan_a, 10_000_000_00)
    assert s.show(loan_a).contribution_cny == limits.remaining_after_repay(45_000_000_00, 45_000_000_00,
                                                                           10_000_000_00) == 35_000_000_00
    # Under the new limit again, the same drawdown now fits (35M + 1M <= 40M).
    s.draw(borrower, loan_b, 1_000_000_00)
    assert s.exposure(BORROWER_Y).balance == 36_000_000_00
    assert s.show(loan_a).status == s.show(loan_b).status == "Active"


def test_calendar_due_is_pure_and_follows_the_sources() -> None:
    one = {E.slug: 10_000, F.slug: 10_000}
    assert policy.calendar_due(one, dt.date(2020, 3, 10)) == []
    assert policy.calendar_due(one, dt.date(2020, 3, 11)) == [(E, 12_500), (F, 12_500)]
    assert policy.calendar_due({E.slug: 12_500, F.slug: 12_500}, dt.date(2020, 12, 11)) == [(F, 10_000)]
    assert policy.calendar_due({E.slug: 12_500, F.slug: 10_000}, dt.date(2021, 1, 7)) == [(E, 10_000)]
    assert policy.calendar_due({E.slug: 17_500, F.slug: 17_500}, dt.date(2025, 1, 13)) == []

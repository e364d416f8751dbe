"""Policy service and `xborder policy` on a real anvil: parameters in human units, batch FX rates
with timestamps, the financing-type table, strict validation before anything is sent."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import Chain, deployed_chain

from xborder.chain import LocalNode
from xborder.domain.enums import Parameter
from xborder.errors import ValidationError
from xborder.services import policy


@pytest.fixture
def chain(anvil: LocalNode, tmp_path: Path) -> Chain:
    return deployed_chain(anvil.rpc_url, tmp_path)


def test_value_parsing() -> None:
    spec = policy.parameter_spec("Adjustment_Enterprise")
    assert policy.parse_parameter_value(spec, "1.5") == 15000
    for bad in ("0", "-1", "abc", "6.5536", "1.00001"):
        with pytest.raises(ValidationError, match="adjustment-enterprise"):
            policy.parse_parameter_value(spec, bad)
    assert policy.parse_parameter_value(policy.parameter_spec("fx-risk-factor"), "0") == 0
    window = policy.parameter_spec("confirmation-window-days")
    assert policy.parse_parameter_value(window, "45") == policy.parse_parameter_value(window, "45d") == 45
    with pytest.raises(ValidationError, match="whole number of days"):
        policy.parse_parameter_value(window, "1.5")
    for bad in ("0", "65536"):  # the window is at least one day; every parameter fits uint16
        with pytest.raises(ValidationError, match=r"confirmation-window-days: .* is out of range \(whole days 1..65535"):
            policy.parse_parameter_value(window, bad)
    assert policy.parse_parameter_value(policy.parameter_spec("value-date-max-past-days"), "0") == 0
    assert policy.parameter_spec(Parameter.MAX_TERM_DAYS) is Parameter.MAX_TERM_DAYS
    with pytest.raises(ValidationError, match="not a policy parameter"):
        policy.parameter_spec("leverage")
    assert policy.parse_rate_pairs(["USD", "7.1234", "EUR=7.8"]) == [("USD", 712340000), ("EUR", 780000000)]
    # one currency rule everywhere (issue #13): lower case is normalised, as `loan record` and the CSV do
    assert policy.parse_rate_pairs(["usd", "7.1", " eur ", "7.8"]) == [("USD", 710000000), ("EUR", 780000000)]
    for bad_pairs, message in ((["US1", "7"], "ISO 4217"), (["cny", "1"], "base currency"), (["CNY", "1"], "base currency"),
                               (["USD"], "pairs"), (["USD", "0"], "reference rate"), (["USD", "7", "USD", "8"], "twice")):
        with pytest.raises(ValidationError, match=message):
            policy.parse_rate_pairs(bad_pairs)


def test_service_round_trip(chain: Chain) -> None:
    snap = policy.snapshot(chain.client)
    values = {p["name"]: p["value"] for p in snap["parameters"]}
    assert values["adjustment-enterprise"] == "1.75" and values["leverage-domestic-bank"] == "0.8"
    assert (values["confirmation-window-days"], values["max-term-days"]) == ("30 days", "10958 days")
    assert [t["name"] for t in snap["financing_types"]][:2] == ["ORDINARY_LOAN", "OFF_BALANCE_FINANCING"]
    assert snap["reference_rates"] == [{"currency": "CNY", "rate": "1", "rate_scaled": 10**8, "updated_at": None,
                                        "updated_at_unix": 0}]
    assert policy.set_parameter(chain.client, chain.regulator, "adjustment-enterprise", "1.5") == (17500, 15000)
    assert policy.set_parameter(chain.client, chain.regulator, Parameter.CONFIRMATION_WINDOW_DAYS, "7") == (30, 7)
    policy.set_rates(chain.client, chain.regulator, policy.parse_rate_pairs(["USD", "7.1234", "JPY", "0.047"]))
    rates = {r["currency"]: r for r in policy.rates(chain.client)}
    assert rates["USD"]["rate_scaled"] == 712340000 and rates["JPY"]["rate"] == "0.047"
    block = chain.w3.eth.get_block("latest")
    assert rates["USD"]["updated_at_unix"] == block["timestamp"]
    policy.remove_rate(chain.client, chain.regulator, "JPY")
    assert [r["currency"] for r in policy.rates(chain.client)] == ["CNY", "USD"]
    policy.set_financing_type(chain.client, chain.regulator, "8", "GREEN_TRADE_LOAN", "0.5", True)
    policy.remove_financing_type(chain.client, chain.regulator, "6")
    types = {t["id"]: t for t in policy.financing_types(chain.client)}
    assert types[8] == {"id": 8, "name": "GREEN_TRADE_LOAN", "weight": "0.5", "weight_bps": 5000, "off_balance": True}
    assert 6 not in types


def test_cli(chain: Chain) -> None:
    r = chain.run("policy", "set", "adjustment-financial", "1.25", "--wallet", "regulator", "--json")
    assert r.code == 0, r.err
    assert r.json() == {"parameter": "adjustment-financial", "old": "1.75", "new": "1.25", "old_raw": 17500,
                        "new_raw": 12500}
    r = chain.run("policy", "fx", "set", "USD", "7.1234", "EUR", "7.8", "--wallet", "regulator")
    assert r.code == 0 and "EUR 7.8, USD 7.1234" in r.out, r.err
    r = chain.run("policy", "type", "set", "9", "CROSS_BORDER_GUARANTEE", "0.2", "--off-balance", "--wallet", "regulator")
    assert r.code == 0, r.err
    shown = chain.run("policy", "show", "--json").json()
    assert {p["name"]: p["value"] for p in shown["parameters"]}["adjustment-financial"] == "1.25"
    assert [r["currency"] for r in shown["reference_rates"]] == ["CNY", "EUR", "USD"]
    assert shown["financing_types"][-1]["name"] == "CROSS_BORDER_GUARANTEE"
    assert int(chain.client.policy.functions.parameter(5).call()) == 12500
    human = chain.run("policy", "show")
    assert "adjustment-financial" in human.out and "1.25" in human.out and "7.1234" in human.out
    listed = chain.run("policy", "fx", "list", "--json").json()
    assert listed[1]["updated_at"].endswith("Z")

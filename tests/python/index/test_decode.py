"""The compiled per-event data decoder (`DataDecoder`) answers exactly what `faster_eth_abi.decode`
answers: the same values for every event of the three contracts (random arguments, edge values),
and the same refusal (or the same values) for data that is not the canonical encoding."""

from __future__ import annotations

import random
from typing import Any

import pytest
from faster_eth_abi import decode as abi_decode
from faster_eth_abi import encode as abi_encode

from xborder.build.compiler import compile_project
from xborder.config import PROJECT_ROOT
from xborder.index.decode import DataDecoder, EventDecoder, UndecodableLog, abi_type

CONTRACTS = ("InstitutionRegistry", "MacroPrudentialPolicy", "LoanLedger")


def _value(rng: random.Random, t: str, edge: bool) -> Any:
    if t.startswith("(") and t.endswith(")"):
        return tuple(_value(rng, p, edge) for p in t[1:-1].split(",") if p)
    if t == "address":
        return "0x" + (("ff" * 20) if edge else rng.randbytes(20).hex())
    if t == "bool":
        return edge or rng.random() < 0.5
    if t.startswith("uint"):
        bits = int(t[4:])
        return (1 << bits) - 1 if edge else rng.randrange(0, 1 << bits)
    if t.startswith("int"):
        bits = int(t[3:])
        return -(1 << (bits - 1)) if edge else rng.randrange(-(1 << (bits - 1)), 1 << (bits - 1))
    if t == "bytes":
        return rng.randbytes(0 if edge else rng.randrange(0, 100))
    if t == "string":
        return "" if edge else "".join(rng.choice("abcé漢 ") for _ in range(rng.randrange(0, 40)))
    if t.startswith("bytes"):
        return (b"\xff" if edge else rng.randbytes(1)) * int(t[5:])
    raise AssertionError(f"no generator for {t}")


def _event_data_types() -> dict[str, list[str]]:
    artifacts = compile_project(PROJECT_ROOT)
    return {f"{c}.{item['name']}": [abi_type(p) for p in item.get("inputs", []) if not p.get("indexed")]
            for c in CONTRACTS for item in artifacts[c].abi if item.get("type") == "event"}


@pytest.fixture(scope="module")
def event_types() -> dict[str, list[str]]:
    return _event_data_types()


def test_every_event_decodes_as_faster_eth_abi_does(event_types: dict[str, list[str]]) -> None:
    rng = random.Random(12)
    assert len(event_types) > 20
    for name, types in event_types.items():
        decoder = DataDecoder(types)
        for i in range(40):
            values = [_value(rng, t, edge=i == 0) for t in types]
            data = abi_encode(types, values)
            assert decoder.decode(data) == abi_decode(types, data), name


def _outcome(fn: Any, data: bytes) -> tuple[str, Any]:
    try:
        return "ok", fn(data)
    except Exception as exc:  # noqa: BLE001 - the kind of refusal is what is compared
        return "error", type(exc)


@pytest.mark.parametrize("types", [
    ["uint32", "address", "bool", "bytes3", "int16"],
    ["uint32", "(uint32,uint32,bytes3,uint64,uint64,uint64,uint16,bytes32,bytes32)", "bool", "bytes"],
    ["uint32", "string", "bytes", "uint256"],
])
def test_irregular_data_gets_faster_eth_abi_s_answer(types: list[str]) -> None:
    """Flip, cut or extend canonical encodings byte by byte: every answer (value or error type) is
    faster_eth_abi's."""
    rng = random.Random(7)
    decoder = DataDecoder(types)
    for _ in range(30):
        data = bytearray(abi_encode(types, [_value(rng, t, edge=False) for t in types]))
        for _ in range(8):
            mutated = bytearray(data)
            at = rng.randrange(len(mutated))
            mutated[at] = rng.randrange(256)
            for sample in (bytes(mutated), bytes(data[:at]), bytes(data) + bytes(rng.randrange(1, 64))):
                assert _outcome(decoder.decode, sample) == _outcome(lambda d: abi_decode(types, d), sample)


def test_types_the_plan_does_not_cover_go_to_faster_eth_abi() -> None:
    types = ["uint256[]", "(uint8,(uint8,bool))", "string[]"]
    data = abi_encode(types, [[1, 2, 3], (4, (5, True)), ["a", "bc"]])
    assert DataDecoder(types).decode(data) == abi_decode(types, data)


def _topic(rng: random.Random, t: str) -> tuple[str, Any]:
    """A topic of an indexed parameter of type `t`, and the value it decodes to."""
    if t.startswith(("uint", "int", "address", "bool")) or (t.startswith("bytes") and t != "bytes"):
        value = _value(rng, t, edge=False)
        word = abi_encode([t], [value])
        if t == "address":
            value = str(value).lower()
        return "0x" + word.hex(), value
    word = rng.randbytes(32)  # a dynamic type is indexed as its hash: the hash is the value
    return "0x" + word.hex(), word


def test_compiled_events_decode_as_a_loop_over_their_inputs() -> None:
    """`EventSpec.build` (the per-event code written out once) gives every event of the three
    contracts the args a plain loop over the ABI's inputs gives, in the same order, and refuses a log
    with the wrong number of topics as that loop did."""
    artifacts = compile_project(PROJECT_ROOT)
    rng = random.Random(3)
    decoder = EventDecoder([(c, f"0x{i:040x}", artifacts[c].abi) for i, c in enumerate(CONTRACTS, start=1)])
    inputs = {(s.contract, s.name): next(item["inputs"] for item in artifacts[s.contract].abi
                                         if item.get("type") == "event" and item["name"] == s.name)
              for s in decoder.specs()}
    for spec in decoder.specs():
        params = inputs[(spec.contract, spec.name)]
        for _ in range(10):
            expected: dict[str, Any] = {}
            topics = [spec.topic0]
            data_types, data_values = [], []
            for i, p in enumerate(params):
                name = p.get("name") or f"arg{i}"
                if p.get("indexed"):
                    topic, expected[name] = _topic(rng, abi_type(p))
                    topics.append(topic)
                else:
                    data_types.append(abi_type(p))
                    data_values.append(_value(rng, abi_type(p), edge=False))
                    expected[name] = None
            data = abi_encode(data_types, data_values)
            for name, value in zip([p.get("name") or f"arg{i}" for i, p in enumerate(params)
                                    if not p.get("indexed")], abi_decode(data_types, data), strict=True):
                expected[name] = value
            event = decoder.decode_with(spec, "0xab", topics, data, 7, "0xbh", 2, "0xth", 9)
            assert (event.contract, event.event, event.address, event.block_number, event.block_hash,
                    event.tx_index, event.tx_hash, event.log_index) == (
                spec.contract, spec.name, "0xab", 7, "0xbh", 2, "0xth", 9)
            assert list(event.args) == list(expected) and event.args == expected, spec.signature
        for wrong in {len(spec.indexed) + 1, max(0, len(spec.indexed) - 1)} - {len(spec.indexed)}:
            with pytest.raises(UndecodableLog, match=f"expected {len(spec.indexed)} indexed topics, got {wrong}$"):
                decoder.decode_with(spec, "0xab", [spec.topic0, *["0x" + "00" * 32] * wrong], b"", 7, "0xbh", 2,
                                    "0xth", 9)

"""Fast event decoding: one precompiled decoder per topic0, straight from raw JSON-RPC logs.

web3.py's `process_log` goes through its formatters and AttributeDicts (~3,600 logs/s here);
this slices the topics itself, and each event's non-indexed data is read by a decoder compiled once
per event type (`DataDecoder`): the words of a canonical encoding are sliced straight out of the
data. `faster_eth_abi.decode` (whose tuple decoder walks a Python object per field: 0.07 ms a log,
a third of the indexer's time) is the reference: it decodes the types the plan does not cover, and
any data that is not exactly the canonical encoding, so both give the same values and errors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from eth_utils.crypto import keccak
from faster_eth_abi import decode as abi_decode

from xborder.errors import ConfigurationError


def abi_type(param: dict[str, Any]) -> str:
    """The canonical ABI type string of one parameter (tuples expanded)."""
    kind = str(param["type"])
    if kind.startswith("tuple"):
        inner = ",".join(abi_type(c) for c in param.get("components", []))
        return f"({inner}){kind[len('tuple'):]}"
    return kind


def event_signature(item: dict[str, Any]) -> str:
    return f"{item['name']}({','.join(abi_type(p) for p in item.get('inputs', []))})"


def _topic_decoder(type_str: str) -> Callable[[str], Any]:
    """Converter of one indexed topic (0x + 64 hex) to the value faster_eth_abi would return."""
    if type_str == "address":
        return lambda topic: "0x" + topic[-40:].lower()
    if type_str.startswith("uint"):
        return lambda topic: int(topic, 16)
    if type_str == "bool":
        return lambda topic: int(topic, 16) != 0
    if type_str.startswith("bytes") and type_str != "bytes":
        size = int(type_str[5:])
        return lambda topic: bytes.fromhex(topic[2:2 + 2 * size])
    if type_str.startswith("int") and "[" not in type_str:
        return lambda topic: abi_decode([type_str], bytes.fromhex(topic[2:]))[0]
    # Dynamic types (string, bytes, arrays, tuples) are indexed as their keccak hash.
    return lambda topic: bytes.fromhex(topic[2:])


class _Irregular(Exception):
    """Data that is not the canonical encoding the plan reads: `faster_eth_abi` decides."""


_ZEROS = bytes(32)


def _word_code(type_str: str, var: str, at: int) -> list[str] | None:
    """Source lines that read a one-word static type at byte `at` of `data` into `var` (raising
    _Irregular on non-canonical padding or range); None for any other type."""
    word = f"data[{at}:{at + 32}]"
    if type_str == "address":
        return [f"if data[{at}:{at + 12}] != Z[:12]: raise Irregular",
                f"{var} = '0x' + data[{at + 12}:{at + 32}].hex()"]
    if type_str == "bool":
        return [f"{var} = from_bytes({word}, 'big')", f"if {var} > 1: raise Irregular", f"{var} = {var} == 1"]
    for prefix, low, high in (("uint", 8, 256), ("int", 8, 256), ("bytes", 1, 32)):
        size = type_str[len(prefix):]
        if not (type_str.startswith(prefix) and size.isdigit() and low <= int(size) <= high):
            continue
        n = int(size)
        if prefix == "uint":
            return [f"{var} = from_bytes({word}, 'big')", *([f"if {var} >> {n}: raise Irregular"] if n < 256 else [])]
        if prefix == "int":
            return [f"{var} = from_bytes({word}, 'big', signed=True)",
                    f"if not {-(1 << (n - 1))} <= {var} < {1 << (n - 1)}: raise Irregular"]
        return [*([f"if data[{at + n}:{at + 32}] != Z[:{32 - n}]: raise Irregular"] if n < 32 else []),
                f"{var} = data[{at}:{at + n}]"]
    return None


def _tail_value(data: bytes, at: int, tail: int) -> tuple[bytes, int]:
    """A `bytes` value whose offset word is at `at`, canonically at `tail`; the value and the next tail."""
    if int.from_bytes(data[at:at + 32], "big") != tail or len(data) < tail + 32:
        raise _Irregular
    size = int.from_bytes(data[tail:tail + 32], "big")
    start = tail + 32
    end = start + size
    padded = start + -(-size // 32) * 32
    if len(data) < padded or data[end:padded] != _ZEROS[:padded - end]:
        raise _Irregular
    return data[start:end], padded


def _sliced_source(types: Sequence[str]) -> str | None:
    """The source of `sliced(data)`, reading the canonical encoding of `types`; None if a type is
    not covered (arrays, nested or dynamic tuples)."""
    body: list[str] = []
    values: list[str] = []
    at = 0
    for i, t in enumerate(types):
        var = f"v{i}"
        if t in ("bytes", "string"):
            body.append(f"{var}, tail = tail_value(data, {at}, tail)")
            if t == "string":
                body.append(f"{var} = {var}.decode('utf-8')")
            values.append(var)
            at += 32
            continue
        parts = t[1:-1].split(",") if t.startswith("(") and t.endswith(")") and "(" not in t[1:] else [t]
        names = [f"{var}_{j}" for j in range(len(parts))] if t.startswith("(") else [var]
        for part, name in zip(parts, names, strict=True):
            code = _word_code(part, name, at)
            if code is None:
                return None
            body += code
            at += 32
        values.append(f"({', '.join(names)},)" if t.startswith("(") else var)
    lines = ["def sliced(data):", f"    if len(data) < {at}: raise Irregular", f"    tail = {at}",
             *(f"    {line}" for line in body),
             "    if len(data) != tail: raise Irregular", f"    return ({', '.join(values)}{',' if values else ''})"]
    return "\n".join(lines)


class DataDecoder:
    """The non-indexed data of one event type: `decode(data)` equals `faster_eth_abi.decode(types,
    data)`. Compiled once into straight-line slicing code: one-word static types (uintN, intN,
    address, bool, bytesN), tuples of them, and `bytes` / `string`; any other type, or data that is
    not the canonical encoding (padding, range, offsets, length, UTF-8), goes to
    `faster_eth_abi.decode`."""

    def __init__(self, types: Sequence[str]) -> None:
        self.types = tuple(types)
        self._sliced: Callable[[bytes], tuple[Any, ...]] | None = None
        source = _sliced_source(self.types)
        if source is not None:
            scope: dict[str, Any] = {"Irregular": _Irregular, "Z": _ZEROS, "from_bytes": int.from_bytes,
                                     "tail_value": _tail_value}
            exec(compile(source, f"<decoder of ({','.join(self.types)})>", "exec"), scope)  # noqa: S102 - our own source
            self._sliced = scope["sliced"]

    def decode(self, data: bytes) -> tuple[Any, ...]:
        if self._sliced is not None:
            try:
                return self._sliced(data)
            except (_Irregular, UnicodeDecodeError):
                pass
        return tuple(abi_decode(self.types, data))


@dataclass(frozen=True)
class EventSpec:
    contract: str
    name: str
    signature: str
    topic0: str
    names: tuple[str, ...]
    indexed: tuple[tuple[int, Callable[[str], Any]], ...]  # (position, decoder) per topic 1..3
    data_positions: tuple[int, ...]
    data_types: tuple[str, ...]
    data: DataDecoder
    #: (topics, data, address, block_number, block_hash, tx_index, tx_hash, log_index) -> DecodedEvent,
    #: compiled once per event type (`_event_source`): `EventDecoder.decode_with` calls it.
    build: Callable[..., DecodedEvent] = field(repr=False, compare=False)


class DecodedEvent(NamedTuple):
    """One event log, decoded. `args` maps parameter names to values (tuples stay tuples).
    (A NamedTuple: building one costs a fraction of a dataclass, at 100,000s per second.)"""

    contract: str
    event: str
    args: dict[str, Any]
    address: str
    block_number: int
    block_hash: str
    tx_index: int
    tx_hash: str
    log_index: int


class UndecodableLog(ValueError):
    pass


class EventDecoder:
    """Decoders for every event of the given contracts, keyed by (address, topic0)."""

    def __init__(self, contracts: Sequence[tuple[str, str, list[dict[str, Any]]]]) -> None:
        """`contracts`: (name, address, abi) triples."""
        self._specs: dict[tuple[str, str], EventSpec] = {}
        for name, address, abi in contracts:
            for item in abi:
                if item.get("type") != "event" or item.get("anonymous"):
                    continue
                spec = self._compile(name, item)
                self._specs[(address.lower(), spec.topic0)] = spec
        if not self._specs:
            raise ConfigurationError("the ABIs given to the indexer declare no events")

    @staticmethod
    def _compile(contract: str, item: dict[str, Any]) -> EventSpec:
        signature = event_signature(item)
        inputs = item.get("inputs", [])
        indexed = tuple((i, _topic_decoder(abi_type(p))) for i, p in enumerate(inputs) if p.get("indexed"))
        data = [(i, abi_type(p)) for i, p in enumerate(inputs) if not p.get("indexed")]
        names = tuple(str(p.get("name") or f"arg{i}") for i, p in enumerate(inputs))
        decoder = DataDecoder([t for _, t in data])
        scope: dict[str, Any] = {"Event": DecodedEvent, "Undecodable": UndecodableLog, "decode": decoder.decode,
                                 "ints": int, **{f"c{position}": convert for position, convert in indexed}}
        source = _event_source(contract, str(item["name"]), signature, names, [abi_type(p) for p in inputs],
                               [i for i, _ in indexed], [i for i, _ in data])
        exec(compile(source, f"<event {signature}>", "exec"), scope)  # noqa: S102 - our own source
        return EventSpec(
            contract=contract, name=str(item["name"]), signature=signature,
            topic0="0x" + keccak(text=signature).hex(), names=names,
            indexed=indexed, data_positions=tuple(i for i, _ in data),
            data_types=tuple(t for _, t in data), data=decoder, build=scope["build"])

    def specs(self) -> list[EventSpec]:
        return list(self._specs.values())

    def spec_of(self, address: str, topic0: str | None) -> EventSpec | None:
        """The event spec of a log at `address` (lowercase) with first topic `topic0` (0x hex)."""
        if topic0 is None:
            return None
        spec = self._specs.get((address, topic0))
        return spec if spec is not None else self._specs.get((address, topic0.lower()))

    def decode(self, log: dict[str, Any]) -> DecodedEvent | None:
        """Decode one raw `eth_getLogs` entry (hex strings); None for events we have no ABI for."""
        topics = log["topics"]
        if not topics:
            return None
        address = log["address"].lower()
        spec = self.spec_of(address, topics[0])
        if spec is None:
            return None
        data = log["data"]
        return self.decode_with(spec, address, topics, bytes.fromhex(data[2:]), int(log["blockNumber"], 16),
                                log["blockHash"].lower(), int(log["transactionIndex"], 16),
                                log["transactionHash"].lower(), int(log["logIndex"], 16))

    @staticmethod
    def decode_with(spec: EventSpec, address: str, topics: Sequence[str], data: bytes, block_number: int,
                    block_hash: str, tx_index: int, tx_hash: str, log_index: int) -> DecodedEvent:
        """Decode a log whose spec is known: topics as 0x hex, data as bytes."""
        return spec.build(topics, data, address, block_number, block_hash, tx_index, tx_hash, log_index)


def _event_source(contract: str, name: str, signature: str, names: Sequence[str], types: Sequence[str],
                  indexed: Sequence[int], data_positions: Sequence[int]) -> str:
    """The source of `build(...)` for one event type: its args dict written out as a literal (in
    the order of the inputs), the common topic types converted inline, the others by `c<position>`
    (`_topic_decoder`), the data by `decode` (`DataDecoder`): the values a loop over the inputs
    gives, at a fraction of the cost per log."""
    slots: list[str] = ["None"] * len(names)
    for n, position in enumerate(indexed, start=1):
        kind = types[position]
        if kind == "address":
            slots[position] = f"'0x' + topics[{n}][-40:].lower()"
        elif kind.startswith("uint"):
            slots[position] = f"ints(topics[{n}], 16)"
        else:
            slots[position] = f"c{position}(topics[{n}])"
    for j, position in enumerate(data_positions):
        slots[position] = f"values[{j}]"
    args = ", ".join(f"{key!r}: {slot}" for key, slot in zip(names, slots, strict=True))
    return "\n".join([
        "def build(topics, data, address, block_number, block_hash, tx_index, tx_hash, log_index):",
        f"    if len(topics) != {len(indexed) + 1}:",
        f"        raise Undecodable({signature + f': expected {len(indexed)} indexed topics, got '!r}"
        " + str(len(topics) - 1))",
        *(["    values = decode(data)"] if data_positions else []),
        f"    return Event({contract!r}, {name!r}, {{{args}}}, address, block_number, block_hash, "
        "tx_index, tx_hash, log_index)"])

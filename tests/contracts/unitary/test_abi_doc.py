"""docs/contracts.md, "ABI changes from v1", is what the Python port (bindings, services, indexer) is
written against, so every line of it is checked here against the compiled contracts:

- each signature line is exactly the compiled ABI's (`render` below) and is filed as new / changed /
  removed / unchanged as the v1 ABI (tests/contracts/data/abi_v1.json, git 7145b39) says; together
  they are the whole v2 ABI of the three contracts and the whole v1 ABI. "Changed" includes a
  function whose line reads the same but whose struct changed (its tuple types differ);
- the `struct` lines are the ABIs' tuple components, the `enum` lines the interfaces' enums with
  their integer values (same categories against v1);
- the EIP-712 type strings hash to the contracts' type hashes and the `domain` lines are the
  contracts' `eip712Domain()`.

Doc format, inside ```solidity blocks under a "### <contract>" or "### Types" heading: a `// new`,
`// changed`, `// removed` or `// unchanged` line starts a category; in `changed`, a `// v1: <line>`
line precedes each v2 line; `removed` lists v1 lines. Other `// ` lines are comments.
"""
import json
import pathlib
import re

import pytest
from brownie import InstitutionRegistry, LoanLedger, MacroPrudentialPolicy
from eth_utils import keccak

ROOT = pathlib.Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "contracts.md"
V1 = json.loads((ROOT / "tests" / "contracts" / "data" / "abi_v1.json").read_text())
CONTRACTS = {"InstitutionRegistry": InstitutionRegistry, "MacroPrudentialPolicy": MacroPrudentialPolicy,
             "LoanLedger": LoanLedger}
HEADING = "## ABI changes from v1"
CATEGORIES = ("new", "changed", "removed", "unchanged")


# ---------------------------------------------------------------- rendering


def _type(p):
    """Solidity type as declared: struct / enum / contract / user-defined value type names, else the ABI type."""
    internal = p.get("internalType") or p["type"]
    for prefix in ("struct ", "enum ", "contract "):
        if internal.startswith(prefix):
            return internal[len(prefix):].rsplit(".", 1)[-1]
    return internal


def _canonical(p):
    """Wire type: tuples spelled out."""
    if p["type"].startswith("tuple"):
        return "(" + ",".join(_canonical(c) for c in p["components"]) + ")" + p["type"][len("tuple"):]
    return p["type"]


def _param(p):
    return " ".join(x for x in (_type(p), "indexed" if p.get("indexed") else "", p.get("name", "")) if x)


def render(item):
    """One ABI item as a line, e.g. `event LoanDrawn(uint64 indexed loanId, ...)`."""
    params = ", ".join(_param(p) for p in item.get("inputs", []))
    if item["type"] == "constructor":
        return f"constructor({params})"
    line = f"{item['type']} {item['name']}({params})"
    if item["type"] == "function":
        if item["stateMutability"] != "nonpayable":
            line += " " + item["stateMutability"]
        if item.get("outputs"):
            line += " returns (" + ", ".join(_param(o) for o in item["outputs"]) + ")"
    return line


def _abi_entries(abi):
    """{(kind, name): (line, identity)} of the constructor, functions, events and errors; the
    identity adds the wire types, so that a changed struct shows as a change."""
    out = {}
    for item in abi:
        if item["type"] in ("constructor", "function", "event", "error"):
            wire = [_canonical(p) for p in item.get("inputs", []) + item.get("outputs", [])]
            name = "" if item["type"] == "constructor" else item["name"]  # Brownie names its constructor
            out[(item["type"], name)] = (render(item), (render(item), tuple(wire)))
    return out


def _struct_entries(abis):
    """{("struct", name): (line, line)} of every tuple in the ABIs: `struct Name(type field, ...)`."""
    out = {}

    def visit(params):
        for p in params:
            if p["type"].startswith("tuple"):
                name = _type(p).split("[", 1)[0]
                line = f"struct {name}(" + ", ".join(_param(c) for c in p["components"]) + ")"
                out[("struct", name)] = (line, (line, _canonical(p)))
                visit(p["components"])

    for abi in abis:
        for item in abi:
            visit(item.get("inputs", []))
            visit(item.get("outputs", []))
    return out


def _enum_entries(enums):
    """{("enum", name): (line, line)}: `enum Name(0 A, 1 B, ...)`."""
    out = {}
    for name, members in enums.items():
        line = f"enum {name}(" + ", ".join(f"{i} {m}" for i, m in enumerate(members)) + ")"
        out[("enum", name)] = (line, line)
    return out


def _interface_enums():
    found = {}
    for path in sorted((ROOT / "interfaces").glob("*.sol")):
        source = re.sub(r"//[^\n]*", "", path.read_text())
        for name, body in re.findall(r"enum\s+(\w+)\s*\{([^}]*)\}", source):
            found[name] = [m.strip() for m in body.split(",") if m.strip()]
    return found


def _entries(heading, version):
    if heading in CONTRACTS:
        return _abi_entries(V1[heading] if version == 1 else CONTRACTS[heading].abi)
    assert heading == "Types"
    abis = [V1[c] for c in CONTRACTS] if version == 1 else [c.abi for c in CONTRACTS.values()]
    return _struct_entries(abis) | _enum_entries(V1["enums"] if version == 1 else _interface_enums())


# ---------------------------------------------------------------- reading the doc


def _section():
    text = DOC.read_text()
    assert HEADING in text, f"{DOC} has no section {HEADING!r}"
    return re.split(r"\n## ", text.split(HEADING, 1)[1], maxsplit=1)[0]


def _code_lines():
    """(heading, line) for every non-blank line of every ```solidity block of the section."""
    heading, in_code = None, False
    for line in _section().splitlines():
        if line.startswith("### "):
            heading = line[4:].strip()
        elif line.startswith("```"):
            in_code = (not in_code) and line.strip() == "```solidity"
        elif in_code and line.strip():
            yield heading, line.strip()


def _categories(heading):
    """{category: [(v1 line or None, line)]} of the blocks under `heading`."""
    out = {c: [] for c in CATEGORIES}
    category, v1_line = None, None
    for h, line in _code_lines():
        if h != heading:
            continue
        if line.startswith("// v1: "):
            v1_line = line[len("// v1: "):]
        elif line.startswith("//"):
            word = line[2:].strip().split(" ", 1)[0]
            if word in CATEGORIES:
                category = word
        else:
            assert category is not None, f"{heading}: {line!r} before any category"
            out[category].append((v1_line, line))
            v1_line = None
    return out


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize("heading", [*CONTRACTS, "Types"])
def test_doc_lists_every_change(heading):
    v1, v2 = _entries(heading, 1), _entries(heading, 2)
    v1_key = {line: key for key, (line, _) in v1.items()}
    v2_key = {line: key for key, (line, _) in v2.items()}
    cats = _categories(heading)
    seen_v1, seen_v2 = set(), set()
    for _, line in cats["new"]:
        assert line in v2_key, f"{heading}, new: not in v2: {line}"
        assert v2_key[line] not in v1, f"{heading}, new: already in v1: {line}"
        seen_v2.add(v2_key[line])
    for old, line in cats["changed"]:
        assert line in v2_key, f"{heading}, changed: not in v2: {line}"
        key = v2_key[line]
        assert key in v1 and v1[key][1] != v2[key][1], f"{heading}, changed: not changed since v1: {line}"
        assert old == v1[key][0], f"{heading}, changed: the v1 line of {line} is {v1[key][0]}"
        seen_v1.add(key)
        seen_v2.add(key)
    for _, line in cats["removed"]:
        assert line in v1_key, f"{heading}, removed: not in v1: {line}"
        assert v1_key[line] not in v2, f"{heading}, removed: still in v2: {line}"
        seen_v1.add(v1_key[line])
    for _, line in cats["unchanged"]:
        key = v2_key.get(line)
        assert key in v1 and v1[key][1] == v2[key][1], f"{heading}, unchanged: differs from v1: {line}"
        seen_v1.add(key)
        seen_v2.add(key)
    assert sorted(set(v2) - seen_v2) == [], f"{heading}: v2 entries missing from the doc"
    assert sorted(set(v1) - seen_v1) == [], f"{heading}: v1 entries missing from the doc"


def test_eip712_type_strings(ledger, registry):
    typehashes = {
        "LoanConsent": ledger.CONSENT_TYPEHASH(),
        "ExtensionConsent": ledger.EXTENSION_CONSENT_TYPEHASH(),
        "WalletBinding": registry.WALLET_BINDING_TYPEHASH(),
        "EIP712Domain": keccak(text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
    }
    documented = {line.split("(", 1)[0]: line for h, line in _code_lines()
                  if h == "EIP-712" and line.split("(", 1)[0] in typehashes}
    assert set(documented) == set(typehashes)
    for name, line in documented.items():
        assert keccak(text=line) == bytes(typehashes[name]), line


def test_eip712_domains(ledger, registry):
    documented = [line for h, line in _code_lines() if h == "EIP-712" and line.startswith("domain ")]
    expected = []
    for contract, deployed in (("LoanLedger", ledger), ("InstitutionRegistry", registry)):
        fields, name, version, *_ = deployed.eip712Domain()
        assert fields == "0x0f"  # name, version, chainId, verifyingContract
        expected.append(f'domain {contract}(name "{name}", version "{version}", chainId, verifyingContract)')
    assert documented == expected

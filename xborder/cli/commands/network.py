"""`xborder network init|up|down|status|besu|allowlist`: a local consortium network of geth
(clique) nodes, and the paper bundle for a Besu QBFT production network."""

from __future__ import annotations

import functools
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.table import Table
from web3 import Web3

from xborder.chain import network as net
from xborder.cli.context import App
from xborder.errors import ValidationError
from xborder.wallets.keystore import Keystore

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_FUND_ETHER = Decimal(1_000_000)


def _json_option(func: F) -> F:
    """--json (these commands talk to no single node, so they take no --rpc-url / --chain-id)."""

    @functools.wraps(func)
    def wrapper(*args: Any, json_output: bool, **kwargs: Any) -> Any:
        app: App = click.get_current_context().obj
        app.json_output = app.json_output or json_output
        return func(app, *args, **kwargs)

    return click.option("--json", "json_output", is_flag=True, default=False,  # type: ignore[return-value]
                        help="machine-readable output on stdout")(wrapper)


class NodeList(click.ParamType):  # type: ignore[type-arg]
    """`1,2,3` -> [1, 2, 3] (node numbers)."""

    name = "NODES"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> list[int]:
        if isinstance(value, list):
            return value
        try:
            numbers = [int(part) for part in str(value).split(",") if part.strip()]
        except ValueError:
            self.fail(f"{value!r} is not a comma-separated list of node numbers (e.g. 1,2,3)", param, ctx)
        if not numbers:
            self.fail("name at least one node", param, ctx)
        return numbers


def _root(app: App) -> Path:
    return app.settings.data_dir / "network"


def _parse_fund(app: App, values: tuple[str, ...]) -> dict[str, int]:
    """`WALLET|ADDRESS[=ETHER]` -> {address: wei}."""
    alloc: dict[str, int] = {}
    for item in values:
        who, _, amount = item.partition("=")
        allowed = "WALLET or 0xADDRESS, optionally =ETHER (e.g. regulator=1000)"
        try:
            ether = Decimal(amount) if amount else DEFAULT_FUND_ETHER
        except InvalidOperation:
            raise ValidationError(f"--fund {item!r}: {amount!r} is not an amount of ether", field="--fund",
                                  value=item, allowed=allowed) from None
        if not ether.is_finite() or ether < 0:
            raise ValidationError(f"--fund {item!r}: the amount must be zero or more", field="--fund",
                                  value=item, allowed=allowed)
        address = Web3.to_checksum_address(who) if Web3.is_address(who) else Keystore(app.settings.keystores).address(who)
        alloc[address] = alloc.get(address, 0) + int(ether * 10**18)
    return alloc


@click.group("network")
def network() -> None:
    """A local consortium network: N geth nodes sealing with clique proof-of-authority."""


@network.command("init")
@click.option("--nodes", type=click.IntRange(1, 64), required=True, help="how many nodes (each its own data folder)")
@click.option("--validators", type=NodeList(), default=None,
              help="nodes that seal blocks, e.g. 1,2,3 [default: all]")
@click.option("--period", type=click.IntRange(1, 3600), default=net.DEFAULT_PERIOD, show_default=True,
              help="seconds between blocks")
@click.option("--gas-limit", type=click.IntRange(5_000), default=net.DEFAULT_GAS_LIMIT, show_default=True,
              help="block gas limit")
@click.option("--free-gas", is_flag=True, default=False, help="base fee 0 and sealers accepting tip 0")
@click.option("--chain-id", type=int, default=net.DEFAULT_CHAIN_ID, show_default=True)
@click.option("--fund", multiple=True, metavar="WALLET|ADDRESS[=ETHER]",
              help=f"credit an account in the genesis [default amount {DEFAULT_FUND_ETHER:,} ETH]; repeatable")
@_json_option
def init(app: App, nodes: int, validators: list[int] | None, period: int, gas_limit: int, free_gas: bool,
         chain_id: int, fund: tuple[str, ...]) -> None:
    """Create the network: genesis, one node key and one sealer keystore per node, data folders."""
    alloc = _parse_fund(app, fund)
    app.note(f"creating {nodes} node(s): keys (scrypt keystores take a second each) and `geth init` ...")
    spec = net.init_network(_root(app), nodes=nodes, project_root=app.settings.project_root,
                            validators=validators, chain_id=chain_id, period=period, gas_limit=gas_limit,
                            free_gas=free_gas, alloc=alloc)
    data = _spec_json(spec, _root(app))

    def human() -> None:
        app.console.print(f"network initialised in {_root(app)}: chain id {spec.chain_id}, {len(spec.nodes)} nodes, "
                          f"{len(spec.validators)} sealer(s), block every {spec.period}s, gas limit {spec.gas_limit:,}"
                          f"{', free gas' if spec.free_gas else ''}")
        for node in spec.nodes:
            app.console.print(f"  {node.name}: {node.rpc_url}  sealer {node.sealer}"
                              f"{'' if node.validator else ' (not sealing)'}")
        if not alloc:
            app.console.print("no account is funded in the genesis (--fund WALLET): only sealers' fees will exist")
        app.console.print("start it with `xborder network up`")

    app.emit(data, human)


def _spec_json(spec: net.NetworkSpec, root: Path) -> dict[str, Any]:
    return {"root": str(root), "chain_id": spec.chain_id, "period": spec.period, "gas_limit": spec.gas_limit,
            "free_gas": spec.free_gas, "geth": spec.geth_version,
            "nodes": [{"node": n.index, "rpc_url": n.rpc_url, "enode": n.enode, "sealer": n.sealer,
                       "validator": n.validator} for n in spec.nodes]}


@network.command("up")
@_json_option
def up(app: App) -> None:
    """Start every node (detached; state kept in the data folder) and wait until all are peered."""
    root = _root(app)
    _, before = net.network_status(root)
    if all(s.running for s in before):
        app.note("every node already runs")
        network = net.open_network(root, app.settings.project_root, detached=True)
    else:
        if any(s.running for s in before):
            app.note(f"node(s) {[s.index for s in before if s.running]} already run; starting the others")
        network = net.open_network(root, app.settings.project_root, detached=True)
        for status in before:
            if status.running:
                network.nodes[status.index] = _attached(network, status.index)
        network.start()
    _status_out(app, root)


def _attached(network: net.Network, index: int) -> Any:
    """A stand-in for a node started by an earlier `up` (peering checks only need its URL)."""
    from xborder.chain.launcher import LocalNode, NodeKind
    node = network.spec.node(index)
    pid = net.geth.running_pids(node.datadir(network.root))[0]
    return LocalNode(kind=NodeKind.GETH, port=node.http_port, process=None, pid=pid, chain_id=network.spec.chain_id)


@network.command("down")
@_json_option
def down(app: App) -> None:
    """Stop every node (SIGTERM: each writes its state; the next `up` resumes the chain)."""
    stopped = net.stop_network(_root(app))
    app.emit({"stopped": stopped}, lambda: app.console.print(
        f"stopped node(s) {', '.join(map(str, stopped))}" if stopped else "no node was running"))


@network.command("status")
@_json_option
def status(app: App) -> None:
    """Each node: URL, process, head block, peers and whether it seals."""
    _status_out(app, _root(app))


def _status_out(app: App, root: Path) -> None:
    spec, nodes = net.network_status(root)
    data = {**_spec_json(spec, root), "nodes": [
        {"node": s.index, "rpc_url": s.rpc_url, "running": s.running, "pids": s.pids, "head": s.head,
         "head_hash": s.head_hash, "peers": s.peers, "sealer": s.sealer, "validator": s.validator,
         "mining": s.mining, "authorized": s.authorized, "sealed_recent": s.sealed_recent,
         "recent_window": s.recent_window, "error": s.error} for s in nodes]}

    def human() -> None:
        table = Table(title=f"network chain id {spec.chain_id} in {root} (block every {spec.period}s)")
        for column in ("node", "rpc url", "pid", "head", "hash", "peers", "sealing"):
            table.add_column(column)
        for s in nodes:
            if not s.running:
                sealing = "-"
            elif s.error:
                sealing = f"[red]{s.error}[/]"
            elif not s.validator:
                sealing = "no (not a validator)"
            else:
                sealing = "yes" if s.mining and s.authorized else "[red]NO[/]"
                if s.recent_window:
                    sealing += f" ({s.sealed_recent}/{s.recent_window} recent)"
            table.add_row(str(s.index), s.rpc_url, ",".join(map(str, s.pids)) or "[red]down[/]",
                          "" if s.head is None else str(s.head), (s.head_hash or "")[:10],
                          "" if s.peers is None else f"{s.peers}/{len(nodes) - 1}", sealing)
        app.console.print(table)
        app.console.print(f"every command talks to a node with --rpc-url, e.g. `xborder chain status --rpc-url "
                          f"{nodes[0].rpc_url}`")

    app.emit(data, human)


def _allowlist(app: App, rpc_url: str, chain_id: int | None) -> Any:
    from xborder.bindings.client import XborderClient
    from xborder.chain.connect import connect
    from xborder.services.permissions import accounts_allowlist
    client = XborderClient.load(connect(rpc_url, chain_id), app.settings.deployments)
    return accounts_allowlist(client)


@network.command("besu")
@click.option("--validators", type=click.IntRange(1, 64), required=True, help="how many QBFT validators")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="an empty folder for the bundle")
@click.option("--chain-id", type=int, default=net.DEFAULT_CHAIN_ID, show_default=True)
@click.option("--period", type=click.IntRange(1, 3600), default=2, show_default=True, help="seconds between blocks")
@click.option("--gas-limit", type=click.IntRange(5_000), default=net.DEFAULT_GAS_LIMIT, show_default=True)
@click.option("--fee-paying", is_flag=True, default=False, help="charge gas (default: free gas, base fee 0)")
@click.option("--rpc-url", default=None, help="a node of the current chain: the accounts allowlist is read from "
                                              "its registry [default: an empty allowlist]")
@_json_option
def besu(app: App, validators: int, out: Path, chain_id: int, period: int, gas_limit: int, fee_paying: bool,
         rpc_url: str | None) -> None:
    """Write a Hyperledger Besu QBFT network bundle (genesis, keys, peers, allowlist, compose file)."""
    from xborder.chain.network.besu import write_bundle
    accounts = _allowlist(app, rpc_url, None).accounts if rpc_url else []
    made = write_bundle(out, validators=validators, chain_id=chain_id, period=period, gas_limit=gas_limit,
                        free_gas=not fee_paying, accounts=accounts)
    data = {"out": str(out), "chain_id": chain_id, "accounts_allowed": len(accounts),
            "validators": [{"name": v.name, "address": v.address, "enode": v.enode} for v in made]}
    app.emit(data, lambda: app.console.print(
        f"Besu QBFT bundle for {validators} validator(s) written to {out} ({len(accounts)} account(s) allowed); "
        "regenerate the allowlist with `xborder network allowlist` when the registry changes"))


@network.command("allowlist")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="the permissions_config.toml to (re)write")
@click.option("--rpc-url", required=True, help="a node of the chain whose registry decides")
@click.option("--chain-id", type=int, default=None, help="refuse a node serving another chain id")
@_json_option
def allowlist(app: App, out: Path, rpc_url: str, chain_id: int | None) -> None:
    """Rewrite a Besu accounts allowlist from the registry: wallets of Active institutions and the
    regulator; the nodes allowlist already in the file is kept."""
    import tomllib

    from xborder.chain.network.besu import permissions_config
    result = _allowlist(app, rpc_url, chain_id)
    nodes: list[str] = []
    if out.exists():
        nodes = list(tomllib.loads(out.read_text()).get("nodes-allowlist", []))
    tmp = out.with_suffix(".tmp")
    tmp.write_text(permissions_config(result.accounts, nodes))
    tmp.replace(out)
    data = {"out": str(out), "accounts": result.accounts, "excluded": result.excluded}
    app.emit(data, lambda: app.console.print(
        f"{out}: {len(result.accounts)} account(s) allowed; institutions left out (not active): "
        + (", ".join(f"#{i} ({s})" for i, s in sorted(result.excluded.items())) or "none")))

"""Run the `xborder` CLI in-process (exit code, stdout, stderr) and set up a deployed chain.

Used by the onboarding, policy, deploy, end-to-end and bad-input tests. Nothing is mocked: the
commands talk to a real anvil or Ganache.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from xborder.bindings.client import XborderClient
from xborder.chain.connect import connect
from xborder.cli.main import main
from xborder.config import PROJECT_ROOT
from xborder.services import funding, policy
from xborder.services.deploy import deploy
from xborder.wallets.keystore import Keystore

LIGHT_SCRYPT = 2**10  # tests only: production keystores use scrypt n = 2**18
PASSWORD = "correct horse battery staple"

#: `python -c HOSTILE_PARENT <args>` runs `python <args>` the way a background job of a shell without
#: job control starts it (`make test &` from a script, nohup, CI runners: SIGINT ignored), with
#: SIGTERM ignored and both blocked on top; dispositions set to "ignore" and the signal mask survive exec.
HOSTILE_PARENT = ("import os, signal, sys; stops = {signal.SIGINT, signal.SIGTERM}; "
                  "[signal.signal(s, signal.SIG_IGN) for s in stops]; signal.pthread_sigmask(signal.SIG_BLOCK, stops); "
                  "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])")


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def xborder(*args: str, env: dict[str, str]) -> Run:
    """`xborder ARGS` in this process; never raises SystemExit."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with _environ(env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return Run(code, out.getvalue(), err.getvalue())


@dataclass
class Chain:
    """A deployed xborder on a real node, with a light-keystore regulator wallet 'regulator'."""

    rpc_url: str
    root: Path
    w3: Web3
    client: XborderClient
    regulator: LocalAccount
    keystore: Keystore
    env: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str, **extra_env: str) -> Run:
        return xborder(*args, env={**self.env, **extra_env})

    def wallet(self, name: str) -> LocalAccount:
        """A light keystore wallet (created once), funded with gas money."""
        if not self.keystore.exists(name):
            self.keystore.new(name, PASSWORD)
        account = self.keystore.load(name, PASSWORD)
        funding.fund(self.w3, funding.dev_funder(), [account.address])
        return account

    def state(self) -> dict[str, Any]:
        """Everything an onboarding or policy command can change (and the block number)."""
        registry = self.client.registry.functions
        count = int(registry.institutionCount().call())
        return {
            "block": self.w3.eth.block_number,
            "count": count,
            "institutions": [registry.getInstitution(i).call() for i in range(1, count + 1)],
            "policy": policy.snapshot(self.client),
            "paused": self.client.registry.functions.paused().call(),
        }


def env_for(rpc_url: str, root: Path) -> dict[str, str]:
    return {"XBORDER_DATA_DIR": str(root / ".xborder"), "XBORDER_DEPLOYMENTS_DIR": str(root / "deployments"),
            "XBORDER_KEYSTORE_DIR": str(root / "keystores"), "XBORDER_RPC_URL": rpc_url,
            "XBORDER_PASSWORD": PASSWORD}


def deployed_chain(rpc_url: str, root: Path) -> Chain:
    """Deploy with the DEV-ONLY funder; the regulator is a light keystore wallet 'regulator'."""
    w3 = connect(rpc_url)
    keystore = Keystore(root / "keystores", scrypt_n=LIGHT_SCRYPT)
    keystore.new("regulator", PASSWORD)
    regulator = keystore.load("regulator", PASSWORD)
    deploy(w3, funding.dev_funder(), regulator.address, root / "deployments", PROJECT_ROOT)
    funding.fund(w3, funding.dev_funder(), [regulator.address], Web3.to_wei(10, "ether"))
    client = XborderClient.load(w3, root / "deployments")
    return Chain(rpc_url, root, w3, client, regulator, keystore, env_for(rpc_url, root))

"""The index itself and the caller: checkpoint and lag, the consistency check against the ledger
(regulator only; it exists only when the server knows a node), and `/api/me`."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter

from xborder.api import errors, payloads
from xborder.api.deps import DB, Caller
from xborder.config import Settings
from xborder.errors import ChainError, ConfigurationError, ValidationError

log = logging.getLogger(__name__)


def _head(rpc_url: str) -> int:
    from xborder.index.service import indexer_web3

    return int(indexer_web3(rpc_url, timeout=5.0).eth.block_number)


def status_router(settings: Settings) -> APIRouter:
    router = APIRouter()

    @router.get("/api/me", tags=["index"], summary="The caller's token: its id and scope",
                responses=errors.responses())
    def me(db: DB, caller: Caller) -> Any:
        name = None if caller.institution is None else payloads.institution_name(db, caller.institution)
        return {"token_id": caller.token_id, "scope": str(caller.scope), "institution": caller.institution,
                "name": name}

    @router.get("/api/policy", tags=["index"], responses=errors.responses(),
                summary="The policy's parameter changes (adjustment parameter, leverage, factors), oldest first")
    def policy(db: DB, caller: Caller) -> Any:
        return payloads.policy_changes(db)

    @router.get("/api/status", tags=["index"], responses=errors.responses(),
                summary="Index checkpoint and lag behind the node (row counts for the regulator only)")
    def status(db: DB, caller: Caller) -> Any:
        body = payloads.status(db)
        if not caller.is_regulator:
            body.pop("counts")
        body.update(rpc_url=settings.rpc_url, head=None, lag=None, node_error=None)
        if settings.rpc_url:
            try:
                head = _head(settings.rpc_url)
                body.update(head=head, lag=head - body["checkpoint"] if body["checkpoint"] is not None else None)
            except Exception as exc:  # the node being down must not take the status page down
                log.warning("status: node %s unreachable: %s", settings.rpc_url, exc)
                body["node_error"] = f"node {settings.rpc_url} unreachable: {type(exc).__name__}"
        return body

    if settings.rpc_url:
        rpc_url = settings.rpc_url

        @router.get("/api/consistency", tags=["index"], responses=errors.responses(403),
                    summary="Compare the index with the chain at its checkpoint: every borrower's balance, limit "
                            "and headroom, the logs of every contract and event, and the summary tables "
                            "(regulator only)")
        def consistency(db: DB, caller: Caller) -> Any:
            from xborder.index.service import indexer_web3

            caller.require_regulator("the consistency check")
            try:
                return payloads.consistency(db, indexer_web3(rpc_url, timeout=30.0),
                                            expected_chain_id=settings.chain_id)
            # the node is down or serves another chain; the index holds nothing to compare yet
            except (ChainError, ConfigurationError, ValidationError) as exc:
                raise errors.IndexUnavailable(str(exc)) from None

    return router


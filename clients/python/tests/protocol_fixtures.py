"""Runs test/fixtures/update-stream-protocol.json (format: docs/UPDATE-STREAM-PROTOCOL.md,
'The protocol fixtures') against a real sidecar, with the threaded UpdateStream or the
asyncio one. The runner is a coroutine either way; each Helper says how its kind of
stream and stub are driven, so both run exactly the same steps and checks."""

from __future__ import annotations

import asyncio
import json
import signal
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, List, Optional

import grpc

import sessionstore_client as ss
import sessionstore_client.aio as ssa

from sidecar import REPO, Sidecar

pb = ss.pb
FIXTURES = json.loads((REPO / "test" / "fixtures" / "update-stream-protocol.json").read_text())
AWAIT_TIMEOUT = 30.0
CALL_TIMEOUT = 30.0


def outcome_of(ack: Optional[pb.UpdateAck], err: Optional[BaseException]) -> str:
    """What a write came to, in the fixtures' words."""
    if err is None:
        assert ack is not None
        return "applied" if ack.applied else "duplicate"
    if isinstance(err, ss.SessionStopped):
        return f"stopped:{err.reason}"
    if isinstance(err, ss.UpdateRefused):
        return f"refused:{err.reason}"
    if isinstance(err, ss.StreamFailed):
        return f"failed:{err.code.name}"
    raise err


class Helper:
    """How a run drives one kind of client: its channel, unary calls and update streams."""

    name = ""

    def open(self, address: str) -> None: ...

    async def call(self, method: str, request: Any) -> Any: ...

    def stream(self, mode: str, on_stop: Callable[[ss.StopInfo], None]) -> Any: ...

    async def write(self, stream: Any, cid: str, item: str) -> "asyncio.Future[pb.UpdateAck]": ...

    async def close(self, stream: Any) -> None: ...

    async def shutdown(self) -> None: ...


def _batching(mode: str) -> Optional[ss.Batching]:
    return ss.Batching() if mode == "batched" else None


def _item(item: str) -> List[pb.ConversationItem]:
    return [pb.ConversationItem(item_id=item, text=item, role="user", type="message")]


class ThreadedHelper(Helper):
    name = "threaded"

    def open(self, address: str) -> None:
        self._channel = ss.open_channel(address)
        self._stub = ss.SessionStoreServiceStub(self._channel)

    async def call(self, method: str, request: Any) -> Any:
        return getattr(self._stub, method)(request, timeout=CALL_TIMEOUT, wait_for_ready=True)

    def stream(self, mode: str, on_stop: Callable[[ss.StopInfo], None]) -> Any:
        return ss.UpdateStream(self._stub, batching=_batching(mode), on_fenced=on_stop, on_ended=on_stop)

    async def write(self, stream: Any, cid: str, item: str) -> "asyncio.Future[pb.UpdateAck]":
        return asyncio.wrap_future(stream.write(cid, append_history=_item(item)))

    async def close(self, stream: Any) -> None:
        stream.close()

    async def shutdown(self) -> None:
        self._channel.close()


class AsyncioHelper(Helper):
    name = "asyncio"

    def open(self, address: str) -> None:
        self._channel = ssa.open_channel(address)
        self._stub = ssa.SessionStoreServiceStub(self._channel)

    async def call(self, method: str, request: Any) -> Any:
        return await getattr(self._stub, method)(request, timeout=CALL_TIMEOUT, wait_for_ready=True)

    def stream(self, mode: str, on_stop: Callable[[ss.StopInfo], None]) -> Any:
        async def stopped(info: ss.StopInfo) -> None:  # a coroutine callback, as asyncio bridges write them
            on_stop(info)

        return ssa.UpdateStream(self._stub, batching=_batching(mode), on_fenced=stopped, on_ended=stopped)

    async def write(self, stream: Any, cid: str, item: str) -> "asyncio.Future[pb.UpdateAck]":
        return await stream.send(cid, append_history=_item(item))

    async def close(self, stream: Any) -> None:
        await stream.close()

    async def shutdown(self) -> None:
        await self._channel.close()


HELPERS: Dict[str, Callable[[], Helper]] = {"threaded": ThreadedHelper, "asyncio": AsyncioHelper}


@dataclass
class _Bridge:
    stream: Any
    epochs: Dict[str, int] = field(default_factory=dict)
    outcomes: Dict[str, Awaitable[str]] = field(default_factory=dict)
    stops: List[Dict[str, str]] = field(default_factory=list)


async def _settled(future: "asyncio.Future[pb.UpdateAck]") -> str:
    try:
        ack = await future
    except Exception as err:  # noqa: BLE001 - outcome_of names it or raises it again
        return outcome_of(None, err)
    return outcome_of(ack, None)


def _done(outcome: str) -> "asyncio.Future[str]":
    future: "asyncio.Future[str]" = asyncio.get_running_loop().create_future()
    future.set_result(outcome)
    return future


def _check_session(session: pb.Session, expect: Dict[str, Any], where: str) -> None:
    got: Dict[str, Any] = {}
    for name in expect:
        if name == "history":
            got[name] = [h.item_id for h in session.conversation_history]
        elif name == "status":
            got[name] = pb.SessionStatus.Name(session.status).removeprefix("SESSION_STATUS_")
        elif name != "created":
            got[name] = getattr(session, name)
    wanted = {name: value for name, value in expect.items() if name != "created"}
    assert got == wanted, f"{where}: session {got} != expected {wanted}"


async def run_fixture(fixture: Dict[str, Any], mode: str, helper: Helper) -> None:
    """Runs one fixture against a sidecar of its own; fails at the first step that does not hold."""
    sidecar = Sidecar()
    helper.open(sidecar.address)
    bridges: Dict[str, _Bridge] = {}
    run = f"{fixture['name']}-{mode}-{helper.name}"

    def cid(session: str) -> str:
        return f"{run}-{session}"

    def bridge(name: str) -> _Bridge:
        if name not in bridges:
            stops: List[Dict[str, str]] = []
            stream = helper.stream(mode, lambda info: stops.append({"session": info.conversation_id[len(run) + 1 :], "reason": info.reason}))
            bridges[name] = _Bridge(stream, stops=stops)
        return bridges[name]

    def track(name: str, session_name: str, session: pb.Session) -> None:
        b = bridge(name)
        b.stream.track(session)
        b.epochs[session_name] = session.owner_epoch

    try:
        for number, step in enumerate(fixture["steps"], 1):
            where = f"{run} step {number} ({step['op']})"
            op = step["op"]
            if op == "create":
                created = await helper.call(
                    "CreateSession", pb.CreateSessionRequest(session=pb.Session(conversation_id=cid(step["session"])), owner_id=step["bridge"])
                )
                track(step["bridge"], step["session"], created.session)
            elif op == "resume":
                request = pb.ResumeSessionRequest(
                    conversation_id=cid(step["session"]), owner_id=step["bridge"], create_if_missing=step.get("create_if_missing", False)
                )
                if "expect_error" in step:
                    try:
                        await helper.call("ResumeSession", request)
                    except grpc.RpcError as err:
                        got = {"code": err.code().name, "reason": ss.error_reason(err)}
                        assert got == step["expect_error"], f"{where}: {got}"
                    else:
                        raise AssertionError(f"{where}: the resume was not refused")
                    continue
                resumed = await helper.call("ResumeSession", request)
                if "created" in step.get("expect", {}):
                    assert resumed.created == step["expect"]["created"], where
                _check_session(resumed.session, step.get("expect", {}), where)
                track(step["bridge"], step["session"], resumed.session)
            elif op == "track":
                session = (await helper.call("GetSession", pb.GetSessionRequest(conversation_id=cid(step["session"])))).session
                session.last_seq = step["last_seq"]
                if "owner_epoch" in step:
                    session.owner_epoch = step["owner_epoch"]
                track(step["bridge"], step["session"], session)
            elif op == "write":
                b = bridge(step["bridge"])
                for item in step["items"]:
                    try:
                        b.outcomes[item] = asyncio.ensure_future(_settled(await helper.write(b.stream, cid(step["session"]), item)))
                    except ss.SessionStopped as stopped:
                        b.outcomes[item] = _done(outcome_of(None, stopped))
            elif op == "await":
                b = bridge(step["bridge"])
                for item, expected in step["outcomes"].items():
                    got = await asyncio.wait_for(b.outcomes[item], AWAIT_TIMEOUT)
                    allowed = expected if isinstance(expected, list) else [expected]
                    assert got in allowed, f"{where}: {item} came to {got}, expected {expected}"
            elif op == "end":
                epoch = bridge(step["bridge"]).epochs[step["session"]]
                await helper.call("EndSession", pb.EndSessionRequest(conversation_id=cid(step["session"]), reason=step["reason"], owner_epoch=epoch))
            elif op == "stop":
                sidecar.stop(signal.Signals[step["signal"]])
            elif op == "start":
                sidecar.start()
            elif op == "stops":
                assert bridge(step["bridge"]).stops == step["expect"], f"{where}: {bridge(step['bridge']).stops}"
            elif op == "check":
                request = pb.GetSessionRequest(conversation_id=cid(step["session"]), view=pb.SESSION_VIEW_FULL)
                _check_session((await helper.call("GetSession", request)).session, step["expect"], where)
            else:
                raise AssertionError(f"{where}: unknown op {op!r}")
        for b in bridges.values():
            for item, outcome in b.outcomes.items():
                await asyncio.wait_for(outcome, AWAIT_TIMEOUT)
    finally:
        for b in bridges.values():
            await helper.close(b.stream)
        await helper.shutdown()
        assert sidecar.stop() == 0, "the sidecar did not exit cleanly on SIGTERM"

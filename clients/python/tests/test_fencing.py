"""Ownership: a resume hands the call to a new bridge, and the old one's writes are refused."""

from __future__ import annotations

import grpc

import sessionstore_client as ss

from helpers import expect_error

pb = ss.pb


def test_the_earlier_owner_is_fenced_after_another_bridge_resumes(stub, new_id):
    cid = new_id()
    stub.CreateSession(pb.CreateSessionRequest(session=pb.Session(conversation_id=cid), owner_id="pod-a"))
    a = stub.ResumeSession(pb.ResumeSessionRequest(conversation_id=cid, owner_id="pod-a")).session
    b = stub.ResumeSession(pb.ResumeSessionRequest(conversation_id=cid, owner_id="pod-b")).session
    assert (b.owner_epoch, b.owner_id) == (a.owner_epoch + 1, "pod-b")

    stale = pb.SessionUpdate(conversation_id=cid, owner_epoch=a.owner_epoch, append_history=[pb.ConversationItem(text="from a")])
    err = expect_error(
        lambda: stub.UpdateSession(pb.UpdateSessionRequest(update=stale)), grpc.StatusCode.FAILED_PRECONDITION, "SESSION_FENCED"
    )
    assert ss.error_info(err).metadata["owner_epoch"] == str(b.owner_epoch)
    expect_error(
        lambda: stub.EndSession(pb.EndSessionRequest(conversation_id=cid, owner_epoch=a.owner_epoch)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "SESSION_FENCED",
    )

    current = pb.SessionUpdate(conversation_id=cid, owner_epoch=b.owner_epoch, append_history=[pb.ConversationItem(text="from b")])
    assert stub.UpdateSession(pb.UpdateSessionRequest(update=current)).applied
    history = stub.GetSession(pb.GetSessionRequest(conversation_id=cid)).session.conversation_history
    assert [h.text for h in history] == ["from b"]


def test_update_stream_reports_fencing_and_stops_writing_for_the_session(stub, new_id):
    cid, other = new_id(), new_id("other")
    for conversation_id in (cid, other):
        stub.CreateSession(pb.CreateSessionRequest(session=pb.Session(conversation_id=conversation_id), owner_id="pod-a"))
    mine = stub.ResumeSession(pb.ResumeSessionRequest(conversation_id=cid, owner_id="pod-a")).session
    fenced = []
    with ss.UpdateStream(stub, on_fenced=fenced.append) as stream:
        stream.track(mine)
        stream.track(stub.GetSession(pb.GetSessionRequest(conversation_id=other)).session)
        assert stream.write(cid, append_history=[pb.ConversationItem(item_id="a1")]).result(10).applied

        # The call moves to pod-b while pod-a still writes.
        moved = stub.ResumeSession(pb.ResumeSessionRequest(conversation_id=cid, owner_id="pod-b")).session
        refused = stream.write(cid, append_history=[pb.ConversationItem(item_id="a2")])
        assert isinstance(refused.exception(10), ss.UpdateRefused)
        assert (refused.exception().reason, refused.exception().info.metadata["owner_id"]) == ("SESSION_FENCED", "pod-b")
        assert [(f.conversation_id, f.reason) for f in fenced] == [(cid, "SESSION_FENCED")]
        assert stream.stopped(cid) == "SESSION_FENCED"
        try:
            stream.write(cid, append_history=[pb.ConversationItem(item_id="a3")])
            raise AssertionError("a write for a fenced session must be refused locally")
        except ss.SessionStopped as stopped:
            assert stopped.reason == "SESSION_FENCED"
        # The stream goes on for the bridge's other calls.
        assert stream.write(other, append_history=[pb.ConversationItem(item_id="o1")]).result(10).applied

    history = stub.GetSession(pb.GetSessionRequest(conversation_id=cid)).session.conversation_history
    assert [h.item_id for h in history] == ["a1"]
    assert moved.owner_id == "pod-b"


def test_update_stream_reports_an_ended_session(stub, new_id):
    cid = new_id()
    session = stub.CreateSession(pb.CreateSessionRequest(session=pb.Session(conversation_id=cid))).session
    ended = []
    with ss.UpdateStream(stub, on_ended=ended.append) as stream:
        stream.track(session)
        stub.EndSession(pb.EndSessionRequest(conversation_id=cid, reason="hangup"))
        assert stream.write(cid, append_history=[pb.ConversationItem(text="late")]).exception(10).reason == "SESSION_ENDED"
        assert [e.reason for e in ended] == ["SESSION_ENDED"]


def test_resuming_again_fails_only_the_writes_of_the_old_epoch(own_sidecar):
    stub = ss.SessionStoreServiceStub(ss.open_channel(own_sidecar.address))
    first = stub.ResumeSession(pb.ResumeSessionRequest(conversation_id="again-1", owner_id="pod-a", create_if_missing=True)).session
    fenced = []
    # A slow reconnect, so that the resume below lands before the queued write is re-sent.
    with ss.UpdateStream(stub, reconnect_delay=(3.0, 3.0), on_fenced=fenced.append) as stream:
        stream.track(first)
        assert stream.write("again-1", append_history=[pb.ConversationItem(item_id="e1")]).result(10).applied
        own_sidecar.stop()
        stale = stream.write("again-1", append_history=[pb.ConversationItem(item_id="stale")])  # carries epoch 1
        own_sidecar.start()
        # The platform reconnected to this same pod: it resumes the call and tracks the new epoch.
        # (wait_for_ready: the channel is still backing off from the restart).
        second = stub.ResumeSession(pb.ResumeSessionRequest(conversation_id="again-1", owner_id="pod-a"), wait_for_ready=True).session
        stream.track(second)
        assert stale.exception(15).reason == "SESSION_FENCED"
        assert (fenced, stream.stopped("again-1")) == ([], None)
        assert stream.write("again-1", append_history=[pb.ConversationItem(item_id="e2")]).result(10).applied
    history = stub.GetSession(pb.GetSessionRequest(conversation_id="again-1")).session.conversation_history
    assert [h.item_id for h in history] == ["e1", "e2"]


def test_a_callback_that_raises_is_logged_and_the_stream_goes_on(stub, new_id, caplog):
    cid, other = new_id(), new_id("other")

    def broken(info: ss.StopInfo) -> None:
        raise RuntimeError("the bridge's own bug")

    with ss.UpdateStream(stub, on_ended=broken) as stream:
        for conversation_id in (cid, other):
            stream.track(stub.CreateSession(pb.CreateSessionRequest(session=pb.Session(conversation_id=conversation_id))).session)
        stub.EndSession(pb.EndSessionRequest(conversation_id=cid, reason="hangup"))
        assert stream.write(cid, append_history=[pb.ConversationItem(text="late")]).exception(10).reason == "SESSION_ENDED"
        # The stream thread survived the callback: the bridge's other calls still get their acks.
        assert stream.write(other, append_history=[pb.ConversationItem(item_id="o1")]).result(10).applied
    assert any("raised" in record.message and record.exc_info for record in caplog.records)

"""The original plan's test cases, through the generated stubs against a real sidecar."""

from __future__ import annotations

import time

import grpc
from google.protobuf import duration_pb2, struct_pb2

import sessionstore_client as ss

from helpers import expect_error
from sidecar import Sidecar

pb = ss.pb


def create(stub, conversation_id: str, **fields) -> pb.Session:
    request = pb.CreateSessionRequest(session=pb.Session(conversation_id=conversation_id, **fields), owner_id="pod-a")
    return stub.CreateSession(request).session


def test_create_starts_initiated_with_epoch_1(plan_stub, new_id):
    session = create(plan_stub, new_id(), bridge_type="audiocodes", caller="+15550100")
    assert (session.status, session.resumed_count, session.owner_epoch, session.owner_id) == (
        pb.SESSION_STATUS_INITIATED,
        0,
        1,
        "pod-a",
    )
    assert session.etag and session.created_at.seconds > 0


def test_resume_twice_keeps_an_update_made_in_between(plan_stub, new_id):
    cid = new_id()
    create(plan_stub, cid)
    first = plan_stub.ResumeSession(pb.ResumeSessionRequest(conversation_id=cid, owner_id="pod-b"))
    assert (first.session.resumed_count, first.session.status, first.session.owner_id, first.created) == (
        1,
        pb.SESSION_STATUS_ACTIVE,
        "pod-b",
        False,
    )
    plan_stub.UpdateSession(
        pb.UpdateSessionRequest(
            update=pb.SessionUpdate(
                conversation_id=cid,
                owner_epoch=first.session.owner_epoch,
                update_mask={"paths": ["media_format", "status"]},
                session=pb.Session(media_format="raw/mulaw", status=pb.SESSION_STATUS_PAUSED),
            )
        )
    )
    second = plan_stub.ResumeSession(pb.ResumeSessionRequest(conversation_id=cid, owner_id="pod-c")).session
    assert (second.resumed_count, second.media_format, second.owner_epoch) == (2, "raw/mulaw", first.session.owner_epoch + 1)


def test_resume_can_create_a_missing_session(plan_stub, new_id):
    cid = new_id()
    resumed = plan_stub.ResumeSession(
        pb.ResumeSessionRequest(conversation_id=cid, owner_id="pod-a", create_if_missing=True, session=pb.Session(bridge_type="twilio"))
    )
    assert (resumed.created, resumed.session.status, resumed.session.bridge_type, resumed.session.owner_epoch) == (
        True,
        pb.SESSION_STATUS_ACTIVE,
        "twilio",
        1,
    )


def test_rejects_resuming_a_missing_session(plan_stub):
    err = expect_error(
        lambda: plan_stub.ResumeSession(pb.ResumeSessionRequest(conversation_id="non-existent")),
        grpc.StatusCode.NOT_FOUND,
        "SESSION_NOT_FOUND",
    )
    assert err.details() == "Session not found"


def test_rejects_resuming_an_ended_session(plan_stub, new_id):
    cid = new_id()
    create(plan_stub, cid)
    ended = plan_stub.EndSession(pb.EndSessionRequest(conversation_id=cid, reason="caller hung up")).session
    assert (ended.status, ended.end_reason) == (pb.SESSION_STATUS_ENDED, "caller hung up")
    err = expect_error(
        lambda: plan_stub.ResumeSession(pb.ResumeSessionRequest(conversation_id=cid)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "SESSION_ENDED",
    )
    assert err.details() == "Session already ended"


def test_rejects_resuming_past_max_resume_attempts(plan_stub, new_id):
    cid = new_id()
    create(plan_stub, cid)
    for _ in range(3):
        plan_stub.ResumeSession(pb.ResumeSessionRequest(conversation_id=cid))
    err = expect_error(
        lambda: plan_stub.ResumeSession(pb.ResumeSessionRequest(conversation_id=cid)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "MAX_RESUMES_EXCEEDED",
    )
    assert err.details() == "Maximum resume attempts exceeded"
    assert ss.error_info(err).metadata["resumed_count"] == "3"


def test_rejects_resuming_a_session_idle_past_max_resume_age(plan_stub, new_id):
    cid = new_id()
    create(plan_stub, cid)
    time.sleep(2.3)
    err = expect_error(
        lambda: plan_stub.ResumeSession(pb.ResumeSessionRequest(conversation_id=cid)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "RESUME_WINDOW_EXPIRED",
    )
    assert err.details() == "Session too old to resume"


def test_validate_resume_answers_the_plans_exact_reasons_and_changes_nothing(plan_stub, new_id):
    old, valid, ended, many = new_id("old"), new_id("valid"), new_id("ended"), new_id("many")
    create(plan_stub, old)
    time.sleep(2.3)
    for cid in (valid, ended, many):
        create(plan_stub, cid)
    plan_stub.EndSession(pb.EndSessionRequest(conversation_id=ended))
    for _ in range(3):
        plan_stub.ResumeSession(pb.ResumeSessionRequest(conversation_id=many))
    before = plan_stub.GetSession(pb.GetSessionRequest(conversation_id=valid)).session
    answers = [plan_stub.ValidateResume(pb.ValidateResumeRequest(conversation_id=cid)) for cid in (valid, "non-existent", ended, old, many)]
    assert [(a.valid, a.reason, a.code) for a in answers] == [
        (True, "Valid resume request", ""),
        (False, "Session not found", "SESSION_NOT_FOUND"),
        (False, "Session already ended", "SESSION_ENDED"),
        (False, "Session too old to resume", "RESUME_WINDOW_EXPIRED"),
        (False, "Maximum resume attempts exceeded", "MAX_RESUMES_EXCEEDED"),
    ]
    after = plan_stub.GetSession(pb.GetSessionRequest(conversation_id=valid)).session
    assert after.etag == before.etag


def test_update_writes_masked_fields_and_appends(stub, new_id):
    cid = new_id()
    created = create(stub, cid, caller="+15550100", bot_name="voice-bot")
    audio = bytes((i * 7 + 3) % 256 for i in range(3200))
    response = stub.UpdateSession(
        pb.UpdateSessionRequest(
            update=pb.SessionUpdate(
                conversation_id=cid,
                etag=created.etag,
                update_mask={"paths": ["media_format", "status", "metadata"]},
                session=pb.Session(
                    media_format="raw/lpcm16_24",
                    status=pb.SESSION_STATUS_PAUSED,
                    metadata=struct_pb2.Struct(fields={"tenant_hint": struct_pb2.Value(string_value="acme")}),
                ),
                append_history=[
                    pb.ConversationItem(item_id="i1", role="user", type="message", text="I'd like to check my balance"),
                    pb.ConversationItem(item_id="i2", role="assistant", type="message", text="Sure, one moment."),
                ],
                upsert_function_calls=[
                    pb.FunctionCall(
                        call_id="c1", function_name="get_balance", arguments='{"account":"42"}', status="completed", result='{"balance":10}'
                    )
                ],
                append_audio=[pb.AudioChunk(data=audio)],
            )
        )
    )
    assert response.applied and response.session.etag != created.etag
    full = stub.GetSession(pb.GetSessionRequest(conversation_id=cid, view=pb.SESSION_VIEW_FULL)).session
    assert (full.media_format, full.status, full.metadata["tenant_hint"]) == ("raw/lpcm16_24", pb.SESSION_STATUS_PAUSED, "acme")
    assert [(h.item_id, h.role, h.text) for h in full.conversation_history] == [
        ("i1", "user", "I'd like to check my balance"),
        ("i2", "assistant", "Sure, one moment."),
    ]
    assert [(f.call_id, f.arguments, f.result) for f in full.function_calls] == [("c1", '{"account":"42"}', '{"balance":10}')]
    assert [c.data for c in full.audio_buffer] == [audio]
    basic = stub.GetSession(pb.GetSessionRequest(conversation_id=cid, view=pb.SESSION_VIEW_BASIC)).session
    assert (len(basic.conversation_history), len(basic.audio_buffer), basic.caller) == (0, 0, "+15550100")


def test_update_with_a_stale_etag_is_aborted(stub, new_id):
    cid = new_id()
    created = create(stub, cid)
    stub.UpdateSession(
        pb.UpdateSessionRequest(update=pb.SessionUpdate(conversation_id=cid, append_history=[pb.ConversationItem(text="x")]))
    )
    expect_error(
        lambda: stub.UpdateSession(pb.UpdateSessionRequest(update=pb.SessionUpdate(conversation_id=cid, etag=created.etag))),
        grpc.StatusCode.ABORTED,
        "ETAG_MISMATCH",
    )


def test_end_is_idempotent_and_refuses_later_writes(stub, new_id):
    cid = new_id()
    create(stub, cid)
    ended = stub.EndSession(pb.EndSessionRequest(conversation_id=cid, reason="completed")).session
    again = stub.EndSession(pb.EndSessionRequest(conversation_id=cid, reason="other")).session
    assert (again.status, again.end_reason, again.etag) == (pb.SESSION_STATUS_ENDED, "completed", ended.etag)
    expect_error(
        lambda: stub.UpdateSession(
            pb.UpdateSessionRequest(update=pb.SessionUpdate(conversation_id=cid, append_history=[pb.ConversationItem(text="late")]))
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "SESSION_ENDED",
    )


def test_list_pages_and_filters(stub, new_id):
    bridge = new_id("bridge")  # a bridge_type no other test uses
    ids = sorted(new_id() for _ in range(5))
    for cid in ids:
        create(stub, cid, bridge_type=bridge)
    stub.EndSession(pb.EndSessionRequest(conversation_id=ids[0]))
    seen, token = [], ""
    while True:
        page = stub.ListSessions(pb.ListSessionsRequest(bridge_type=bridge, page_size=2, page_token=token))
        assert len(page.sessions) <= 2
        seen += [s.conversation_id for s in page.sessions]
        token = page.next_page_token
        if not token:
            break
    assert seen == ids[1:]  # ordered by conversation_id; ENDED left out by default
    ended = stub.ListSessions(pb.ListSessionsRequest(bridge_type=bridge, statuses=[pb.SESSION_STATUS_ENDED]))
    assert [s.conversation_id for s in ended.sessions] == ids[:1]
    expect_error(
        lambda: stub.ListSessions(pb.ListSessionsRequest(bridge_type=bridge, page_token="not-a-token")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_PAGE_TOKEN",
    )


def test_delete_removes_the_session(stub, new_id):
    cid = new_id()
    create(stub, cid)
    stub.DeleteSession(pb.DeleteSessionRequest(conversation_id=cid))
    expect_error(lambda: stub.GetSession(pb.GetSessionRequest(conversation_id=cid)), grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND")
    expect_error(lambda: stub.DeleteSession(pb.DeleteSessionRequest(conversation_id=cid)), grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND")


def test_cleanup_deletes_idle_sessions_and_dry_run_only_counts(own_sidecar: Sidecar):
    stub = ss.SessionStoreServiceStub(ss.open_channel(own_sidecar.address))
    for i in range(3):
        create(stub, f"idle-{i}")
    time.sleep(1.2)
    create(stub, "fresh")
    one_second = duration_pb2.Duration(seconds=1)
    dry = stub.CleanupSessions(pb.CleanupSessionsRequest(max_age=one_second, dry_run=True))
    assert dry.deleted_count == 3
    assert stub.CleanupSessions(pb.CleanupSessionsRequest(max_age=one_second)).deleted_count == 3
    remaining = stub.ListSessions(pb.ListSessionsRequest()).sessions
    assert [s.conversation_id for s in remaining] == ["fresh"]
    assert stub.GetStats(pb.GetStatsRequest()).cleanup_count == 3


def test_bad_input_names_the_field(stub):
    err = expect_error(
        lambda: stub.CreateSession(pb.CreateSessionRequest(session=pb.Session(conversation_id="bad id!"))),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
    )
    assert [v.field for v in ss.bad_request(err).field_violations] == ["session.conversation_id"]


def test_a_token_is_sent_as_bearer_authorization(new_id):
    secured = Sidecar(["--auth-tokens", "s3cret-0123456789ab=tenant-a"])
    try:
        good = ss.SessionStoreServiceStub(ss.open_channel(secured.address, token="s3cret-0123456789ab"))
        assert good.CreateSession(pb.CreateSessionRequest(session=pb.Session(conversation_id=new_id()))).session.etag
        anonymous = ss.SessionStoreServiceStub(ss.open_channel(secured.address))
        expect_error(lambda: anonymous.GetStats(pb.GetStatsRequest()), grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED")
    finally:
        assert secured.stop() == 0

package sessionstore_test

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	pb "github.com/sessionstore/sessionstore/clients/go/gen/sessionstore/v1"
	"github.com/sessionstore/sessionstore/clients/go/sessionstore"
)

// The original plan's test cases, through the generated client against a real sidecar.

var ctx = context.Background()

func TestCreateStartsInitiatedWithEpoch1(t *testing.T) {
	s := create(t, connect(t, plan), &pb.Session{ConversationId: newID(t), BridgeType: "audiocodes"})
	got := []any{s.GetStatus(), s.GetResumedCount(), s.GetOwnerEpoch(), s.GetOwnerId(), s.GetEtag() != ""}
	if want := []any{pb.SessionStatus_SESSION_STATUS_INITIATED, int32(0), int64(1), "pod-a", true}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestResumeTwiceKeepsAnUpdateMadeInBetween(t *testing.T) {
	client, id := connect(t, plan), newID(t)
	create(t, client, &pb.Session{ConversationId: id})
	first := resume(t, client, id, "pod-b")
	if first.GetResumedCount() != 1 || first.GetStatus() != pb.SessionStatus_SESSION_STATUS_ACTIVE || first.GetOwnerId() != "pod-b" {
		t.Fatalf("first resume: %v", first)
	}
	_, err := client.UpdateSession(ctx, &pb.UpdateSessionRequest{Update: &pb.SessionUpdate{
		ConversationId: id,
		OwnerEpoch:     first.GetOwnerEpoch(),
		UpdateMask:     &fieldmaskpb.FieldMask{Paths: []string{"media_format", "status"}},
		Session:        &pb.Session{MediaFormat: "raw/mulaw", Status: pb.SessionStatus_SESSION_STATUS_PAUSED},
	}})
	if err != nil {
		t.Fatal(err)
	}
	second := resume(t, client, id, "pod-c")
	if second.GetResumedCount() != 2 || second.GetMediaFormat() != "raw/mulaw" || second.GetOwnerEpoch() != first.GetOwnerEpoch()+1 {
		t.Fatalf("second resume: %v", second)
	}
}

func TestRejectsResumingAMissingSession(t *testing.T) {
	_, err := connect(t, plan).ResumeSession(ctx, &pb.ResumeSessionRequest{ConversationId: "non-existent"})
	if st := expectError(t, err, codes.NotFound, "SESSION_NOT_FOUND"); st.Message() != "Session not found" {
		t.Fatalf("message %q", st.Message())
	}
}

func TestRejectsResumingAnEndedSession(t *testing.T) {
	client, id := connect(t, plan), newID(t)
	create(t, client, &pb.Session{ConversationId: id})
	ended, err := client.EndSession(ctx, &pb.EndSessionRequest{ConversationId: id, Reason: "caller hung up"})
	if err != nil || ended.GetSession().GetStatus() != pb.SessionStatus_SESSION_STATUS_ENDED || ended.GetSession().GetEndReason() != "caller hung up" {
		t.Fatalf("end: %v %v", ended, err)
	}
	_, err = client.ResumeSession(ctx, &pb.ResumeSessionRequest{ConversationId: id})
	if st := expectError(t, err, codes.FailedPrecondition, "SESSION_ENDED"); st.Message() != "Session already ended" {
		t.Fatalf("message %q", st.Message())
	}
}

func TestRejectsResumingPastMaxResumeAttempts(t *testing.T) {
	client, id := connect(t, plan), newID(t)
	create(t, client, &pb.Session{ConversationId: id})
	for range 3 {
		resume(t, client, id, "pod-b")
	}
	_, err := client.ResumeSession(ctx, &pb.ResumeSessionRequest{ConversationId: id})
	if st := expectError(t, err, codes.FailedPrecondition, "MAX_RESUMES_EXCEEDED"); st.Message() != "Maximum resume attempts exceeded" {
		t.Fatalf("message %q", st.Message())
	}
	if got := sessionstore.ErrorInfo(err).GetMetadata()["resumed_count"]; got != "3" {
		t.Fatalf("resumed_count metadata %q", got)
	}
}

func TestRejectsResumingASessionIdlePastMaxResumeAge(t *testing.T) {
	t.Parallel()
	client, id := connect(t, plan), newID(t)
	create(t, client, &pb.Session{ConversationId: id})
	time.Sleep(2300 * time.Millisecond)
	_, err := client.ResumeSession(ctx, &pb.ResumeSessionRequest{ConversationId: id})
	if st := expectError(t, err, codes.FailedPrecondition, "RESUME_WINDOW_EXPIRED"); st.Message() != "Session too old to resume" {
		t.Fatalf("message %q", st.Message())
	}
}

func TestValidateResumeAnswersThePlansExactReasonsAndChangesNothing(t *testing.T) {
	t.Parallel()
	client := connect(t, plan)
	old, valid, ended, many := newID(t), newID(t), newID(t), newID(t)
	create(t, client, &pb.Session{ConversationId: old})
	time.Sleep(2300 * time.Millisecond)
	for _, id := range []string{valid, ended, many} {
		create(t, client, &pb.Session{ConversationId: id})
	}
	if _, err := client.EndSession(ctx, &pb.EndSessionRequest{ConversationId: ended}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		resume(t, client, many, "pod-b")
	}
	before := get(t, client, valid)
	var got [][3]any
	for _, id := range []string{valid, "non-existent", ended, old, many} {
		a, err := client.ValidateResume(ctx, &pb.ValidateResumeRequest{ConversationId: id})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, [3]any{a.GetValid(), a.GetReason(), a.GetCode()})
	}
	want := [][3]any{
		{true, "Valid resume request", ""},
		{false, "Session not found", "SESSION_NOT_FOUND"},
		{false, "Session already ended", "SESSION_ENDED"},
		{false, "Session too old to resume", "RESUME_WINDOW_EXPIRED"},
		{false, "Maximum resume attempts exceeded", "MAX_RESUMES_EXCEEDED"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	if after := get(t, client, valid); after.GetEtag() != before.GetEtag() {
		t.Fatal("ValidateResume changed the session")
	}
}

func TestUpdateWritesMaskedFieldsAndAppends(t *testing.T) {
	client, id := connect(t, shared), newID(t)
	created := create(t, client, &pb.Session{ConversationId: id, Caller: "+15550100"})
	audio := make([]byte, 3200)
	for i := range audio {
		audio[i] = byte((i*7 + 3) % 256)
	}
	resp, err := client.UpdateSession(ctx, &pb.UpdateSessionRequest{Update: &pb.SessionUpdate{
		ConversationId: id,
		Etag:           created.GetEtag(),
		UpdateMask:     &fieldmaskpb.FieldMask{Paths: []string{"media_format", "status"}},
		Session:        &pb.Session{MediaFormat: "raw/lpcm16_24", Status: pb.SessionStatus_SESSION_STATUS_PAUSED},
		AppendHistory: []*pb.ConversationItem{
			{ItemId: "i1", Role: "user", Type: "message", Text: "I'd like to check my balance"},
			{ItemId: "i2", Role: "assistant", Type: "message", Text: "Sure, one moment."},
		},
		UpsertFunctionCalls: []*pb.FunctionCall{{CallId: "c1", FunctionName: "get_balance", Arguments: `{"account":"42"}`, Status: "completed", Result: `{"balance":10}`}},
		AppendAudio:         []*pb.AudioChunk{{Data: audio}},
	}})
	if err != nil || !resp.GetApplied() {
		t.Fatalf("update: %v %v", resp, err)
	}
	full := get(t, client, id)
	if full.GetMediaFormat() != "raw/lpcm16_24" || full.GetStatus() != pb.SessionStatus_SESSION_STATUS_PAUSED {
		t.Fatalf("fields: %v", full)
	}
	if h := full.GetConversationHistory(); len(h) != 2 || h[0].GetText() != "I'd like to check my balance" || h[1].GetItemId() != "i2" {
		t.Fatalf("history: %v", h)
	}
	if f := full.GetFunctionCalls(); len(f) != 1 || f[0].GetArguments() != `{"account":"42"}` || f[0].GetResult() != `{"balance":10}` {
		t.Fatalf("function calls: %v", f)
	}
	if a := full.GetAudioBuffer(); len(a) != 1 || !slices.Equal(a[0].GetData(), audio) {
		t.Fatal("audio differs")
	}
	basic, err := client.GetSession(ctx, &pb.GetSessionRequest{ConversationId: id, View: pb.SessionView_SESSION_VIEW_BASIC})
	if err != nil || len(basic.GetSession().GetConversationHistory()) != 0 || basic.GetSession().GetCaller() != "+15550100" {
		t.Fatalf("basic view: %v %v", basic, err)
	}
}

func TestEndIsIdempotentAndRefusesLaterWrites(t *testing.T) {
	client, id := connect(t, shared), newID(t)
	create(t, client, &pb.Session{ConversationId: id})
	first, err := client.EndSession(ctx, &pb.EndSessionRequest{ConversationId: id, Reason: "completed"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := client.EndSession(ctx, &pb.EndSessionRequest{ConversationId: id, Reason: "other"})
	if err != nil || !proto.Equal(again.GetSession(), first.GetSession()) {
		t.Fatalf("ending again changed the session: %v %v", again, err)
	}
	_, err = client.UpdateSession(ctx, &pb.UpdateSessionRequest{Update: &pb.SessionUpdate{ConversationId: id, AppendHistory: []*pb.ConversationItem{{Text: "late"}}}})
	expectError(t, err, codes.FailedPrecondition, "SESSION_ENDED")
}

func TestListPagesAndFilters(t *testing.T) {
	client, bridge := connect(t, shared), newID(t)
	var ids []string
	for range 5 {
		ids = append(ids, newID(t))
	}
	slices.Sort(ids)
	for _, id := range ids {
		create(t, client, &pb.Session{ConversationId: id, BridgeType: bridge})
	}
	if _, err := client.EndSession(ctx, &pb.EndSessionRequest{ConversationId: ids[0]}); err != nil {
		t.Fatal(err)
	}
	var seen []string
	for token := ""; ; {
		page, err := client.ListSessions(ctx, &pb.ListSessionsRequest{BridgeType: bridge, PageSize: 2, PageToken: token})
		if err != nil || len(page.GetSessions()) > 2 {
			t.Fatalf("page: %v %v", page, err)
		}
		for _, s := range page.GetSessions() {
			seen = append(seen, s.GetConversationId())
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	if !slices.Equal(seen, ids[1:]) { // ordered by conversation_id; ENDED left out by default
		t.Fatalf("listed %v, want %v", seen, ids[1:])
	}
	ended, err := client.ListSessions(ctx, &pb.ListSessionsRequest{BridgeType: bridge, Statuses: []pb.SessionStatus{pb.SessionStatus_SESSION_STATUS_ENDED}})
	if err != nil || len(ended.GetSessions()) != 1 || ended.GetSessions()[0].GetConversationId() != ids[0] {
		t.Fatalf("ended: %v %v", ended, err)
	}
	_, err = client.ListSessions(ctx, &pb.ListSessionsRequest{BridgeType: bridge, PageToken: "not-a-token"})
	expectError(t, err, codes.InvalidArgument, "INVALID_PAGE_TOKEN")
}

func TestDeleteRemovesTheSession(t *testing.T) {
	client, id := connect(t, shared), newID(t)
	create(t, client, &pb.Session{ConversationId: id})
	if _, err := client.DeleteSession(ctx, &pb.DeleteSessionRequest{ConversationId: id}); err != nil {
		t.Fatal(err)
	}
	_, err := client.GetSession(ctx, &pb.GetSessionRequest{ConversationId: id})
	expectError(t, err, codes.NotFound, "SESSION_NOT_FOUND")
	_, err = client.DeleteSession(ctx, &pb.DeleteSessionRequest{ConversationId: id})
	expectError(t, err, codes.NotFound, "SESSION_NOT_FOUND")
}

func TestCleanupDeletesIdleSessionsAndDryRunOnlyCounts(t *testing.T) {
	t.Parallel()
	client := connect(t, ownSidecar(t))
	for _, id := range []string{"idle-0", "idle-1", "idle-2"} {
		create(t, client, &pb.Session{ConversationId: id})
	}
	time.Sleep(1200 * time.Millisecond)
	create(t, client, &pb.Session{ConversationId: "fresh"})
	oneSecond := durationpb.New(time.Second)
	dry, err := client.CleanupSessions(ctx, &pb.CleanupSessionsRequest{MaxAge: oneSecond, DryRun: true})
	if err != nil || dry.GetDeletedCount() != 3 {
		t.Fatalf("dry run: %v %v", dry, err)
	}
	done, err := client.CleanupSessions(ctx, &pb.CleanupSessionsRequest{MaxAge: oneSecond})
	if err != nil || done.GetDeletedCount() != 3 {
		t.Fatalf("cleanup: %v %v", done, err)
	}
	left, err := client.ListSessions(ctx, &pb.ListSessionsRequest{})
	if err != nil || len(left.GetSessions()) != 1 || left.GetSessions()[0].GetConversationId() != "fresh" {
		t.Fatalf("left: %v %v", left, err)
	}
}

func TestBadInputNamesTheField(t *testing.T) {
	_, err := connect(t, shared).CreateSession(ctx, &pb.CreateSessionRequest{Session: &pb.Session{ConversationId: "bad id!"}})
	expectError(t, err, codes.InvalidArgument, "INVALID_ARGUMENT")
	if v := sessionstore.BadRequest(err).GetFieldViolations(); len(v) != 1 || v[0].GetField() != "session.conversation_id" {
		t.Fatalf("violations: %v", v)
	}
}

func TestATokenIsSentAsBearerAuthorization(t *testing.T) {
	t.Parallel()
	secured := ownSidecar(t, "--auth-tokens", "s3cret-0123456789ab=tenant-a")
	good := connect(t, secured, sessionstore.WithToken("s3cret-0123456789ab"))
	create(t, good, &pb.Session{ConversationId: newID(t)})
	_, err := connect(t, secured).GetStats(ctx, &pb.GetStatsRequest{})
	expectError(t, err, codes.Unauthenticated, "UNAUTHENTICATED")
}

package sessionstore_test

import (
	"errors"
	"strconv"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	pb "github.com/sessionstore/sessionstore/clients/go/gen/sessionstore/v1"
	"github.com/sessionstore/sessionstore/clients/go/sessionstore"
)

// Ownership: a resume hands the call to a new bridge, and the old one's writes are refused.

func TestTheEarlierOwnerIsFencedAfterAnotherBridgeResumes(t *testing.T) {
	client, id := connect(t, shared), newID(t)
	create(t, client, &pb.Session{ConversationId: id})
	a := resume(t, client, id, "pod-a")
	b := resume(t, client, id, "pod-b")
	if b.GetOwnerEpoch() != a.GetOwnerEpoch()+1 || b.GetOwnerId() != "pod-b" {
		t.Fatalf("second resume: %v", b)
	}
	stale := &pb.SessionUpdate{ConversationId: id, OwnerEpoch: a.GetOwnerEpoch(), AppendHistory: []*pb.ConversationItem{{Text: "from a"}}}
	_, err := client.UpdateSession(ctx, &pb.UpdateSessionRequest{Update: stale})
	expectError(t, err, codes.FailedPrecondition, "SESSION_FENCED")
	if got := sessionstore.ErrorInfo(err).GetMetadata()["owner_epoch"]; got != strconv.FormatInt(b.GetOwnerEpoch(), 10) {
		t.Fatalf("owner_epoch metadata %q", got)
	}
	_, err = client.EndSession(ctx, &pb.EndSessionRequest{ConversationId: id, OwnerEpoch: a.GetOwnerEpoch()})
	expectError(t, err, codes.FailedPrecondition, "SESSION_FENCED")

	current := &pb.SessionUpdate{ConversationId: id, OwnerEpoch: b.GetOwnerEpoch(), AppendHistory: []*pb.ConversationItem{{Text: "from b"}}}
	if resp, err := client.UpdateSession(ctx, &pb.UpdateSessionRequest{Update: current}); err != nil || !resp.GetApplied() {
		t.Fatalf("owner's update: %v %v", resp, err)
	}
	if h := get(t, client, id).GetConversationHistory(); len(h) != 1 || h[0].GetText() != "from b" {
		t.Fatalf("history %v", h)
	}
}

func TestUpdateStreamReportsFencingAndStopsWritingForTheSession(t *testing.T) {
	client, id, other := connect(t, shared), newID(t), newID(t)
	create(t, client, &pb.Session{ConversationId: id})
	otherSession := create(t, client, &pb.Session{ConversationId: other})
	var fenced []sessionstore.StopInfo
	stream := sessionstore.NewUpdateStream(t.Context(), client, sessionstore.UpdateStreamOptions{OnFenced: func(i sessionstore.StopInfo) { fenced = append(fenced, i) }})
	defer stream.Close(ctx)
	stream.Track(resume(t, client, id, "pod-a"))
	stream.Track(otherSession)
	if ack := writeAndWait(t, stream, id, item("a1")); !ack.GetApplied() {
		t.Fatal("first write not applied")
	}

	resume(t, client, id, "pod-b") // the call moves while pod-a still writes
	p, err := stream.Write(ctx, id, item("a2"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Wait(ctx)
	var refused *sessionstore.UpdateRefusedError
	if !errors.As(err, &refused) || sessionstore.Reason(err) != "SESSION_FENCED" || sessionstore.ErrorInfo(err).GetMetadata()["owner_id"] != "pod-b" {
		t.Fatalf("want a SESSION_FENCED refusal naming pod-b, got %v", err)
	}
	if len(fenced) != 1 || fenced[0].ConversationID != id || fenced[0].Reason != "SESSION_FENCED" || stream.Stopped(id) != "SESSION_FENCED" {
		t.Fatalf("fencing not reported: %v", fenced)
	}
	var stopped *sessionstore.SessionStoppedError
	_, err = stream.Write(ctx, id, item("a3"))
	if !errors.As(err, &stopped) || stopped.Reason != sessionstore.ReasonSessionFenced || errors.As(err, &refused) {
		t.Fatalf("a write for a fenced session must be refused locally, got %v", err)
	}
	// It reads like the refusal that stopped the session: who owns the call now.
	if sessionstore.Reason(err) != "SESSION_FENCED" || sessionstore.ErrorInfo(err).GetMetadata()["owner_id"] != "pod-b" {
		t.Fatalf("the stopped write's error does not carry the fence: %v (%v)", err, sessionstore.ErrorInfo(err))
	}
	if ack := writeAndWait(t, stream, other, item("o1")); !ack.GetApplied() { // the stream goes on for other calls
		t.Fatal("other session's write not applied")
	}
	if h := get(t, client, id).GetConversationHistory(); len(h) != 1 || h[0].GetItemId() != "a1" {
		t.Fatalf("history %v", h)
	}
}

func TestUpdateStreamReportsAnEndedSession(t *testing.T) {
	client, id := connect(t, shared), newID(t)
	session := create(t, client, &pb.Session{ConversationId: id})
	var ended []sessionstore.StopInfo
	stream := sessionstore.NewUpdateStream(t.Context(), client, sessionstore.UpdateStreamOptions{OnEnded: func(i sessionstore.StopInfo) { ended = append(ended, i) }})
	defer stream.Close(ctx)
	stream.Track(session)
	if _, err := client.EndSession(ctx, &pb.EndSessionRequest{ConversationId: id, Reason: "hangup"}); err != nil {
		t.Fatal(err)
	}
	p, err := stream.Write(ctx, id, item("late"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(ctx); sessionstore.Reason(err) != "SESSION_ENDED" || len(ended) != 1 {
		t.Fatalf("want SESSION_ENDED reported, got %v (%v)", err, ended)
	}
}

func item(id string) *pb.SessionUpdate {
	return &pb.SessionUpdate{AppendHistory: []*pb.ConversationItem{{ItemId: id}}}
}

func writeAndWait(t *testing.T, stream *sessionstore.UpdateStream, id string, u *pb.SessionUpdate) *pb.UpdateAck {
	t.Helper()
	p, err := stream.Write(ctx, id, u)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := p.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ack
}

func TestResumingAgainFailsOnlyTheWritesOfTheOldEpoch(t *testing.T) {
	t.Parallel()
	sidecar := ownSidecar(t)
	client := connect(t, sidecar)
	first, err := client.ResumeSession(ctx, &pb.ResumeSessionRequest{ConversationId: "again-1", OwnerId: "pod-a", CreateIfMissing: true})
	if err != nil {
		t.Fatal(err)
	}
	var fenced []sessionstore.StopInfo
	// A slow reconnect, so that the resume below lands before the queued write is re-sent.
	stream := sessionstore.NewUpdateStream(t.Context(), client, sessionstore.UpdateStreamOptions{
		MinBackoff: 3 * time.Second, MaxBackoff: 3 * time.Second,
		OnFenced: func(i sessionstore.StopInfo) { fenced = append(fenced, i) },
	})
	defer stream.Close(ctx)
	stream.Track(first.GetSession())
	writeAndWait(t, stream, "again-1", item("e1"))
	if _, err := sidecar.Stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	stale, err := stream.Write(ctx, "again-1", item("stale")) // carries epoch 1
	if err != nil {
		t.Fatal(err)
	}
	if err := sidecar.Start(); err != nil {
		t.Fatal(err)
	}
	// The platform reconnected to this same pod: it resumes the call and tracks the new epoch.
	// (WaitForReady: the connection is still backing off from the restart).
	second, err := client.ResumeSession(ctx, &pb.ResumeSessionRequest{ConversationId: "again-1", OwnerId: "pod-a"}, grpc.WaitForReady(true))
	if err != nil {
		t.Fatal(err)
	}
	stream.Track(second.GetSession())
	if _, err := stale.Wait(ctx); sessionstore.Reason(err) != "SESSION_FENCED" {
		t.Fatalf("want the stale write fenced, got %v", err)
	}
	if len(fenced) != 0 || stream.Stopped("again-1") != "" {
		t.Fatalf("the session was stopped: %v", fenced)
	}
	writeAndWait(t, stream, "again-1", item("e2"))
	if h := get(t, client, "again-1").GetConversationHistory(); len(h) != 2 || h[0].GetItemId() != "e1" || h[1].GetItemId() != "e2" {
		t.Fatalf("history %v", h)
	}
}

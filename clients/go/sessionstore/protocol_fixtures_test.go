package sessionstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/status"

	pb "github.com/sessionstore/sessionstore/clients/go/gen/sessionstore/v1"
	"github.com/sessionstore/sessionstore/clients/go/sessionstore"
)

// The shared protocol fixtures (test/fixtures/update-stream-protocol.json, the
// same cases the TypeScript and Python helpers run) with UpdateStream, each run
// on a sidecar of its own. The format is documented in docs/UPDATE-STREAM-PROTOCOL.md.

type protocolFixtures struct {
	Modes    []string          `json:"modes"`
	Fixtures []protocolFixture `json:"fixtures"`
}

type protocolFixture struct {
	Name  string         `json:"name"`
	About string         `json:"about"`
	Steps []protocolStep `json:"steps"`
}

// protocolStep is every op's fields; each op reads its own.
type protocolStep struct {
	Op              string                         `json:"op"`
	Bridge          string                         `json:"bridge"`
	Session         string                         `json:"session"`
	CreateIfMissing bool                           `json:"create_if_missing"`
	LastSeq         *int64                         `json:"last_seq"`
	OwnerEpoch      *int64                         `json:"owner_epoch"`
	Items           []string                       `json:"items"`
	Outcomes        map[string]json.RawMessage     `json:"outcomes"`
	Reason          string                         `json:"reason"`
	Signal          string                         `json:"signal"`
	Expect          json.RawMessage                `json:"expect"`
	ExpectError     *struct{ Code, Reason string } `json:"expect_error"`
}

type stopRecord struct {
	Session string `json:"session"`
	Reason  string `json:"reason"`
}

func readProtocolFixtures(t *testing.T) protocolFixtures {
	_, file, _, _ := runtime.Caller(0)
	// clients/go/sessionstore -> repository root
	data, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "..", "test", "fixtures", "update-stream-protocol.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fixtures protocolFixtures
	if err := json.Unmarshal(data, &fixtures); err != nil {
		t.Fatal(err)
	}
	return fixtures
}

func TestProtocolFixtures(t *testing.T) {
	fixtures := readProtocolFixtures(t)
	for _, mode := range fixtures.Modes {
		t.Run(mode, func(t *testing.T) {
			for _, fixture := range fixtures.Fixtures {
				t.Run(fixture.Name, func(t *testing.T) { runProtocolFixture(t, fixture, mode) })
			}
		})
	}
}

// fixtureBridge is one bridge of a run: its helper stream, the epochs it tracks, what its writes came to.
type fixtureBridge struct {
	stream   *sessionstore.UpdateStream
	epochs   map[string]int64
	outcomes map[string]func(context.Context) string
	mu       sync.Mutex
	stops    []stopRecord
}

// runProtocolFixture runs one fixture in one mode, failing at the first step whose expectation does not hold.
func runProtocolFixture(t *testing.T, fixture protocolFixture, mode string) {
	t.Logf("%s", fixture.About)
	sidecar := ownSidecar(t)
	client := connect(t, sidecar)
	run := fmt.Sprintf("%s-%s-%d", fixture.Name, mode, ids.Add(1))
	id := func(session string) string { return run + "-" + session }
	bridges := map[string]*fixtureBridge{}
	bridge := func(name string) *fixtureBridge {
		if b := bridges[name]; b != nil {
			return b
		}
		b := &fixtureBridge{epochs: map[string]int64{}, outcomes: map[string]func(context.Context) string{}}
		record := func(i sessionstore.StopInfo) {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.stops = append(b.stops, stopRecord{strings.TrimPrefix(i.ConversationID, run+"-"), i.Reason})
		}
		b.stream = sessionstore.NewUpdateStream(t.Context(), client, sessionstore.UpdateStreamOptions{
			Batching: sessionstore.Batching{Disabled: mode == "single"}, OnFenced: record, OnEnded: record,
		})
		bridges[name] = b
		return b
	}
	track := func(b *fixtureBridge, s *pb.Session) {
		b.epochs[s.GetConversationId()] = s.GetOwnerEpoch()
		b.stream.Track(s)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	for i, step := range fixture.Steps {
		where := fmt.Sprintf("step %d, %s", i+1, step.Op)
		switch step.Op {
		case "create":
			resp, err := client.CreateSession(ctx, &pb.CreateSessionRequest{Session: &pb.Session{ConversationId: id(step.Session)}, OwnerId: step.Bridge})
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			track(bridge(step.Bridge), resp.GetSession())
		case "resume":
			resp, err := client.ResumeSession(ctx, &pb.ResumeSessionRequest{ConversationId: id(step.Session), OwnerId: step.Bridge, CreateIfMissing: step.CreateIfMissing})
			if step.ExpectError != nil {
				got := struct{ Code, Reason string }{code.Code(status.Code(err)).String(), sessionstore.Reason(err)}
				if got != *step.ExpectError {
					t.Fatalf("%s: want %+v, got %+v (%v)", where, *step.ExpectError, got, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			expectFixtureSession(t, where, resp.GetSession(), &resp.Created, step.Expect)
			track(bridge(step.Bridge), resp.GetSession())
		case "track":
			resp, err := client.GetSession(ctx, &pb.GetSessionRequest{ConversationId: id(step.Session)})
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			s := resp.GetSession()
			s.LastSeq = *step.LastSeq
			if step.OwnerEpoch != nil {
				s.OwnerEpoch = *step.OwnerEpoch
			}
			track(bridge(step.Bridge), s)
		case "write":
			b := bridge(step.Bridge)
			for _, item := range step.Items {
				b.outcomes[item] = writeOutcome(ctx, b.stream, id(step.Session), item)
			}
		case "await":
			b := bridge(step.Bridge)
			for item, raw := range step.Outcomes {
				var want []string
				if json.Unmarshal(raw, &want) != nil {
					want = []string{""}
					_ = json.Unmarshal(raw, &want[0])
				}
				outcome := b.outcomes[item]
				if outcome == nil {
					t.Fatalf("%s: %s was never written", where, item)
				}
				if got := outcome(ctx); !slices.Contains(want, got) {
					t.Fatalf("%s: %s came to %s, want %v", where, item, got, want)
				}
			}
		case "end":
			b := bridge(step.Bridge)
			if _, err := client.EndSession(ctx, &pb.EndSessionRequest{ConversationId: id(step.Session), Reason: step.Reason, OwnerEpoch: b.epochs[id(step.Session)]}); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
		case "stop":
			sig := map[string]syscall.Signal{"SIGTERM": syscall.SIGTERM, "SIGKILL": syscall.SIGKILL}[step.Signal]
			if _, err := sidecar.Stop(sig); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
		case "start":
			if err := sidecar.Start(); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
		case "stops":
			var want []stopRecord
			if err := json.Unmarshal(step.Expect, &want); err != nil {
				t.Fatal(err)
			}
			b := bridge(step.Bridge)
			b.mu.Lock()
			got := slices.Clone(b.stops)
			b.mu.Unlock()
			if !slices.Equal(got, want) {
				t.Fatalf("%s: stops of %s: got %v, want %v", where, step.Bridge, got, want)
			}
		case "check":
			resp, err := client.GetSession(ctx, &pb.GetSessionRequest{ConversationId: id(step.Session), View: pb.SessionView_SESSION_VIEW_FULL})
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			expectFixtureSession(t, where, resp.GetSession(), nil, step.Expect)
		default:
			t.Fatalf("%s: unknown op", where)
		}
	}
	for name, b := range bridges {
		if err := b.stream.Close(ctx); err != nil {
			t.Fatalf("closing %s: %v", name, err)
		}
	}
}

// writeOutcome writes one item and returns what waits for, and names, what the write came to.
func writeOutcome(ctx context.Context, stream *sessionstore.UpdateStream, conversationID, item string) func(context.Context) string {
	p, err := stream.Write(ctx, conversationID, &pb.SessionUpdate{AppendHistory: []*pb.ConversationItem{{ItemId: item, Text: item, Role: "user", Type: "message"}}})
	if err != nil {
		return func(context.Context) string { return outcomeName(nil, err) }
	}
	return func(ctx context.Context) string { return outcomeName(p.Wait(ctx)) }
}

// outcomeName is a write's result in the fixtures' words.
func outcomeName(ack *pb.UpdateAck, err error) string {
	var stopped *sessionstore.SessionStoppedError
	var refused *sessionstore.UpdateRefusedError
	var failed *sessionstore.StreamFailedError
	switch {
	case err == nil && ack.GetApplied():
		return "applied"
	case err == nil:
		return "duplicate"
	case errors.As(err, &stopped):
		return "stopped:" + stopped.Reason
	case errors.As(err, &refused):
		return "refused:" + sessionstore.Reason(refused)
	case errors.As(err, &failed):
		return "failed:" + code.Code(failed.Status.Code()).String()
	default:
		return "error: " + err.Error()
	}
}

// expectFixtureSession compares the fields an expectation names, in the fixtures' spelling.
func expectFixtureSession(t *testing.T, where string, s *pb.Session, created *bool, expect json.RawMessage) {
	t.Helper()
	if len(expect) == 0 {
		return
	}
	var want map[string]any
	if err := json.Unmarshal(expect, &want); err != nil {
		t.Fatal(err)
	}
	history := []any{}
	for _, item := range s.GetConversationHistory() {
		history = append(history, item.GetItemId())
	}
	all := map[string]any{
		"last_seq":      float64(s.GetLastSeq()),
		"owner_epoch":   float64(s.GetOwnerEpoch()),
		"resumed_count": float64(s.GetResumedCount()),
		"owner_id":      s.GetOwnerId(),
		"end_reason":    s.GetEndReason(),
		"status":        strings.TrimPrefix(s.GetStatus().String(), "SESSION_STATUS_"),
		"history":       history,
	}
	if created != nil {
		all["created"] = *created
	}
	got := map[string]any{}
	for key := range want {
		got[key] = all[key]
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: got %v, want %v", where, got, want)
	}
}

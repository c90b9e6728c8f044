package sessionstore_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sessionstorev1 "github.com/sessionstore/sessionstore/clients/go/gen/sessionstore/v1"
	"github.com/sessionstore/sessionstore/clients/go/internal/sidecartest"
	"github.com/sessionstore/sessionstore/clients/go/sessionstore"
)

// Two sidecars shared by the tests of this package: one with default limits, and
// one with the plan's limits made short enough to test (3 resumes, a 2 s window).
var shared, plan *sidecartest.Sidecar

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if shared, err = sidecartest.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stopClean(shared)
	if plan, err = sidecartest.Start("--max-resume-attempts", "3", "--max-resume-age", "2s"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stopClean(plan)
	return m.Run()
}

func stopClean(s *sidecartest.Sidecar) {
	if code, err := s.Stop(syscall.SIGTERM); code != 0 || err != nil {
		fmt.Fprintf(os.Stderr, "sidecar did not exit cleanly (%d, %v): %s\n", code, err, s.Stderr())
	}
}

// connect returns a client of the sidecar, closed when the test ends.
func connect(t *testing.T, s *sidecartest.Sidecar, opts ...sessionstore.Option) *sessionstore.Client {
	t.Helper()
	client, err := sessionstore.NewClient(s.Address, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client
}

// ownSidecar is a sidecar for one test: restarting or cleaning it up touches no other test.
func ownSidecar(t *testing.T, args ...string) *sidecartest.Sidecar {
	t.Helper()
	s, err := sidecartest.Start(args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = s.Stop(syscall.SIGTERM) })
	return s
}

var ids atomic.Int64

// newID is a conversation id unique to the test, so tests sharing a sidecar never collide.
func newID(t *testing.T) string {
	name := strings.NewReplacer("/", ".", " ", "_").Replace(t.Name())
	return fmt.Sprintf("%s-%d", name[:min(len(name), 60)], ids.Add(1))
}

// expectError checks a call failed with this code and ErrorInfo reason.
func expectError(t *testing.T, err error, code codes.Code, reason string) *status.Status {
	t.Helper()
	st := status.Convert(err)
	info := sessionstore.ErrorInfo(err)
	if err == nil || st.Code() != code || info.GetReason() != reason || info.GetDomain() != sessionstore.Domain {
		t.Fatalf("want %v %s, got %v (ErrorInfo %v)", code, reason, err, info)
	}
	return st
}

func create(t *testing.T, client sessionstorev1.SessionStoreServiceClient, session *sessionstorev1.Session) *sessionstorev1.Session {
	t.Helper()
	resp, err := client.CreateSession(context.Background(), &sessionstorev1.CreateSessionRequest{Session: session, OwnerId: "pod-a"})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetSession()
}

func resume(t *testing.T, client sessionstorev1.SessionStoreServiceClient, id, owner string) *sessionstorev1.Session {
	t.Helper()
	resp, err := client.ResumeSession(context.Background(), &sessionstorev1.ResumeSessionRequest{ConversationId: id, OwnerId: owner})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetSession()
}

func get(t *testing.T, client sessionstorev1.SessionStoreServiceClient, id string) *sessionstorev1.Session {
	t.Helper()
	resp, err := client.GetSession(context.Background(), &sessionstorev1.GetSessionRequest{ConversationId: id})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetSession()
}

package readme

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	pb "github.com/sessionstore/sessionstore/clients/go/gen/sessionstore/v1"
	"github.com/sessionstore/sessionstore/clients/go/internal/sidecartest"
	"github.com/sessionstore/sessionstore/clients/go/sessionstore"
)

// The README's Go block is this package's code, word for word.
func TestTheReadmeShowsThisCode(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Dir(file)
	readme, err := os.ReadFile(filepath.Join(dir, "..", "..", "..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	code, err := os.ReadFile(filepath.Join(dir, "handle_call.go"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, found := strings.Cut(string(readme), "### Go\n\n```go\n")
	block, _, closed := strings.Cut(rest, "\n```\n")
	if !found || !closed {
		t.Fatal("README.md has no ```go block under its '### Go' heading")
	}
	if !strings.HasSuffix(string(code), block+"\n") {
		t.Fatalf("README.md's Go block and handle_call.go differ; the README shows:\n%s", block)
	}
}

// The snippet does what the README says, against a real sidecar: a call's frames are stored, once each.
func TestHandleCallStoresTheCallsFrames(t *testing.T) {
	sidecar, err := sidecartest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer sidecar.Stop(syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	frames := make(chan []byte, 3)
	for i := byte(1); i <= 3; i++ {
		frames <- []byte{i, i, i, i}
	}
	close(frames)
	if err := handleCall(ctx, sidecar.Address, "readme-call", "pod-a", frames); err != nil {
		t.Fatal(err)
	}

	client, err := sessionstore.NewClient(sidecar.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	resp, err := client.GetSession(ctx, &pb.GetSessionRequest{ConversationId: "readme-call"})
	if err != nil {
		t.Fatal(err)
	}
	s := resp.GetSession()
	if audio := s.GetAudioBuffer(); len(audio) != 3 || audio[2].GetData()[0] != 3 || s.GetLastSeq() != 3 || s.GetOwnerId() != "pod-a" {
		t.Fatalf("stored session: %d audio chunks, last_seq %d, owner %q", len(audio), s.GetLastSeq(), s.GetOwnerId())
	}

	// The call has ended: a later reconnect is refused with the reason the snippet branches on.
	if _, err := client.EndSession(ctx, &pb.EndSessionRequest{ConversationId: "readme-call", Reason: "caller hung up"}); err != nil {
		t.Fatal(err)
	}
	err = handleCall(ctx, sidecar.Address, "readme-call", "pod-b", frames)
	if sessionstore.Reason(err) != "SESSION_ENDED" || !strings.Contains(err.Error(), "cannot be resumed") {
		t.Fatalf("want the ended call refused, got %v", err)
	}
}

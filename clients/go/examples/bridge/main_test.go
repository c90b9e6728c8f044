package main

import (
	"context"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/sessionstore/sessionstore/clients/go/internal/sidecartest"
)

// The example runs as documented, against a real sidecar.
func TestBridgeResumesTheCallOnAnotherPod(t *testing.T) {
	sidecar, err := sidecartest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer sidecar.Stop(syscall.SIGTERM)
	var out strings.Builder
	if err := run(context.Background(), sidecar.Address, "go-example-1", &out); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"pod-a: created go-example-1 with 0 history items and 0 audio bytes",
		"pod-a: platform socket dropped; session PAUSED",
		"pod-b: resumed (resume #1, epoch 2) go-example-1 with 4 history items and 6400 audio bytes",
		"pod-a: stopped writing go-example-1: SESSION_FENCED (now owned by pod-b)",
		"pod-a: late write refused: SESSION_FENCED",
		"pod-b: call ended after turn 4; status SESSION_STATUS_ENDED",
		"pod-c: reconnect refused: FailedPrecondition SESSION_ENDED (Session already ended)",
	}
	if got := strings.Split(strings.TrimSpace(out.String()), "\n"); !slices.Equal(got, want) {
		t.Fatalf("output:\n%s", out.String())
	}
}

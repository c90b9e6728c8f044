package main

import (
	"context"
	"fmt"
	"syscall"
	"testing"

	pb "github.com/sessionstore/sessionstore/clients/go/gen/sessionstore/v1"
	"github.com/sessionstore/sessionstore/clients/go/internal/sidecartest"
	"github.com/sessionstore/sessionstore/clients/go/sessionstore"
)

// The load generator against a real sidecar: every call's writes are
// acknowledged, and what the sidecar stores is what was acknowledged.
func TestLoadIsAcknowledgedAndStored(t *testing.T) {
	sidecar, err := sidecartest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = sidecar.Stop(syscall.SIGTERM) }()
	client, err := sessionstore.NewClient(sidecar.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	var sessions []Session
	for i := range 30 {
		created, err := client.ResumeSession(ctx, &pb.ResumeSessionRequest{ConversationId: fmt.Sprintf("load-%d", i), OwnerId: "load", CreateIfMissing: true})
		if err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, Session{ID: created.GetSession().GetConversationId(), OwnerEpoch: created.GetSession().GetOwnerEpoch()})
	}

	// Two streams of 15 calls, 20 ms frames for 1.5 s, measured after a 0.5 s warm-up.
	result, err := run(Options{Address: sidecar.Address, Sessions: sessions, CallsPerStream: 15, DurationMs: 1500, WarmupMs: 500, DrainTimeoutMs: 10_000, FrameMs: 20})
	if err != nil {
		t.Fatal(err)
	}
	if result.Streams != 2 || result.Failed != 0 || result.Shed != 0 || result.P99Ms == nil || result.AckedPerSecond <= 0 {
		t.Fatalf("want 2 streams, every write acknowledged: %+v", result)
	}
	for _, s := range sessions {
		got, err := client.GetSession(ctx, &pb.GetSessionRequest{ConversationId: s.ID})
		if err != nil {
			t.Fatal(err)
		}
		// Up to 76 frames, two field updates and a history item in 1.5 s; a
		// busy machine may skip frames (a ticker drops the ticks it is late for).
		if seq := got.GetSession().GetLastSeq(); seq < 40 || seq > 79 {
			t.Errorf("%s: last_seq %d, want its writes (at most 79) stored", s.ID, seq)
		}
	}
}

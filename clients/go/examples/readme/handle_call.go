// Package readme is the Go snippet of the repository's README.md, verbatim:
// readme_test.go checks that the README still shows this code, and runs it
// against a real sidecar.
package readme

import (
	"context"
	"fmt"
	"log"

	sessionstorev1 "github.com/sessionstore/sessionstore/clients/go/gen/sessionstore/v1"
	"github.com/sessionstore/sessionstore/clients/go/sessionstore"
)

// handleCall stores a call's audio while it runs, on whichever pod the platform reached.
func handleCall(ctx context.Context, address, callID, pod string, frames <-chan []byte) error {
	client, err := sessionstore.NewClient(address) // + sessionstore.WithToken(token) when auth is on
	if err != nil {
		return err
	}
	defer client.Close()

	resp, err := client.ResumeSession(ctx, &sessionstorev1.ResumeSessionRequest{ConversationId: callID, OwnerId: pod, CreateIfMissing: true})
	switch sessionstore.Reason(err) { // ErrorInfo.reason, "" when there is none
	case "SESSION_ENDED", "RESUME_WINDOW_EXPIRED", "MAX_RESUMES_EXCEEDED":
		return fmt.Errorf("call %s cannot be resumed: %w", callID, err)
	}
	if err != nil {
		return err
	}

	stream := sessionstore.NewUpdateStream(ctx, client, sessionstore.UpdateStreamOptions{
		OnFenced: func(i sessionstore.StopInfo) { log.Printf("%s moved to another bridge", i.ConversationID) },
	})
	defer stream.Close(ctx)
	stream.Track(resp.GetSession()) // writes carry its owner_epoch and continue from its last_seq
	var written []*sessionstore.Pending
	for frame := range frames {
		p, err := stream.Write(ctx, callID, &sessionstorev1.SessionUpdate{AppendAudio: []*sessionstorev1.AudioChunk{{Data: frame}}})
		if err != nil {
			return err // *sessionstore.SessionStoppedError once the call moved or ended
		}
		written = append(written, p)
	}
	for _, p := range written {
		if _, err := p.Wait(ctx); err != nil { // returns once the write is durable, or why it is not
			return err
		}
	}
	return nil
}

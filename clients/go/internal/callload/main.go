// Command callload is the call simulator's load generator in Go: the traffic
// of bench/support/call-load.ts (each call, every frame, an audio append;
// every second a two-field update; every two seconds a transcript item;
// calls spread over update streams of CallsPerStream calls, one connection
// each), sent through this module's UpdateStream, or, with Sink "raw",
// through bare StreamUpdateBatches messages to the transport ceiling.
//
// It exists because the TypeScript generator saturates its own core near
// 42,000 updates a second, short of four times a one-core sidecar's capacity;
// grpc-go spends far less CPU per message. The call simulator runs it with
// LOAD=go: the options as JSON on stdin, the result as JSON on stdout, the
// same fields as CallLoadResult.
package main

import (
	"encoding/json"
	"fmt"
	"os"
)

// Options are CallLoadOptions of bench/support/call-load.ts, with the sessions as a list.
type Options struct {
	Address        string    `json:"address"`
	Sessions       []Session `json:"sessions"`
	CallsPerStream int       `json:"callsPerStream"`
	DurationMs     int       `json:"durationMs"`
	WarmupMs       int       `json:"warmupMs"`
	DrainTimeoutMs int       `json:"drainTimeoutMs"`
	Sink           string    `json:"sink"` // "bridge" (the default) or "raw"
	FrameMs        int       `json:"frameMs"`
}

// Session is one call: where its seq counting starts.
type Session struct {
	ID         string `json:"id"`
	OwnerEpoch int64  `json:"ownerEpoch"`
	LastSeq    int64  `json:"lastSeq"`
}

// Result is CallLoadResult of bench/support/call-load.ts.
type Result struct {
	Streams              int            `json:"streams"`
	OfferedPerSecond     float64        `json:"offeredPerSecond"`
	AckedPerSecond       float64        `json:"ackedPerSecond"`
	P50Ms                *float64       `json:"p50Ms"` // null when nothing was acknowledged in the window
	P99Ms                *float64       `json:"p99Ms"`
	Failed               int            `json:"failed"`
	FailedBy             map[string]int `json:"failedBy"`
	Shed                 int            `json:"shed"`
	ReceivedPerCommitted float64        `json:"receivedPerCommitted"`
	ClientCPU            float64        `json:"clientCpu"`
}

func main() {
	var opts Options
	if err := json.NewDecoder(os.Stdin).Decode(&opts); err != nil {
		fmt.Fprintln(os.Stderr, "callload: reading the options from stdin:", err)
		os.Exit(2)
	}
	if opts.FrameMs == 0 {
		opts.FrameMs = 100
	}
	result, err := run(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "callload:", err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(result); err != nil {
		fmt.Fprintln(os.Stderr, "callload: writing the result:", err)
		os.Exit(1)
	}
}

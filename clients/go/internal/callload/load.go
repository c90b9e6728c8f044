package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	pb "github.com/sessionstore/sessionstore/clients/go/gen/sessionstore/v1"
	"github.com/sessionstore/sessionstore/clients/go/sessionstore"
)

// pcmBytesPerMs is 16 kHz 16-bit mono PCM.
const pcmBytesPerMs = 32

const transcript = "a transcript sentence of about sixty characters, as spoken!"

// write is one update a call asked for, and when.
type write struct {
	id     string
	update *pb.SessionUpdate
	sentAt time.Time
}

// sink carries one stream's writes; each one is reported to the recorder once answered.
type sink interface {
	enqueue(w write)
	// close sends what is queued, waits until ctx ends for the answers, and fails the rest.
	close(ctx context.Context)
	// stats is (acked, shed): updates applied and OVERLOADED refusals (each sent again).
	stats() (acked, shed int)
}

func run(opts Options) (*Result, error) {
	if opts.CallsPerStream <= 0 || opts.FrameMs <= 0 || 1000%opts.FrameMs != 0 {
		return nil, fmt.Errorf("callsPerStream %d and frameMs %d: both must be positive, frameMs a divisor of 1000", opts.CallsPerStream, opts.FrameMs)
	}
	tick := time.Duration(opts.FrameMs) * time.Millisecond
	ticksPerSecond := 1000 / opts.FrameMs
	frame := make([]byte, opts.FrameMs*pcmBytesPerMs)
	for i := range frame {
		frame[i] = 0x7f
	}
	start := time.Now()
	rec := &recorder{
		measureFrom: start.Add(time.Duration(opts.WarmupMs) * time.Millisecond),
		end:         start.Add(time.Duration(opts.DurationMs) * time.Millisecond),
		failedBy:    map[string]int{},
	}
	// Writes still waiting for room when the drain ends fail as CLOSED.
	writeCtx, stopWrites := context.WithCancel(context.Background())
	defer stopWrites()

	streamCount := (len(opts.Sessions) + opts.CallsPerStream - 1) / opts.CallsPerStream
	sinks := make([]sink, streamCount)
	for s := range sinks {
		calls := opts.Sessions[s*opts.CallsPerStream : min(len(opts.Sessions), (s+1)*opts.CallsPerStream)]
		var err error
		if opts.Sink == "raw" {
			sinks[s], err = newRawSink(opts.Address, rec)
		} else {
			sinks[s], err = newBridgeSink(writeCtx, opts.Address, calls, rec)
		}
		if err != nil {
			return nil, err
		}
	}
	cpuBefore := cpuTime()

	var calls sync.WaitGroup
	for i, session := range opts.Sessions {
		out := sinks[i/opts.CallsPerStream]
		calls.Add(1)
		go func() {
			defer calls.Done()
			// Each call starts at a random point of its frame, so that the load is smooth.
			time.Sleep(time.Duration(rand.Int64N(int64(tick))))
			ticker := time.NewTicker(tick)
			defer ticker.Stop()
			for n := 0; ; n++ {
				now := time.Now()
				if !now.Before(rec.end) {
					return
				}
				out.enqueue(write{session.ID, &pb.SessionUpdate{AppendAudio: []*pb.AudioChunk{{Data: frame}}}, now})
				if n%ticksPerSecond == 0 {
					out.enqueue(write{session.ID, &pb.SessionUpdate{
						UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"current_turn", "active_response_id"}},
						Session:    &pb.Session{CurrentTurn: int32(n / ticksPerSecond), ActiveResponseId: fmt.Sprintf("resp_%d", n)},
					}, now})
				}
				if n%(2*ticksPerSecond) == 5 {
					out.enqueue(write{session.ID, &pb.SessionUpdate{AppendHistory: []*pb.ConversationItem{
						{ItemId: fmt.Sprintf("%s-%d", session.ID, n), Role: "assistant", Type: "message", Text: transcript},
					}}, now})
				}
				<-ticker.C
			}
		}()
	}
	calls.Wait()
	cpu := cpuTime() - cpuBefore
	elapsed := time.Since(start)

	drain, cancelDrain := context.WithTimeout(context.Background(), time.Duration(opts.DrainTimeoutMs)*time.Millisecond)
	defer cancelDrain()
	context.AfterFunc(drain, stopWrites)
	var closing sync.WaitGroup
	for _, s := range sinks {
		closing.Add(1)
		go func() { defer closing.Done(); s.close(drain) }()
	}
	closing.Wait()

	acked, shed := 0, 0
	for _, s := range sinks {
		a, o := s.stats()
		acked, shed = acked+a, shed+o
	}
	received := 1.0
	if acked > 0 {
		received = float64(acked+shed) / float64(acked)
	}
	window := rec.end.Sub(rec.measureFrom).Seconds()
	return &Result{
		Streams:              streamCount,
		OfferedPerSecond:     float64(len(opts.Sessions)) * (float64(ticksPerSecond) + 1 + 0.5),
		AckedPerSecond:       float64(rec.ackedInWindow) / window,
		P50Ms:                quantile(rec.latencies, 0.5),
		P99Ms:                quantile(rec.latencies, 0.99),
		Failed:               rec.failed,
		FailedBy:             rec.failedBy,
		Shed:                 shed,
		ReceivedPerCommitted: received,
		ClientCPU:            cpu.Seconds() / elapsed.Seconds(),
	}, nil
}

// recorder counts the answers: latencies of writes made within the measured
// window, acks received within it, and failures by why.
type recorder struct {
	measureFrom, end time.Time

	mu            sync.Mutex
	latencies     []float64 // ms
	ackedInWindow int
	failed        int
	failedBy      map[string]int
}

func (r *recorder) acked(sentAt time.Time) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if !sentAt.Before(r.measureFrom) && sentAt.Before(r.end) {
		r.latencies = append(r.latencies, float64(now.Sub(sentAt).Microseconds())/1000)
	}
	if !now.Before(r.measureFrom) && now.Before(r.end) {
		r.ackedInWindow++
	}
}

func (r *recorder) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed++
	r.failedBy[failureReason(err)]++
}

// errUnanswered fails a raw write whose message the ceiling had not answered when the drain ended.
var errUnanswered = errors.New("unanswered when the drain ended")

// failureReason names a failed write as call-load.ts does: the refusal's
// ErrorInfo reason, CLOSED for a write still unanswered when the drain ended,
// else the status code.
func failureReason(err error) string {
	var streamFailed *sessionstore.StreamFailedError
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, sessionstore.ErrStreamClosed), errors.Is(err, errUnanswered):
		return "CLOSED"
	case errors.As(err, &streamFailed) && streamFailed.Status.Code() == codes.Canceled:
		return "CLOSED"
	case sessionstore.Reason(err) != "":
		return sessionstore.Reason(err)
	default:
		return status.Code(err).String()
	}
}

// quantile is measure.ts's: the smallest sample with at least q of them at
// or below it; nil (JSON's null: measure.ts's NaN) when there is none.
func quantile(samples []float64, q float64) *float64 {
	if len(samples) == 0 {
		return nil
	}
	sorted := append([]float64(nil), samples...)
	sort.Float64s(sorted)
	v := sorted[min(len(sorted)-1, max(0, int(math.Ceil(q*float64(len(sorted))))-1))]
	return &v
}

// cpuTime is the CPU this process used so far, user and system.
func cpuTime() time.Duration {
	var usage syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &usage)
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
}

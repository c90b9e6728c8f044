package main

import "sync"

// queue is a stream's writes not yet handed to its sender, unbounded: a call
// never waits to write, as a bridge's audio does not wait for the sidecar
// (the TypeScript generator's writes likewise queue as promises). Only the
// sender waits, for the UpdateStream's room or the network.
type queue struct {
	mu     sync.Mutex
	items  []write
	closed bool
	ready  chan struct{} // holds a token while items or closed are news to the sender
}

func newQueue() *queue { return &queue{ready: make(chan struct{}, 1)} }

func (q *queue) push(w write) {
	q.mu.Lock()
	q.items = append(q.items, w)
	q.mu.Unlock()
	q.signal()
}

func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

func (q *queue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// take waits for writes and returns all of them; open is false once the
// queue is closed and empty.
func (q *queue) take() (items []write, open bool) {
	for {
		q.mu.Lock()
		items, closed := q.items, q.closed
		q.items = nil
		q.mu.Unlock()
		if len(items) > 0 || closed {
			return items, len(items) > 0
		}
		<-q.ready
	}
}

// takeNow returns the writes queued now, without waiting.
func (q *queue) takeNow() []write {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	return items
}

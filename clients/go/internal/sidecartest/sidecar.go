// Package sidecartest runs the real sidecar (`sessionstore serve`) as a child
// process for the tests of this module.
package sidecartest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Bin is the CLI as users run it: bin/sessionstore.js of this checkout, or SESSIONSTORE_BIN.
func Bin() string {
	if bin := os.Getenv("SESSIONSTORE_BIN"); bin != "" {
		return bin
	}
	_, file, _, _ := runtime.Caller(0)
	// internal/sidecartest -> clients/go -> repository root
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "bin", "sessionstore.js")
}

// Sidecar is a sidecar on a free loopback port with its own SQLite file.
// Restart brings it back on the same address and file, as a bridge sees a
// sidecar restart.
type Sidecar struct {
	Address string
	// TLSAddress is the --tls-listen address, when the flags ask for one.
	TLSAddress string
	DBPath     string
	args       []string
	listen     string
	cmd        *exec.Cmd
	stderr     strings.Builder
	exited     chan struct{}
	mu         sync.Mutex
}

// Start runs `sessionstore serve` with extra flags and waits for its "listening" log line.
func Start(args ...string) (*Sidecar, error) {
	dir, err := os.MkdirTemp("", "sessionstore-go-")
	if err != nil {
		return nil, err
	}
	s := &Sidecar{DBPath: filepath.Join(dir, "sessionstore.db"), args: args, listen: "127.0.0.1:0"}
	return s, s.Start()
}

// Start (re)starts a stopped sidecar on its address and database.
func (s *Sidecar) Start() error {
	node := os.Getenv("NODE")
	if node == "" {
		node = "node"
	}
	s.cmd = exec.Command(node, append([]string{Bin(), "serve", "--listen", s.listen, "--sqlite-path", s.DBPath}, s.args...)...)
	s.stderr.Reset()
	s.cmd.Stderr = &lockedWriter{&s.mu, &s.stderr}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := s.cmd.Start(); err != nil {
		return err
	}
	listening := make(chan [2]string, 1)
	// Keep reading for the sidecar's whole life: a full stdout pipe would block it.
	go func() {
		lines := bufio.NewScanner(stdout)
		lines.Buffer(make([]byte, 1<<20), 1<<20)
		for lines.Scan() {
			var entry struct{ Msg, Address, TLSAddress string }
			if json.Unmarshal(lines.Bytes(), &entry) == nil && entry.Msg == "listening" {
				listening <- [2]string{entry.Address, entry.TLSAddress}
			}
		}
		close(listening)
	}()
	s.exited = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	select {
	case addresses, ok := <-listening:
		if !ok {
			<-s.exited
			return fmt.Errorf("sidecar exited before listening: %s", s.Stderr())
		}
		s.Address, s.listen, s.TLSAddress = addresses[0], addresses[0], addresses[1]
		return nil
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		return fmt.Errorf("sidecar did not log 'listening' within 30s: %s", s.Stderr())
	}
}

// Stop signals the sidecar (SIGTERM drains; SIGKILL is a crash) and returns its exit code.
func (s *Sidecar) Stop(sig syscall.Signal) (int, error) {
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.exited:
		return s.cmd.ProcessState.ExitCode(), nil
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		return -1, fmt.Errorf("sidecar did not exit within 30s of %v", sig)
	}
}

// Restart stops the sidecar with sig and starts it again on the same address and database.
func (s *Sidecar) Restart(sig syscall.Signal) error {
	if _, err := s.Stop(sig); err != nil {
		return err
	}
	return s.Start()
}

// Stderr is what the sidecar wrote to stderr so far.
func (s *Sidecar) Stderr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

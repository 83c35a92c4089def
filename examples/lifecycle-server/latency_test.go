package main

import (
	"os/exec"
	"syscall"
	"testing"

	"github.com/iai-mcp/lifecycle/daemon/daemontest"
)

// BenchmarkWakeLatency measures one request on a new connection, from the
// dial to the answer, under the socket-holding supervisor:
//
//   - awake: the server runs, in WAKE;
//
//   - hibernated: the server has hibernated and exited, so the connection
//     waits in the socket's queue while the supervisor starts a new one,
//     which boots, makes the wake-up durable (HIBERNATION -> WAKE), accepts
//     and answers.
//
//     go test ./examples/lifecycle-server -run '^$' -bench WakeLatency -benchtime 20x
func BenchmarkWakeLatency(b *testing.B) {
	tests := []struct {
		name string
		args []string
		// hibernate: before each request, wait for the server to hibernate
		// and exit (not timed).
		hibernate bool
	}{
		{"awake", []string{"--tick=1h", "--drowsy-after=1h", "--sleep-after=2h"}, false},
		{"hibernated", []string{"--tick=2ms", "--drowsy-after=10ms", "--sleep-after=20ms", "--sleep-steps=1", "--sleep-step=0s"}, true},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			dir := b.TempDir()
			sup, err := daemontest.Supervise("tcp", "127.0.0.1:0", func() *exec.Cmd {
				return serverCmd(append([]string{"--dir=" + dir, "--drain=0s"}, tt.args...)...)
			})
			if err != nil {
				b.Fatal(err)
			}
			defer func() {
				if err := sup.Close(); err != nil {
					b.Error(err)
				}
			}()
			ctx := b.Context()
			addr := sup.Addr.String()
			// waitExit waits for the running server to hibernate and exit.
			waitExit := func() {
				for ev := range sup.Events() {
					if ev.Kind == daemontest.Exited {
						if ev.Err != nil {
							b.Fatalf("server: %v", ev.Err)
						}
						return
					}
				}
				b.Fatal("the supervisor ended")
			}
			request := func() {
				answer, err := ask(ctx, "tcp", addr)
				if err != nil || answer != "WAKE" {
					b.Fatalf("answer %q, %v", answer, err)
				}
			}
			request() // the first server, on a fresh directory
			if tt.hibernate {
				waitExit()
			}
			b.ResetTimer()
			for b.Loop() {
				request()
				if tt.hibernate {
					b.StopTimer()
					waitExit()
					b.StartTimer()
				}
			}
			b.StopTimer()
			if !tt.hibernate {
				if _, err := sup.Signal(syscall.SIGTERM); err != nil {
					b.Fatal(err)
				}
				waitExit()
			}
		})
	}
}

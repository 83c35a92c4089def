package daemontest_test

import (
	"context"
	"net"
	"testing"

	"github.com/iai-mcp/lifecycle/daemon/daemontest"
	"github.com/stretchr/testify/require"
)

// send sends each message to the notify socket as a datagram of its own, as
// sd_notify does.
func send(t *testing.T, s *daemontest.NotifySocket, msgs ...string) {
	t.Helper()
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: s.Path, Net: "unixgram"})
	require.NoError(t, err)
	for _, m := range msgs {
		_, err := c.Write([]byte(m))
		require.NoError(t, err)
	}
	require.NoError(t, c.Close())
}

// Pending returns every message already queued, in order: also after a
// Read whose context ended, and whatever deadline that left behind.
func TestNotifySocketPending(t *testing.T) {
	tests := []struct {
		name   string
		before func(t *testing.T, s *daemontest.NotifySocket) // what the test did with the socket first
		queued []string
	}{
		{"fresh", func(*testing.T, *daemontest.NotifySocket) {}, []string{"READY=1", "STATUS=WAKE", "STOPPING=1"}},
		{"nothing queued", func(*testing.T, *daemontest.NotifySocket) {}, nil},
		{"after a cancelled read", func(t *testing.T, s *daemontest.NotifySocket) {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			_, err := s.Read(ctx)
			require.ErrorIs(t, err, context.Canceled)
		}, []string{"STATUS=DROWSY", "STOPPING=1"}},
		{"after a read", func(t *testing.T, s *daemontest.NotifySocket) {
			send(t, s, "READY=1")
			m, err := s.Read(t.Context())
			require.NoError(t, err)
			require.Equal(t, "READY=1", m)
		}, []string{"STOPPING=1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := daemontest.ListenNotify(t.TempDir())
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, s.Close()) })
			tt.before(t, s)
			send(t, s, tt.queued...)
			got, err := s.Pending()
			require.NoError(t, err)
			require.Equal(t, tt.queued, got)
			again, err := s.Pending()
			require.NoError(t, err)
			require.Empty(t, again, "each message is returned once")
		})
	}
}

package chat

import (
	"context"
	"testing"
	"time"

	"securechat/app/readiness"
)

// newParkingHub is a unit hub whose sockets are loopback TCP connections
// and park while idle, as the server's do.
func newParkingHub(t *testing.T) (*unitHub, *readiness.Poller) {
	t.Helper()
	p, err := readiness.New()
	if err != nil {
		t.Skipf("no poller here: %v", err)
	}
	// Closed after the hub's shutdown (cleanups run last first).
	t.Cleanup(func() { p.Close() })
	u := &unitHub{store: &unitStore{}, sessions: newUnitSessions(), ids: make(map[string]int64), poller: p}
	return startUnitHub(t, unitLimits(), u, nil), p
}

// waitFor polls cond until it holds, failing after a generous while: what is
// awaited happens within milliseconds, the bound only ends a broken run.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func ended(c *unitClient) bool {
	select {
	case <-c.ended:
		return true
	default:
		return false
	}
}

// Idle sockets wait without a reader; a frame wakes one, is answered, and
// the socket parks again. Messages reach parked sockets (writes do not need
// the reader), and the peer's pongs keep a parked socket alive.
func TestParkedSocketsServe(t *testing.T) {
	u, p := newParkingHub(t)
	const n = 20
	clients := make([]*unitClient, n)
	for i := range clients {
		clients[i] = u.connect(t, "user"+string(rune('a'+i)))
	}
	waitFor(t, "every idle socket to park", func() bool { return p.Waiting() == n })

	for round := range 3 {
		clients[0].sendText(DefaultRoom, "hello")
		for _, c := range clients {
			waitFor(t, "the message at every socket", func() bool { return len(c.messageIDs(DefaultRoom)) == round+1 })
		}
		waitFor(t, "the sender to park again", func() bool { return p.Waiting() == n })
	}

	// A ping answered wakes the socket and it parks again; nothing ended.
	u.pingAll(time.Now())
	time.Sleep(50 * time.Millisecond)
	waitFor(t, "the sockets to park after the pongs", func() bool { return p.Waiting() == n })
	for _, c := range clients {
		if ended(c) {
			t.Fatal("a socket that answered its ping ended")
		}
	}
}

// Every way a parked socket can end, ends it: the socket leaves the hub and
// Serve's done runs, though no reader was waiting on it.
func TestParkedSocketEnds(t *testing.T) {
	tests := []struct {
		name string
		end  func(u *unitHub, c *unitClient)
		code int // the close code the client sees; -1: none
	}{
		{"kicked", func(u *unitHub, c *unitClient) { u.KickSession("s-alice") }, int(CloseAuthEnded)},
		{"peer closes", func(u *unitHub, c *unitClient) { c.conn.NetConn().Close() }, -1},
		{"silent past pongWait", func(u *unitHub, c *unitClient) {
			u.mu.Lock()
			for sc := range u.bySession["s-alice"] {
				sc.lastRead.Store(time.Now().Add(-pongWait - time.Second).UnixNano())
			}
			u.mu.Unlock()
			u.pingAll(time.Now())
		}, -1},
		{"shutdown", func(u *unitHub, c *unitClient) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := u.Shutdown(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		}, int(CloseGoingAway)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, p := newParkingHub(t)
			c := u.connect(t, "alice")
			other := u.connect(t, "bob")
			waitFor(t, "both sockets to park", func() bool { return p.Waiting() == 2 })
			tt.end(u, c)
			waitFor(t, "the socket to end", func() bool { return ended(c) })
			if tt.code > 0 {
				waitFor(t, "the close at the client", func() bool { return c.closeCode() != 0 })
				if got := c.closeCode(); got != tt.code {
					t.Errorf("close code %d, want %d", got, tt.code)
				}
			}
			if tt.name == "shutdown" {
				return
			}
			u.mu.Lock()
			registered := len(u.clients)
			u.mu.Unlock()
			if registered != 1 || ended(other) {
				t.Errorf("%d sockets registered, bob ended %v; want only bob's, open", registered, ended(other))
			}
			if got := p.Waiting(); got != 1 {
				t.Errorf("%d sockets parked, want bob's", got)
			}
		})
	}
}

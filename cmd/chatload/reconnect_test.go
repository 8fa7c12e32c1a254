package main

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The reconnect mode, small, against the real binary it starts and restarts
// itself (twice: a warm-up, then the measured restart): every socket resumes, nothing is lost or repeated, the RSS of both
// processes is read, and the handshakes the admission refused (two slots, a
// 10 ms wait) are counted and retried. Nothing about timing is asserted.
func TestReconnectAgainstRealServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and restarts the server")
	}
	dir := t.TempDir()
	bin := buildSecurechat(t, dir)
	data := filepath.Join(dir, "data")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	rep := runTool(t, fmt.Sprintf("reconnect -json -n 60 -rooms 3 -users 6 -rate 5 -duration 2s -drain 2s -settle 200ms -restarts 2 "+
		"-backoff 100ms -backoff-cap 1s -create-users -server-bin %s -data %s -server-log %s "+
		"-- %s --addr %s --data %s --handshake-concurrency 2 --handshake-wait 10ms",
		bin, data, filepath.Join(dir, "server.log"), bin, addr, data))
	r := rep.Reconnect
	switch {
	case r == nil:
		t.Fatal("no reconnect result")
	case r.NotResumed != 0 || r.ResumeSeconds < 0:
		t.Errorf("%d sockets did not resume (resume %vs)", r.NotResumed, r.ResumeSeconds)
	case r.Gaps != 0 || r.Duplicates != 0 || r.Missing != 0:
		t.Errorf("%d gaps, %d duplicates, %d missing", r.Gaps, r.Duplicates, r.Missing)
	case r.AckedBefore < 3 || r.Acked <= r.AckedBefore:
		t.Errorf("acknowledged %d before the restart, %d in all: the senders did not send on both sides of it", r.AckedBefore, r.Acked)
	case r.RSSBeforeKiB == 0 || r.RSSAfterKiB == 0:
		t.Errorf("RSS before %d KiB, after %d KiB: not read", r.RSSBeforeKiB, r.RSSAfterKiB)
	case r.Restarts != 2 || r.Reconnects < int64(2*(r.Sockets+r.Rooms)):
		t.Errorf("%d restarts, %d reconnects for %d sockets: want 2, and every socket reconnected after each", r.Restarts, r.Reconnects, r.Sockets+r.Rooms)
	}
	t.Logf("resumed in %.2fs; %d handshakes refused during the storm", r.ResumeSeconds, r.RefusedStorm)
}

// A socket of the storm waits as the page does: a 503's Retry-After plus at
// most a second, whatever the attempt; without one, full jitter in a window
// that doubles up to the cap.
func TestRetryDelay(t *testing.T) {
	st := &stormState{backoff: 500 * time.Millisecond, backoffCap: 15 * time.Second}
	top := func(d time.Duration) time.Duration { return d - 1 } // the most n(d) draws
	none := func(time.Duration) time.Duration { return 0 }
	cases := []struct {
		name       string
		attempt    int
		retryAfter time.Duration
		n          func(time.Duration) time.Duration
		want       time.Duration
	}{
		{"Retry-After, the least share", 0, 3 * time.Second, none, 3 * time.Second},
		{"Retry-After, the most share", 0, 3 * time.Second, top, 4*time.Second - 1},
		{"Retry-After at a late attempt: no window on top", 9, 2 * time.Second, top, 3*time.Second - 1},
		{"no Retry-After: the first window", 0, 0, top, 500 * time.Millisecond},
		{"no Retry-After: the window doubles", 3, 0, top, 4 * time.Second},
		{"no Retry-After: up to the cap", 30, 0, top, 15 * time.Second},
		{"no Retry-After: full jitter may wait nothing", 3, 0, none, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := st.retryDelay(tc.attempt, tc.retryAfter, tc.n); got != tc.want {
				t.Errorf("retryDelay = %v, want %v", got, tc.want)
			}
		})
	}
}

// What a socket of the storm counts: a number skipped is a gap, a number or
// message id seen again a duplicate; another room's messages are not its own.
func TestStormSocketCounts(t *testing.T) {
	type m struct {
		id   int64
		room string
		n    int
	}
	cases := []struct {
		name       string
		msgs       []m
		gaps, dups int64
		last       int
	}{
		{"in order", []m{{1, "a", 1}, {5, "a", 2}, {9, "a", 3}}, 0, 0, 3},
		{"a gap", []m{{1, "a", 1}, {5, "a", 3}}, 1, 0, 3},
		{"a replayed message", []m{{1, "a", 1}, {5, "a", 2}, {5, "a", 2}}, 0, 1, 2},
		{"an old id with a new number", []m{{5, "a", 1}, {4, "a", 2}}, 0, 1, 1},
		{"another room", []m{{1, "a", 1}, {2, "b", 7}, {3, "a", 2}}, 0, 0, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &rsock{st: &stormState{errs: newErrorTally(), frameErrs: newErrorTally()}, room: "a"}
			for _, x := range tc.msgs {
				s.saw(x.id, x.room, fmt.Sprintf("seq %d", x.n))
			}
			if s.gaps != tc.gaps || s.dups != tc.dups || s.lastSeq != tc.last {
				t.Errorf("gaps %d dups %d last %d; want %d %d %d", s.gaps, s.dups, s.lastSeq, tc.gaps, tc.dups, tc.last)
			}
		})
	}
}

// A storm socket counts messages from message and history objects, takes
// joined for its room, skips presence without decoding it, and counts
// what it cannot read.
func TestStormSocketHandles(t *testing.T) {
	s := &rsock{st: &stormState{errs: newErrorTally(), frameErrs: newErrorTally()}, room: "a"}
	var joined atomic.Bool
	for _, line := range []string{
		`{"type":"presence","room":"general","users":["u1","u2"],"count":2}`,
		`{"type":"presence","room":"a","users":[` + strings.Repeat(`"someone",`, 199) + `"last"],"count":900}`,
		`{"type":"history","room":"a","messages":[{"id":1,"room":"a","text":"seq 1"},{"id":2,"room":"a","text":"seq 2"}]}`,
		`{"type":"joined","room":"a","last_id":2}`,
		`{"type":"message","id":3,"room":"a","user":"u","user_id":1,"text":"seq 3","ts":"x"}`,
		`not json`,
	} {
		s.handle([]byte(line), &joined)
	}
	if s.lastSeq != 3 || s.gaps != 0 || s.dups != 0 || !joined.Load() || s.st.errorFrames.Load() != 1 {
		t.Errorf("last %d gaps %d dups %d joined %v errors %d; want 3 0 0 true 1", s.lastSeq, s.gaps, s.dups, joined.Load(), s.st.errorFrames.Load())
	}
}

func TestMessageID(t *testing.T) {
	for line, want := range map[string]int64{
		`{"type":"message","id":42,"room":"a","user":"u","user_id":1,"text":"seq 1","ts":"x"}`: 42,
		`{"type":"message","id":7}`:              7,
		`{"type":"message","room":"a"}`:          -1,
		`{"type":"message","id":"x","room":"a"}`: -1,
	} {
		id, ok := messageID([]byte(line))
		if !ok {
			id = -1
		}
		if id != want {
			t.Errorf("messageID(%s) = %d, want %d", line, id, want)
		}
	}
}

// hold -rss-at reads the server's RSS at the mark and at the end, and
// reports the marginal RSS per socket between them.
func TestHoldMarginalRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the server")
	}
	srv := startSecurechat(t)
	rep := runTool(t, fmt.Sprintf("hold -url %s -json -n 60 -rss-at 20 -c 8 -users 6 -create-users -server-bin %s -data %s -pid %d -settle 200ms -hold 0s",
		srv.url, srv.bin, srv.data, srv.pid))
	h := rep.Hold
	switch {
	case h == nil:
		t.Fatal("no hold result")
	case h.DialToMark.Opened != 20 || h.Dial.Opened != 40 || h.RSSAtSockets != 20:
		t.Errorf("opened %d to the mark and %d after (RSS read at %d); want 20 and 40", h.DialToMark.Opened, h.Dial.Opened, h.RSSAtSockets)
	case h.RSSAtKiB == 0 || h.RSSAfterKiB == 0:
		t.Errorf("RSS at the mark %d KiB, at the end %d KiB: not read", h.RSSAtKiB, h.RSSAfterKiB)
	}
	if want := round2(float64(h.RSSAfterKiB-h.RSSAtKiB) / 40); h.MarginalPerSocketKiB != want {
		t.Errorf("marginal %.2f KiB a socket, want (end - mark) / 40 = %.2f", h.MarginalPerSocketKiB, want)
	}
}

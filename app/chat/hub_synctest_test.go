package chat

// Black-box tests of a whole hub inside testing/synctest bubbles: the sockets
// are real gorilla connections over in-memory pipes, the clock is the
// bubble's fake one, so an hour of socket life takes microseconds and every
// outcome is deterministic. synctest.Wait returns once every goroutine of the
// hub and of its clients is blocked: what was sent has been handled.
// Helpers are in fakes_test.go.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"securechat/app/throttle"
)

// A socket lives until its token's expiry; there the hub asks the session
// whether it was renewed (and the socket lives on) or ended (4401). A refresh
// frame with a token of the same session moves the expiry itself.
func TestSocketExpiry(t *testing.T) {
	const life = 10 * time.Minute
	cases := []struct {
		name string
		// sessionEnds is when Expiry says the session ends, after the token's
		// expiry at life.
		sessionEnds time.Duration
		// refresh, if set, is sent at half life: the token and for how long the
		// peer it stands for lives (from the start), and whether it belongs to
		// the socket's session.
		refresh     time.Duration
		refreshOwn  bool
		wantRefresh bool
		closesAt    time.Duration // the socket must be open just before and closed with 4401 just after
	}{
		{name: "session ended at token expiry", sessionEnds: life, closesAt: life},
		{name: "session renewed meanwhile", sessionEnds: 3 * life, closesAt: 3 * life},
		{name: "refresh extends", sessionEnds: life, refresh: 2 * life, refreshOwn: true, wantRefresh: true, closesAt: 2 * life},
		{name: "refresh of another session is refused", sessionEnds: life, refresh: 2 * life, refreshOwn: false, closesAt: life},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				h := newUnitHub(t, unitLimits())
				p := Peer{User: "alice", SessionID: "s1", ExpiresAt: start.Add(life)}
				h.sessions.setEnd("s1", start.Add(tc.sessionEnds))
				c := h.connectPeer(t, p, true)

				if tc.refresh > 0 {
					time.Sleep(life / 2)
					rp := p
					rp.ExpiresAt = start.Add(tc.refresh)
					if !tc.refreshOwn {
						rp.SessionID = "s2"
					}
					h.sessions.setToken("newer", rp)
					c.send(map[string]string{"type": "refresh", "token": "newer"})
					synctest.Wait()
					got := c.received("refreshed", "error")
					if len(got) != 1 {
						t.Fatalf("answers to refresh: %+v, want one", got)
					}
					if tc.wantRefresh {
						if want := rp.ExpiresAt.UTC().Format(time.RFC3339); got[0].Type != "refreshed" || got[0].Expires != want {
							t.Fatalf("answer to refresh %+v, want refreshed until %s", got[0], want)
						}
					} else if got[0].Type != "error" || got[0].Code != "bad_token" {
						t.Fatalf("answer to a refresh of another session %+v, want error bad_token", got[0])
					}
				}

				time.Sleep(time.Until(start.Add(tc.closesAt)) - time.Millisecond)
				synctest.Wait()
				if code := c.closeCode(); code != 0 {
					t.Fatalf("closed with %d at %v, before %v", code, time.Since(start), tc.closesAt)
				}
				time.Sleep(2 * time.Millisecond)
				synctest.Wait()
				if code := c.closeCode(); code != int(CloseAuthEnded) {
					t.Fatalf("at %v: close code %d, want 4401", time.Since(start), code)
				}
			})
		})
	}
}

// KickSession closes every socket of the session with 4401 and no other.
func TestKickSessionCloses4401(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newUnitHub(t, unitLimits())
		exp := time.Now().Add(time.Hour)
		a1 := h.connectPeer(t, Peer{User: "alice", SessionID: "kicked", ExpiresAt: exp}, true)
		a2 := h.connectPeer(t, Peer{User: "alice", SessionID: "kicked", ExpiresAt: exp}, true)
		other := h.connectPeer(t, Peer{User: "alice", SessionID: "kept", ExpiresAt: exp}, true)
		synctest.Wait()
		if n := h.KickSession("kicked"); n != 2 {
			t.Errorf("KickSession closed %d sockets, want 2", n)
		}
		synctest.Wait()
		for i, c := range []*unitClient{a1, a2} {
			if code := c.closeCode(); code != int(CloseAuthEnded) {
				t.Errorf("socket %d of the kicked session: close code %d, want 4401", i, code)
			}
		}
		if code := other.closeCode(); code != 0 {
			t.Errorf("socket of another session closed with %d", code)
		}
	})
}

// Shutdown writes what is queued for a socket before its 1001: a peer that
// was slow to read still gets every message, then the close.
func TestShutdownFlushesThenCloses1001(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newUnitHub(t, unitLimits())
		sender := h.connect(t, "sender")
		slow := h.connectPeer(t, Peer{User: "slow", SessionID: "s-slow", ExpiresAt: time.Now().Add(time.Hour)}, false)
		const n = 20
		for i := range n {
			sender.sendText(DefaultRoom, fmt.Sprintf("message %d %s", i, strings.Repeat("x", 500)))
		}
		synctest.Wait() // stored and queued for slow, whose pump is stuck writing
		shut := make(chan error, 1)
		go func() { shut <- h.Shutdown(context.Background()) }()
		synctest.Wait()
		slow.startReading()
		if err := <-shut; err != nil {
			t.Fatalf("shutdown: %v", err)
		}
		<-slow.done
		if ids := slow.messageIDs(DefaultRoom); len(ids) != n {
			t.Errorf("the slow reader got %d of %d messages before the close", len(ids), n)
		}
		for name, c := range map[string]*unitClient{"sender": sender, "slow": slow} {
			select {
			case <-c.ended:
			default:
				t.Errorf("%s: Serve's done had not run when Shutdown returned", name)
			}
			<-c.done
			if code := c.closeCode(); code != int(CloseGoingAway) {
				t.Errorf("%s: close code %d, want 1001", name, code)
			}
		}
	})
}

// Presence frames to the members are coalesced: joins within the delay cost
// one frame, and the delay grows by presenceDelay per presencePerDelay members.
func TestPresenceCoalesced(t *testing.T) {
	cases := []struct {
		name      string
		crowd     int           // sockets of one user already in the room besides the watcher
		joiners   int           // users who join, one every gap
		gap       time.Duration //
		wantDelay time.Duration // from the first join to the watcher's frame
		wantFrame int           // presence frames the watcher gets for the joins
	}{
		{name: "small room, joins within the delay", joiners: 5, gap: presenceDelay / 10, wantDelay: presenceDelay, wantFrame: 1},
		{name: "small room, joins apart", joiners: 3, gap: 3 * presenceDelay, wantDelay: presenceDelay, wantFrame: 3},
		// 41 members when the first joiner comes: two more presenceDelays.
		{name: "room of 40", crowd: 39, joiners: 5, gap: presenceDelay / 10, wantDelay: 3 * presenceDelay, wantFrame: 1},
		// 201: ten more; joins apart by less than that are one frame.
		{name: "room of 200", crowd: 199, joiners: 5, gap: presenceDelay, wantDelay: 11 * presenceDelay, wantFrame: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newUnitHub(t, unitLimits())
				watcher := h.connect(t, "watcher")
				for range tc.crowd {
					h.connect(t, "crowd")
				}
				time.Sleep(maxPresenceDelay) // the presence of the crowd's joins has gone out
				synctest.Wait()
				before := len(watcher.received("presence"))
				first := time.Now()
				for i := range tc.joiners {
					if i > 0 {
						time.Sleep(tc.gap)
					}
					j := h.connect(t, fmt.Sprintf("joiner%d", i))
					synctest.Wait()
					// A joiner hears the list at once, not after the delay.
					if ps := j.received("presence"); len(ps) != 1 {
						t.Fatalf("joiner %d got %d presence frames on joining, want 1", i, len(ps))
					}
				}
				time.Sleep(maxPresenceDelay)
				synctest.Wait()
				got := watcher.received("presence")[before:]
				if len(got) != tc.wantFrame {
					t.Fatalf("watcher got %d presence frames for %d joins %v apart, want %d", len(got), tc.joiners, tc.gap, tc.wantFrame)
				}
				if d := got[0].at.Sub(first); d != tc.wantDelay {
					t.Errorf("first presence frame %v after the first join, want %v", d, tc.wantDelay)
				}
				last := got[len(got)-1]
				if want := 1 + min(tc.crowd, 1) + tc.joiners; last.Count != want {
					t.Errorf("last presence frame counts %d users %v, want %d", last.Count, last.Users, want)
				}
			})
		})
	}
}

// Presence goes to the members when the set of users changes, not at each
// socket: another socket of a user already there (a second tab, or every
// socket of a restarted server coming back) sends the room nothing, and
// neither does closing one of a user's sockets while another stays.
func TestPresenceOnlyWhenUsersChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newUnitHub(t, unitLimits())
		watcher := h.connect(t, "watcher")
		alice := []*unitClient{h.connect(t, "alice")}
		settle := func() []frame {
			t.Helper()
			time.Sleep(maxPresenceDelay)
			synctest.Wait()
			return watcher.received("presence")
		}
		steps := []struct {
			name      string
			do        func()
			wantFrame bool
			wantUsers []string // of the frame, if one is wanted
		}{
			{name: "alice opens two more sockets", do: func() {
				alice = append(alice, h.connect(t, "alice"), h.connect(t, "alice"))
			}},
			{name: "alice closes one of three", do: func() { alice[1].conn.Close() }},
			{name: "alice closes the other two", do: func() { alice[0].conn.Close(); alice[2].conn.Close() },
				wantFrame: true, wantUsers: []string{"watcher"}},
			{name: "bob joins", do: func() { h.connect(t, "bob") },
				wantFrame: true, wantUsers: []string{"bob", "watcher"}},
			{name: "bob opens a second socket", do: func() { h.connect(t, "bob") }},
		}
		before := len(settle())
		for _, st := range steps {
			st.do()
			got := settle()[before:]
			before += len(got)
			switch {
			case !st.wantFrame && len(got) > 0:
				t.Errorf("%s: the watcher got %d presence frames %v, want none", st.name, len(got), got[0].Users)
			case st.wantFrame && len(got) != 1:
				t.Errorf("%s: the watcher got %d presence frames, want 1", st.name, len(got))
			case st.wantFrame && !slices.Equal(got[0].Users, st.wantUsers):
				t.Errorf("%s: the watcher was sent %v, want %v", st.name, got[0].Users, st.wantUsers)
			}
		}
	})
}

// More than maxStrikes rate-limited frames within strikeWindow close the
// socket with 1008 after their warnings; as many spread over a longer time
// do not.
func TestAbuseStrikesClose1008(t *testing.T) {
	slow := throttle.Limit{Rate: 0.01, Burst: 1} // one frame, then a strike each
	cases := []struct {
		name     string
		lim      func(*Limits)
		frame    map[string]string
		rounds   []int // rate-limited frames per round, rounds strikeWindow apart
		want1008 bool
	}{
		{name: "garbage past the request rate", lim: func(l *Limits) { l.RequestRate = slow },
			frame: map[string]string{"type": "nope"}, rounds: []int{maxStrikes + 1}, want1008: true},
		{name: "sends past the message rate", lim: func(l *Limits) { l.MessageRate = slow },
			frame: map[string]string{"type": "send", "room": DefaultRoom, "text": "hi"}, rounds: []int{maxStrikes + 1}, want1008: true},
		{name: "requests past the rate, spread out", lim: func(l *Limits) { l.RequestRate = slow },
			frame: map[string]string{"type": "history", "room": DefaultRoom}, rounds: []int{maxStrikes, maxStrikes, maxStrikes}, want1008: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				lim := unitLimits()
				tc.lim(&lim)
				h := newUnitHub(t, lim)
				c := h.connect(t, "abuser")
				c.send(tc.frame) // takes the one token
				strikes := 0
				for i, n := range tc.rounds {
					if i > 0 {
						time.Sleep(strikeWindow + time.Second)
					}
					for range n {
						c.send(tc.frame)
					}
					strikes += n
					synctest.Wait()
				}
				limited := 0
				for _, f := range c.received("error") {
					if f.Code == codeRateLimited {
						limited++
					}
				}
				// The first frame of a later round may find a token refilled.
				if limited < strikes-len(tc.rounds)+1 {
					t.Errorf("%d rate_limited warnings for %d frames past the rate", limited, strikes)
				}
				want := 0
				if tc.want1008 {
					want = int(ClosePolicy)
				}
				if code := c.closeCode(); code != want {
					t.Errorf("close code %d, want %d", code, want)
				}
			})
		})
	}
}

// A member that does not read is closed with 1013 once its queue passes its
// bound, in bytes or in frames; the other members get every message.
func TestSlowConsumerCloses1013(t *testing.T) {
	cases := []struct {
		name string
		lim  func(*Limits)
		text string
		n    int
	}{
		{name: "byte bound", lim: func(l *Limits) { l.SendQueueBytes = 32 << 10 }, text: strings.Repeat("b", 3900), n: 40},
		{name: "frame bound", lim: func(l *Limits) { l.SendQueue = 16 }, text: "short", n: 60},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				lim := unitLimits()
				tc.lim(&lim)
				h := newUnitHub(t, lim)
				reader := h.connect(t, "reader")
				sender := h.connect(t, "sender")
				time.Sleep(maxPresenceDelay) // the presence frames have gone out
				// From here on the bubble's clock stands still until the slow
				// peer reads, so its close is the queue bound's and not the
				// write deadline's.
				slow := h.connectPeer(t, Peer{User: "slow", SessionID: "s-slow", ExpiresAt: time.Now().Add(time.Hour)}, false)
				synctest.Wait()
				for i := range tc.n {
					sender.sendText(DefaultRoom, fmt.Sprintf("%d %s", i, tc.text))
					// One at a time: the sender's own queue is bounded too.
					synctest.Wait()
				}
				// Now the slow peer reads: what the server still wrote, then its close.
				slow.startReading()
				<-slow.done
				if code := slow.closeCode(); code != int(CloseTryLater) {
					t.Errorf("slow peer: close code %d, want 1013", code)
				}
				if got := len(slow.messageIDs(DefaultRoom)); got >= tc.n {
					t.Errorf("slow peer got all %d messages: its queue was never bounded", got)
				}
				for name, c := range map[string]*unitClient{"reader": reader, "sender": sender} {
					ids := c.messageIDs(DefaultRoom)
					if len(ids) != tc.n || !slices.IsSorted(ids) {
						t.Errorf("%s got %d messages (sorted %v), want all %d in order", name, len(ids), slices.IsSorted(ids), tc.n)
					}
					if code := c.closeCode(); code != 0 {
						t.Errorf("%s closed with %d", name, code)
					}
				}
			})
		})
	}
}

// A client that joins with since=N while others are sending gets every
// message after N once, in id order: the replay from the store and the live
// messages meet without a gap or a repeat. Two moments are forced: the replay
// held mid-way while messages are delivered live (they wait in the member's
// pending list), and messages stored but not yet delivered when the replay
// reads them (their live copy must be skipped).
func TestResumeWithoutGapUnderConcurrentSends(t *testing.T) {
	cases := []struct {
		name       string
		holdReplay bool // the store hook holds the replay's read; else the delivery of stored messages
	}{
		{name: "replay held while messages are delivered", holdReplay: true},
		{name: "messages stored but undelivered when the replay reads", holdReplay: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const room, senders, perRound = "busy", 3, 100
				h := newUnitHub(t, unitLimits())
				watcher := h.connect(t, "watcher")
				watcher.send(map[string]string{"type": "join", "room": room})
				var ss []*unitClient
				for i := range senders {
					s := h.connect(t, fmt.Sprintf("sender%d", i))
					s.send(map[string]string{"type": "join", "room": room})
					ss = append(ss, s)
				}
				synctest.Wait()
				sendRound := func(round int) *sync.WaitGroup {
					var wg sync.WaitGroup
					for i, s := range ss {
						wg.Go(func() {
							for j := range perRound {
								s.sendText(room, fmt.Sprintf("round %d sender %d message %d", round, i, j))
							}
						})
					}
					return &wg
				}
				sendRound(0).Wait()
				synctest.Wait()
				before := watcher.messageIDs(room)
				if len(before) != senders*perRound {
					t.Fatalf("watcher got %d messages of round 0, want %d", len(before), senders*perRound)
				}
				since := before[len(before)/6] // the replay covers more than one store page (maxHistory)

				hold := make(chan struct{})
				var once sync.Once
				wait := func() { once.Do(func() { <-hold }) }
				resumer := h.connect(t, "resumer")
				synctest.Wait()
				var round1 *sync.WaitGroup
				if tc.holdReplay {
					// The resumer's first store read waits while round 1 is delivered live.
					h.store.beforeAfter = wait
					resumer.send(map[string]any{"type": "join", "room": room, "since": since})
					round1 = sendRound(1)
				} else {
					// Round 1's first batch is stored, and its delivery waits
					// while the resumer replays.
					h.store.afterAppend = wait
					round1 = sendRound(1)
					synctest.Wait()
					resumer.send(map[string]any{"type": "join", "room": room, "since": since})
				}
				synctest.Wait()
				close(hold)
				round2 := sendRound(2) // and more while the rest catches up
				round1.Wait()
				round2.Wait()
				synctest.Wait()

				all := watcher.messageIDs(room)
				if len(all) != 3*senders*perRound {
					t.Fatalf("watcher got %d messages, want %d", len(all), 3*senders*perRound)
				}
				var want []int64
				for _, id := range all {
					if id > since {
						want = append(want, id)
					}
				}
				got := resumer.messageIDs(room)
				if !slices.Equal(got, want) {
					t.Fatalf("resumer from %d got %d messages, want %d (every later id once, in order); first difference at %d",
						since, len(got), len(want), firstDiff(got, want))
				}
				if j := resumer.received("joined"); len(j) != 2 || j[1].Room != room {
					t.Errorf("joined frames %+v, want general then %s", j, room)
				}
			})
		})
	}
}

// A member that joins its room again with since=N gets, as message frames,
// what came after N and before its live delivery began: once each, and not
// again what it already had live.
func TestRejoinWithSinceReplaysOnlyBeforeLive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const room = "again"
		h := newUnitHub(t, unitLimits())
		sender := h.connect(t, "sender")
		sender.send(map[string]string{"type": "join", "room": room})
		synctest.Wait()
		for i := range 20 {
			sender.sendText(room, fmt.Sprintf("before %d", i))
		}
		synctest.Wait()
		member := h.connect(t, "member")
		member.send(map[string]string{"type": "join", "room": room}) // recent history, then live
		synctest.Wait()
		joined := member.received("joined")
		liveFrom := joined[len(joined)-1].LastID
		for i := range 10 {
			sender.sendText(room, fmt.Sprintf("live %d", i))
		}
		synctest.Wait()
		live := member.messageIDs(room)
		if len(live) != 10 {
			t.Fatalf("member got %d live messages, want 10", len(live))
		}
		since := liveFrom - 5
		member.send(map[string]any{"type": "join", "room": room, "since": since})
		synctest.Wait()
		replayed := member.messageIDs(room)[len(live):]
		var want []int64
		for id := since + 1; id <= liveFrom; id++ {
			want = append(want, id)
		}
		if !slices.Equal(replayed, want) {
			t.Fatalf("rejoin since %d (live from %d) replayed %v, want %v", since, liveFrom, replayed, want)
		}
	})
}

func firstDiff(a, b []int64) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// A socket asks the store whether its session still exists after it
// registers only if a session was kicked since its gate read Hub.Kicks: such
// a kick may have been its own, before the hub knew the socket. Without one,
// a revocation after the gate kicks the registered socket, and the store is
// not asked (a reconnect storm would ask it once per socket). Here the
// session ended in the store after the gate passed it; only a kick tells.
func TestRecheckOnlyAfterAKick(t *testing.T) {
	cases := []struct {
		name       string
		kickBefore bool // another session is kicked between the gate and the registration
		unknown    bool // Peer.Kicks not read (zero)
		wantClosed bool
	}{
		{name: "no kick since the gate", wantClosed: false},
		{name: "a kick since the gate", kickBefore: true, wantClosed: true},
		{name: "kicks not read", unknown: true, wantClosed: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newUnitHub(t, unitLimits())
				p := Peer{User: "alice", SessionID: "s-alice", ExpiresAt: time.Now().Add(time.Hour)}
				if !tc.unknown {
					p.Kicks = h.Kicks()
				}
				h.sessions.setEnd("s-alice", time.Now().Add(-time.Second)) // revoked after the gate
				if tc.kickBefore {
					h.KickSession("s-someone-else")
				}
				c := h.connectPeer(t, p, true)
				synctest.Wait()
				if closed := c.closeCode() == int(CloseAuthEnded); closed != tc.wantClosed {
					t.Errorf("socket closed with 4401: %v, want %v (close code %d)", closed, tc.wantClosed, c.closeCode())
				}
			})
		})
	}
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The reconnect storm of issue 14 at a tenth of its size: 1,000 sockets held
// in 10 rooms while a sender in each room sends a numbered sequence; the
// server is stopped as SIGTERM stops it (run's context ends: the same path)
// and started again on the same --data and address; every socket reconnects
// as the page does (at a 503's Retry-After, the admission's reservation, or
// else with full-jitter backoff), and resumes with join+since. Every socket
// must then hold every message its room's sender had acknowledged, in order,
// with no gap and no duplicate.
// Nothing is timed: the deadlines are generous bounds, not assertions.
func TestRestartStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 sockets: not in -short")
	}
	const (
		rooms     = 10
		perRoom   = 100                    // receiving sockets, all of one user
		sendEvery = 400 * time.Millisecond // 2.5 a second a room: 2,500 deliveries a second in all
		// Bounds, not expectations: a shared two-core machine may be slow.
		phase = 90 * time.Second
	)
	addr := freeAddr(t)
	flags := []string{"--addr", addr, "--max-conns-per-addr", "0", "--max-sockets-per-user", "200",
		"--message-rate", "100/s:100", "--request-rate", "1000/s:1000", "--room-create-rate", "100/1h:100",
		// Few handshake slots and a short wait, so the storm meets the admission:
		// refused sockets must come back after Retry-After and lose nothing.
		"--handshake-concurrency", "4", "--handshake-wait", "250ms"}
	s := startServer(t, "", flags...)
	tokens := make([]string, 2*rooms) // receivers of room k: user rk; its sender: sk
	for k := range rooms {
		for i, name := range []string{fmt.Sprintf("r%d", k), fmt.Sprintf("s%d", k)} {
			s.addUser(name, pw)
			tokens[2*k+i] = s.token(name, pw)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := "ws" + strings.TrimPrefix(s.URL, "http") + "/ws"
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	var socks []*stormSock
	var senders []*stormSock
	for k := range rooms {
		room := fmt.Sprintf("room%d", k)
		for range perRoom {
			socks = append(socks, &stormSock{url: url, token: tokens[2*k], room: room})
		}
		senders = append(senders, &stormSock{url: url, token: tokens[2*k+1], room: room, sendEvery: sendEvery})
	}
	all := append(append([]*stormSock{}, socks...), senders...)
	opening := make(chan struct{}, 16)
	for _, c := range all {
		wg.Go(func() { c.run(ctx, opening) })
	}
	waitFor(t, phase, "every socket joined its room", func() string { return notYet(all, func(c *stormSock) bool { return c.joins.Load() >= 1 }) })
	for _, c := range senders {
		c.sending.Store(true)
	}
	waitFor(t, phase, "five messages acknowledged in every room", func() string { return notYet(senders, func(c *stormSock) bool { return c.seq() >= 5 }) })

	s.Stop() // as SIGTERM: sockets close with 1001 once what was taken is stored
	before := make([]int, rooms)
	for k, c := range senders {
		before[k] = c.seq()
	}
	restarted := startServer(t, s.Data, flags...)
	listening := time.Now()
	if restarted.URL != s.URL {
		t.Fatalf("restarted on %s, not %s", restarted.URL, s.URL)
	}
	waitFor(t, phase, "every socket resumed", func() string { return notYet(all, func(c *stormSock) bool { return c.joins.Load() >= 2 }) })
	t.Logf("every socket resumed %.1fs after the new server listened", time.Since(listening).Seconds())
	waitFor(t, phase, "five more messages acknowledged in every room", func() string {
		return notYet(senders, func(c *stormSock) bool { return c.seq() >= before[senderIndex(senders, c)]+5 })
	})
	for _, c := range senders {
		c.sending.Store(false)
	}
	waitFor(t, phase, "the senders' last messages acknowledged", func() string { return notYet(senders, func(c *stormSock) bool { return !c.outstanding() }) })
	final := map[string]int{}
	for _, c := range senders {
		final[c.room] = c.seq()
	}
	waitFor(t, phase, "every socket has its room's last message", func() string {
		return notYet(socks, func(c *stormSock) bool { return c.seq() >= final[c.room] })
	})

	refused := 0
	for i, c := range all {
		c.mu.Lock()
		if c.gaps > 0 || c.dups > 0 || len(c.problems) > 0 || c.lastSeq != final[c.room] {
			t.Errorf("socket %d in %s: %d gaps, %d duplicates, last %d of %d, problems %q", i, c.room, c.gaps, c.dups, c.lastSeq, final[c.room], c.problems)
		}
		refused += c.refused
		c.mu.Unlock()
	}
	for k, c := range senders {
		if final[c.room] < before[k] {
			t.Errorf("%s: %d messages after the restart, %d acknowledged before it", c.room, final[c.room], before[k])
		}
	}
	t.Logf("handshakes refused with 503 and retried: %d", refused)
}

// stormSock is one socket of TestRestartStorm that keeps itself connected:
// it reconnects as the page does (a 503's Retry-After plus at most a second,
// or else full-jitter backoff) and resumes its room with join+since,
// checking that the room's numbered messages arrive each once and in order.
// A sender also sends the next number once its last is acknowledged (its
// own message came back), so an unacknowledged message is sent again only if
// the resumed room lacks it.
type stormSock struct {
	url, token, room string
	sendEvery        time.Duration // a sender's pace; 0: only receives

	sending atomic.Bool  // a sender sends while this is true
	joins   atomic.Int64 // joined frames for its room: one per connection that resumed

	mu       sync.Mutex
	lastID   int64 // the highest message id seen in the room: the next join's since
	lastSeq  int   // the highest number seen
	pending  int   // a sender's number sent and not yet seen back (0: none)
	gaps     int
	dups     int
	refused  int // handshakes answered 503
	problems []string
}

const (
	stormBackoffBase = 100 * time.Millisecond
	stormBackoffCap  = 4 * time.Second
)

// run keeps the socket connected until ctx ends. Its first opening holds a
// place in opening until it succeeds, so the sockets first open a few at a
// time, as the page's users arrive: the storm is the restart's.
func (c *stormSock) run(ctx context.Context, opening chan struct{}) {
	select {
	case opening <- struct{}{}:
	case <-ctx.Done():
		return
	}
	first := true
	opened := func() {
		if first {
			first = false
			<-opening
		}
	}
	defer opened()
	d := websocket.Dialer{HandshakeTimeout: 30 * time.Second}
	h := http.Header{"Authorization": {"Bearer " + c.token}}
	attempt := 0
	for ctx.Err() == nil {
		var reserved time.Duration
		conn, resp, err := d.DialContext(ctx, c.url, h)
		switch {
		case err == nil:
			opened()
			attempt = 0
			c.serve(ctx, conn)
		case resp != nil && resp.StatusCode == http.StatusServiceUnavailable:
			ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			reserved = time.Duration(ra) * time.Second
			c.mu.Lock()
			c.refused++
			c.mu.Unlock()
		case resp != nil:
			c.problem(fmt.Sprintf("handshake: status %d", resp.StatusCode))
		}
		// Full jitter: anywhere in the window, which doubles with each
		// failure; a reservation instead is kept, spread over its second.
		wait := rand.N(min(stormBackoffCap, stormBackoffBase<<min(attempt, 10)) + 1)
		if reserved > 0 {
			wait = reserved + rand.N(time.Second)
		}
		attempt++
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
	}
}

// serve resumes the room on an open socket and reads until the socket ends;
// a sender also sends on it.
func (c *stormSock) serve(ctx context.Context, conn *websocket.Conn) {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c.mu.Lock()
	since := c.lastID
	c.pending = 0 // what was not seen back is sent again if the resumed room lacks it
	c.mu.Unlock()
	if err := conn.WriteJSON(map[string]any{"type": "join", "room": c.room, "since": since}); err != nil {
		return
	}
	var joined atomic.Bool
	done := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(done)
	if c.sendEvery > 0 {
		wg.Go(func() {
			tick := time.NewTicker(c.sendEvery)
			defer tick.Stop()
			for {
				select {
				case <-done:
					return
				case <-tick.C:
				}
				if !c.sending.Load() || !joined.Load() {
					continue
				}
				c.mu.Lock()
				n := 0
				if c.pending == 0 {
					n = c.lastSeq + 1
					c.pending = n
				}
				c.mu.Unlock()
				if n > 0 && conn.WriteJSON(map[string]any{"type": "send", "room": c.room, "text": "seq " + strconv.Itoa(n)}) != nil {
					return
				}
			}
		})
	}
	type msg struct {
		ID   int64  `json:"id"`
		Room string `json:"room"`
		Text string `json:"text"`
	}
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(data), "\n") {
			var f struct {
				msg
				Type     string `json:"type"`
				Code     string `json:"code"`
				Messages []msg  `json:"messages"`
			}
			if err := json.Unmarshal([]byte(line), &f); err != nil {
				c.problem("bad frame " + line)
				continue
			}
			switch f.Type {
			case "message":
				c.saw(f.ID, f.Room, f.Text)
			case "history":
				for _, m := range f.Messages {
					c.saw(m.ID, m.Room, m.Text)
				}
			case "joined":
				if f.Room == c.room {
					joined.Store(true)
					c.joins.Add(1)
				}
			case "error":
				if f.Code == "unavailable" {
					// A send refused as the server stopped: not stored, so sent again.
					c.mu.Lock()
					c.pending = 0
					c.mu.Unlock()
					continue
				}
				c.problem("error frame " + line)
			}
		}
	}
}

// saw checks one message of the room against the numbers seen so far.
func (c *stormSock) saw(id int64, room, text string) {
	if room == "" {
		room = c.room // a history's messages carry their room too; be lenient
	}
	if room != c.room {
		return
	}
	n, err := strconv.Atoi(strings.TrimPrefix(text, "seq "))
	if err != nil {
		c.problem("unexpected text " + text)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case id <= c.lastID || n <= c.lastSeq:
		c.dups++
		return
	case n != c.lastSeq+1:
		c.gaps++
	}
	c.lastSeq, c.lastID = n, id
	if c.pending != 0 && n >= c.pending {
		c.pending = 0
	}
}

func (c *stormSock) seq() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastSeq
}

func (c *stormSock) outstanding() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pending != 0
}

func (c *stormSock) problem(p string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.problems) < 5 {
		c.problems = append(c.problems, p)
	}
}

// notYet says how many of socks are not yet ok ("" when all are).
func notYet(socks []*stormSock, ok func(*stormSock) bool) string {
	n := 0
	for _, c := range socks {
		if !ok(c) {
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%d of %d sockets not yet", n, len(socks))
}

func senderIndex(senders []*stormSock, c *stormSock) int {
	for i, s := range senders {
		if s == c {
			return i
		}
	}
	return -1
}

// waitFor polls cond until it reports nothing left ("") or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		left := cond()
		if left == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: after %v, %s", what, d, left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

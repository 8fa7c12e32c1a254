package main

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// holdResult is what `hold` measured.
type holdResult struct {
	Sockets         int       `json:"sockets"`
	Users           int       `json:"users"`
	Dial            dialStats `json:"dial"`
	DialCPU         cpuUse    `json:"dial_cpu"`
	RSSBeforeKiB    int64     `json:"rss_before_kib,omitempty"`
	RSSAfterKiB     int64     `json:"rss_after_kib,omitempty"`
	RSSPerSocketKiB float64   `json:"rss_per_socket_kib,omitempty"`
	HeldSeconds     float64   `json:"held_seconds"`
	FramesReceived  int64     `json:"frames_received"`
	Drops           dropStats `json:"drops"`

	// With -rss-at: the RSS with that many sockets open, and the marginal
	// RSS per socket from there to the end: what one more idle socket
	// costs, free of whatever the logins and the first sockets left behind.
	RSSAtSockets         int       `json:"rss_at_sockets,omitempty"`
	RSSAtKiB             int64     `json:"rss_at_kib,omitempty"`
	DialToMark           dialStats `json:"dial_to_mark,omitzero"`
	MarginalPerSocketKiB float64   `json:"marginal_rss_per_socket_kib,omitempty"`
}

// runHold opens o.sockets sockets, measures the handshakes and the server's
// memory per socket, holds them, and closes them.
func runHold(ctx context.Context, o *options, log io.Writer) (*holdResult, error) {
	tokens, err := prepareTokens(ctx, o, log)
	if err != nil {
		return nil, err
	}
	res := &holdResult{Sockets: o.sockets, Users: o.users}
	if o.pid != 0 {
		if res.RSSBeforeKiB, err = readRSS(o.pid); err != nil {
			return nil, err
		}
	}

	perSocket := make([]string, o.sockets)
	for i := range perSocket {
		perSocket[i] = tokens[i%len(tokens)]
	}
	var frames atomic.Int64
	cpu0 := sampleCPU(o.pid)
	fmt.Fprintf(log, "opening %d sockets to %s as %d users, %d at a time\n", o.sockets, o.base, o.users, o.concurrency)
	onOpen := func(_ int, ws *websocket.Conn) *loadConn {
		c := newLoadConn(ws)
		// Only counted, not decoded: holding measures the server, and the
		// tool shares the machine's cores with it.
		go c.read(nil, &frames)
		return c
	}
	var conns []*loadConn
	if o.rssAt > 0 {
		// The mark: open that many, settle, read the RSS, then open the rest.
		var st dialStats
		conns, st = dialAll(ctx, o, perSocket[:o.rssAt], log, onOpen)
		res.DialToMark = st
		fmt.Fprintf(log, "opened %d in %.1fs; settling %v\n", st.Opened, st.Seconds, o.settle)
		sleepCtx(ctx, o.settle)
		if ctx.Err() == nil {
			if res.RSSAtKiB, err = readRSS(o.pid); err != nil {
				closeAll(conns)
				return nil, err
			}
			res.RSSAtSockets = st.Opened
			fmt.Fprintf(log, "server RSS %.1f MiB with %d sockets\n", float64(res.RSSAtKiB)/1024, st.Opened)
		}
		perSocket = perSocket[o.rssAt:]
	}
	rest, st := dialAll(ctx, o, perSocket, log, onOpen)
	conns = append(conns, rest...)
	res.Dial = st
	res.DialCPU = cpuBetween(cpu0, sampleCPU(o.pid))
	fmt.Fprintf(log, "opened %d in %.1fs; settling %v\n", st.Opened, st.Seconds, o.settle)

	sleepCtx(ctx, o.settle)
	if o.pid != 0 && ctx.Err() == nil {
		if res.RSSAfterKiB, err = readRSS(o.pid); err != nil {
			closeAll(conns)
			return nil, err
		}
		opened := st.Opened + res.DialToMark.Opened
		if opened > 0 {
			res.RSSPerSocketKiB = round1(float64(res.RSSAfterKiB-res.RSSBeforeKiB) / float64(opened))
		}
		if res.RSSAtKiB > 0 && st.Opened > 0 {
			res.MarginalPerSocketKiB = round2(float64(res.RSSAfterKiB-res.RSSAtKiB) / float64(st.Opened))
		}
	}
	fmt.Fprintf(log, "holding for %v\n", o.hold)
	start := time.Now()
	sleepCtx(ctx, o.hold)
	res.HeldSeconds = round2(time.Since(start).Seconds())
	closeAll(conns)
	res.FramesReceived = frames.Load()
	res.Drops = collectDrops(conns)
	return res, ctx.Err()
}

// Command chatload measures securechat under load, and the recipe's FastAPI
// server the same way for a side-by-side:
//
//	chatload hold   -n 5000 -pid PID            sockets held open: handshakes/s, latency, server RSS per socket
//	chatload fanout -receivers 1000 -rate 100   one room's delivery rate, loss, duplicates and latency
//	chatload fanout -rooms 100 -receivers 100   many rooms, each with its own senders
//	chatload storm  -rate 20                    password logins a second against /token
//	chatload users  -users 500 -server-bin B -data D   create the load users through the server's CLI
//	chatload reconnect -n 1000 -rooms 10 -- ./securechat --addr 127.0.0.1:8080 --data D
//	                                            restart the server under held sockets: time to resume, gaps, duplicates, RSS
//	chatload hold   -n 18000 -rss-at 5000 -pid PID   the marginal RSS per idle socket between 5,000 and 18,000
//
// and the attacks of issue 11, each timing a bystander while one party misbehaves:
//
//	chatload hoard    -pid PID              20 sockets of one user ask for 4.8 MB history pages and never read
//	chatload slowbody -pid PID              one address holds 19,000 unfinished request bodies
//	chatload office   -guesses 1000         200 logins from one address in a minute, while a victim is guessed
//	chatload signups                        128 sign-ups at once against another user's /token
//
// Every target must be loopback. The run stops by itself; the exit status is
// 0 when it saw no errors, 1 when it did (failed handshakes over
// -max-failed-pct, loss over -max-loss, duplicates, refused frames), 2 for a
// bad command line. Timing alone never fails a run.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1 // the run found errors, or could not run
	exitUsage  = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// report is the machine-readable result: one JSON line with -json.
type report struct {
	Mode     string          `json:"mode"`
	Target   string          `json:"target"`
	URL      string          `json:"url"`
	OK       bool            `json:"ok"`
	Problems []string        `json:"problems,omitempty"`
	Hold     *holdResult     `json:"hold,omitempty"`
	Fanout   *fanoutResult   `json:"fanout,omitempty"`
	Storm    *stormResult    `json:"storm,omitempty"`
	Created  *int            `json:"users_created,omitempty"`
	Hoard    *hoardResult    `json:"hoard,omitempty"`
	Slowbody *slowbodyResult `json:"slowbody,omitempty"`
	Office   *officeResult   `json:"office,omitempty"`
	Signups  *signupsResult  `json:"signups,omitempty"`

	Reconnect *reconnectResult `json:"reconnect,omitempty"`
}

// run is main without the process, so tests can call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "chatload:", err)
		return exitUsage
	}
	limit, err := raiseFileLimit()
	if err != nil {
		fmt.Fprintln(stderr, "chatload:", err)
		return exitFailed
	}
	if need := uint64(o.socketCount() + fileReserve); limit > 0 && need > limit {
		fmt.Fprintf(stderr, "chatload: %d sockets need about %d open files; this process may open %d\n", o.socketCount(), need, limit)
		return exitUsage
	}

	if o.cpuProfile != "" {
		stopProfile, err := startCPUProfile(o.cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "chatload:", err)
			return exitFailed
		}
		defer stopProfile()
	}

	rep := report{Mode: o.mode, Target: o.target.String(), URL: o.base.String()}
	switch o.mode {
	case "hold":
		rep.Hold, err = runHold(ctx, o, stderr)
	case "fanout":
		rep.Fanout, err = runFanout(ctx, o, stderr)
	case "storm":
		if err = ensureUsers(ctx, o, stderr); err == nil {
			rep.Storm = runStorm(ctx, o, o.rate, o.duration, stderr)
			err = ctx.Err()
		}
	case "users":
		var n int
		n, err = createUsers(ctx, o, o.userNames())
		rep.Created = &n
	case "hoard":
		rep.Hoard, err = runHoard(ctx, o, stderr)
	case "slowbody":
		rep.Slowbody, err = runSlowbody(ctx, o, stderr)
	case "office":
		rep.Office, err = runOffice(ctx, o, stderr)
	case "signups":
		rep.Signups, err = runSignups(ctx, o, stderr)
	case "reconnect":
		rep.Reconnect, err = runReconnect(ctx, o, stderr)
	}
	rep.URL = o.base.String() // reconnect reads it from the server it started
	switch {
	case err != nil && ctx.Err() != nil:
		rep.Problems = append(rep.Problems, "interrupted: the figures cover the run until then")
	case err != nil:
		rep.Problems = append(rep.Problems, err.Error())
	}
	rep.Problems = append(rep.Problems, verdict(o, &rep)...)
	rep.OK = len(rep.Problems) == 0

	summary := stdout
	if o.jsonOut {
		summary = stderr
	}
	printSummary(summary, o, &rep)
	if o.jsonOut {
		line, _ := json.Marshal(rep) // cannot fail: plain structs
		fmt.Fprintf(stdout, "%s\n", line)
	}
	if !rep.OK {
		return exitFailed
	}
	return exitOK
}

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/url"
	"time"
)

// Bounds on what a run may ask for, so every loop has a known end.
const (
	maxSockets     = 1_000_000
	maxConcurrency = 10_000
	maxRate        = 1_000_000 // messages or logins a second
	maxDuration    = time.Hour // any one phase: sending, holding, settling, draining
	maxRooms       = 10_000
	maxRoomName    = 64 // the server's limit on a room name
	// maxSeenBytes caps the receivers' seen-sets together (one bit per
	// message per receiver): a run that would need more is refused up front.
	maxSeenBytes = 2 << 30
	// fileReserve is the open files kept back from sockets for the HTTP
	// client, the server CLI, /proc and the runtime.
	fileReserve = 100
)

// Defaults that differ by target: the seed runs on another port and only
// knows bench* users with the password "bench".
const (
	defaultURL        = "http://127.0.0.1:8080"
	defaultSeedURL    = "http://127.0.0.1:8001"
	defaultUserPrefix = "load"
	defaultPassword   = "load-password" // securechat wants 8 or more characters
	seedUserPrefix    = "bench"
	seedPassword      = "bench"
	defaultPerUser    = 10 // securechat may cap a user at 20 sockets
)

// options is one run's configuration, from the command line.
type options struct {
	mode   string
	target targetKind
	base   *url.URL

	concurrency int
	users       int // 0 until resolve: then how many users the sockets spread over
	perUser     int
	userPrefix  string
	password    string
	createUsers bool
	serverBin   string
	dataDir     string
	spread      bool
	jsonOut     bool
	pid         int
	settle      time.Duration

	// hold
	sockets int
	hold    time.Duration

	// fanout and storm
	receivers int
	senders   int
	rooms     int
	room      string
	rate      float64
	duration  time.Duration
	size      int
	drain     time.Duration
	stormRate float64

	// verdict
	maxFailedPct float64
	maxLossPct   float64
}

const usageText = `usage: chatload MODE [flags]

modes:
  hold    open -n authenticated sockets, report handshakes/s, latency and server RSS per socket
  fanout  -receivers per room, -senders per room sending -rate msgs/s each room; report delivery, loss, latency
  storm   password logins at -rate/s against /token
  users   create -users accounts through the server's CLI (-server-bin, -data)

Run "chatload MODE -h" for a mode's flags. Targets must be loopback.
`

// parseOptions reads a mode and its flags. It returns flag.ErrHelp after
// printing help.
func parseOptions(args []string, stderr io.Writer) (*options, error) {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		fmt.Fprint(stderr, usageText)
		if len(args) == 0 {
			return nil, errors.New("no mode given")
		}
		return nil, flag.ErrHelp
	}
	o := &options{mode: args[0]}
	switch o.mode {
	case "hold", "fanout", "storm", "users":
	default:
		fmt.Fprint(stderr, usageText)
		return nil, fmt.Errorf("unknown mode %q", o.mode)
	}
	fs := flag.NewFlagSet("chatload "+o.mode, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var rawURL, target string
	fs.StringVar(&rawURL, "url", defaultURL, "server base URL; loopback only (default for -target seed: "+defaultSeedURL+")")
	fs.StringVar(&target, "target", "securechat", "server kind: securechat or seed (the recipe's FastAPI server)")
	fs.IntVar(&o.concurrency, "c", 64, "concurrent dialers and logins")
	fs.IntVar(&o.users, "users", 0, "users to spread sockets over (0: sockets / -per-user, rounded up)")
	fs.IntVar(&o.perUser, "per-user", defaultPerUser, "sockets per user when -users is 0")
	fs.StringVar(&o.userPrefix, "user-prefix", defaultUserPrefix, "user names are PREFIX0, PREFIX1, … (seed default: bench)")
	fs.StringVar(&o.password, "password", defaultPassword, "every load user's password (seed default: bench)")
	fs.BoolVar(&o.createUsers, "create-users", false, "create the users first through the server's CLI (needs -server-bin and -data)")
	fs.StringVar(&o.serverBin, "server-bin", "", "securechat binary, for creating users")
	fs.StringVar(&o.dataDir, "data", "", "the server's --data folder, for creating users")
	fs.BoolVar(&o.spread, "spread", true, "spread connections over source addresses 127.0.0.1-250 (target 127.0.0.1 only)")
	fs.BoolVar(&o.jsonOut, "json", false, "print one JSON result line on stdout (the summary goes to stderr)")
	fs.Float64Var(&o.maxFailedPct, "max-failed-pct", 0, "percent of failed handshakes, dropped sockets or failed logins tolerated before exiting 1")
	switch o.mode {
	case "hold":
		fs.IntVar(&o.sockets, "n", 1000, "sockets to open")
		fs.DurationVar(&o.hold, "hold", 5*time.Second, "how long to hold the sockets open after settling")
		fs.DurationVar(&o.settle, "settle", 3*time.Second, "wait after the last socket opens before measuring RSS")
		fs.IntVar(&o.pid, "pid", 0, "the server's process id, to measure its RSS growth per socket (/proc/PID/status)")
	case "fanout":
		fs.IntVar(&o.receivers, "receivers", 100, "receiving sockets per room")
		fs.IntVar(&o.senders, "senders", 2, "sending sockets per room")
		fs.IntVar(&o.rooms, "rooms", 1, "rooms, each with its own receivers and senders (named ROOM-0, ROOM-1, … when more than one)")
		fs.StringVar(&o.room, "room", "general", "room name (securechat joins every socket to general itself)")
		fs.Float64Var(&o.rate, "rate", 100, "messages a second per room, spread evenly over its senders")
		fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to send")
		fs.IntVar(&o.size, "size", 100, "message text size in bytes (at least the ~60-byte header)")
		fs.DurationVar(&o.drain, "drain", 10*time.Second, "most time to wait for late acknowledgements and deliveries after sending")
		fs.DurationVar(&o.settle, "settle", time.Second, "wait after every socket is ready before sending")
		fs.Float64Var(&o.stormRate, "storm-rate", 0, "also run password logins at this rate during sending (0: none)")
		fs.Float64Var(&o.maxLossPct, "max-loss", 0, "percent of lost deliveries tolerated before exiting 1")
		fs.IntVar(&o.pid, "pid", 0, "the server's process id, to report its RSS before and after")
	case "storm":
		fs.Float64Var(&o.rate, "rate", 10, "logins a second")
		fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to log in")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	var err error
	if o.target, err = parseTargetKind(target); err != nil {
		return nil, err
	}
	if o.target == targetSeed {
		if !set["url"] {
			rawURL = defaultSeedURL
		}
		if !set["user-prefix"] {
			o.userPrefix = seedUserPrefix
		}
		if !set["password"] {
			o.password = seedPassword
		}
	}
	if o.base, err = parseBaseURL(rawURL); err != nil {
		return nil, err
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	return o, nil
}

// socketCount is how many sockets the run opens.
func (o *options) socketCount() int {
	switch o.mode {
	case "hold":
		return o.sockets
	case "fanout":
		return o.rooms * (o.receivers + o.senders)
	}
	return 0
}

// budget is how many messages each room's senders send at most: the rate
// over the duration. It bounds the send loops and sizes the seen-sets.
func (o *options) budget() int64 {
	return int64(math.Ceil(o.rate * o.duration.Seconds()))
}

// roomName is the name of room k.
func (o *options) roomName(k int) string {
	if o.rooms == 1 {
		return o.room
	}
	return fmt.Sprintf("%s-%d", o.room, k)
}

func (o *options) validate() error {
	inRange := func(name string, v, lo, hi int) error {
		if v < lo || v > hi {
			return fmt.Errorf("-%s %d: must be %d to %d", name, v, lo, hi)
		}
		return nil
	}
	dur := func(name string, d time.Duration, min time.Duration) error {
		if d < min || d > maxDuration {
			return fmt.Errorf("-%s %v: must be %v to %v", name, d, min, maxDuration)
		}
		return nil
	}
	checks := []error{
		inRange("c", o.concurrency, 1, maxConcurrency),
		inRange("users", o.users, 0, maxSockets),
		inRange("per-user", o.perUser, 1, maxSockets),
		dur("settle", o.settle, 0),
	}
	if o.userPrefix == "" || o.password == "" {
		checks = append(checks, errors.New("-user-prefix and -password must not be empty"))
	}
	if o.createUsers || o.mode == "users" {
		if o.target == targetSeed {
			checks = append(checks, errors.New("the seed has fixed users (bench*); nothing to create"))
		} else if o.serverBin == "" || o.dataDir == "" {
			checks = append(checks, errors.New("creating users needs -server-bin and -data"))
		}
	}
	if o.maxFailedPct < 0 || o.maxFailedPct > 100 || o.maxLossPct < 0 || o.maxLossPct > 100 {
		checks = append(checks, errors.New("-max-failed-pct and -max-loss are percentages, 0 to 100"))
	}
	switch o.mode {
	case "users":
		if o.users < 1 {
			checks = append(checks, errors.New("users: give -users N"))
		}
	case "hold":
		checks = append(checks, inRange("n", o.sockets, 1, maxSockets), dur("hold", o.hold, 0))
	case "fanout":
		checks = append(checks,
			inRange("receivers", o.receivers, 1, maxSockets),
			inRange("senders", o.senders, 1, maxSockets),
			inRange("rooms", o.rooms, 1, maxRooms),
			inRange("size", o.size, 0, maxTextBytes),
			dur("duration", o.duration, time.Millisecond),
			dur("drain", o.drain, 0),
			checkRoom(o.roomName(o.rooms-1)),
		)
		if o.rate <= 0 || o.rate > maxRate || o.stormRate < 0 || o.stormRate > maxRate {
			checks = append(checks, fmt.Errorf("-rate and -storm-rate must be in (0, %d]", maxRate))
		}
		if o.socketCount() > maxSockets {
			checks = append(checks, fmt.Errorf("%d sockets: at most %d", o.socketCount(), maxSockets))
		}
		if seen := o.budget() / 8 * int64(o.rooms*o.receivers); seen > maxSeenBytes {
			checks = append(checks, fmt.Errorf("rate × duration × receivers needs %d MiB of seen-sets; at most %d", seen>>20, maxSeenBytes>>20))
		}
		if o.target == targetSeed && (o.rooms != 1 || o.room != "general") {
			checks = append(checks, errors.New("the seed has one room: use -rooms 1 and -room general"))
		}
	case "storm":
		checks = append(checks, dur("duration", o.duration, time.Millisecond))
		if o.rate <= 0 || o.rate > maxRate {
			checks = append(checks, fmt.Errorf("-rate must be in (0, %d]", maxRate))
		}
	}
	if err := errors.Join(checks...); err != nil {
		return err
	}
	if o.users == 0 {
		o.users = max(1, (o.socketCount()+o.perUser-1)/o.perUser)
		if o.mode == "storm" {
			o.users = 10
		}
	}
	return nil
}

// checkRoom applies securechat's room-name rule: 1 to 64 of a-z 0-9 - _.
func checkRoom(name string) error {
	if len(name) < 1 || len(name) > maxRoomName {
		return fmt.Errorf("room %q: 1 to %d characters", name, maxRoomName)
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("room %q: only a-z, 0-9, - and _", name)
		}
	}
	return nil
}

// userName is the name of user i.
func (o *options) userName(i int) string { return fmt.Sprintf("%s%d", o.userPrefix, i) }

// userNames lists every load user.
func (o *options) userNames() []string {
	out := make([]string, o.users)
	for i := range out {
		out[i] = o.userName(i)
	}
	return out
}

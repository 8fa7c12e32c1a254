package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Bounds on what a run may ask for, so every loop has a known end.
const (
	maxSockets     = 1_000_000
	maxConcurrency = 10_000
	maxRate        = 1_000_000 // messages or logins a second
	maxDuration    = time.Hour // any one phase: sending, holding, settling, draining
	maxRooms       = 10_000
	maxRoomName    = 64   // the server's limit on a room name
	maxFill        = 1000 // hoard: messages filled, or asked for in one history request
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
	cpuProfile  string // write the tool's own CPU profile here (where its share of the cores goes)
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

	// attack modes: hoard, slowbody, office, signups
	every       time.Duration // hoard: a history request per socket; slowbody, signups: a probe
	sendEvery   time.Duration // hoard: the bystander's messages
	fill        int           // hoard: messages the room must hold
	limit       int           // hoard: messages asked for in each history request
	maxRSSRise  int           // hoard: MiB of server growth that stops the run early
	ramp        time.Duration // slowbody: most time spent opening connections
	declared    int           // slowbody: the Content-Length sent
	bodyBytes   int           // slowbody: the body bytes actually sent
	attackPath  string        // slowbody: where the slow bodies go
	from        addrRange     // the attacker's (or office's) source addresses
	probeFrom   addrRange     // the bystander's source address
	within      time.Duration // office: the logins are spread over this
	burst       bool          // office: as fast as -c allows instead
	via         string        // office: "token" or "login"
	guesses     int           // office: wrong guesses for the victim (0: none)
	guessFrom   addrRange
	victim      string
	victimFrom  addrRange
	maxAttempts int // signups: 0 for as many as -duration allows

	// reconnect
	serverCmd  []string      // the server's command, after "--": started, stopped with SIGTERM, started again
	serverLog  string        // where the server's output goes
	resumeWait time.Duration // most time for every socket to resume after the restart
	backoff    time.Duration // the first reconnect window (full jitter)
	backoffCap time.Duration // the widest window
	restarts   int           // restarts in all; the figures are the last one's

	// hold
	rssAt int // read the server's RSS also when this many sockets are open (0: only at the end)

	// verdict
	maxFailedPct float64
	maxLossPct   float64
}

const usageText = `usage: chatload [flags] MODE [flags]

modes:
  hold    open -n authenticated sockets, report handshakes/s, latency and server RSS per socket
  fanout  -receivers per room, -senders per room sending -rate msgs/s each room; report delivery, loss, latency
  storm   password logins at -rate/s against /token
  reconnect  start the server (the command after --), hold -n sockets in -rooms with a sender in each,
          restart it with SIGTERM; every socket reconnects and resumes: time to resume, gaps, duplicates, RSS
          (the target is the address the server prints: give it --addr 127.0.0.1:PORT; -url is not read)
  users   create -users accounts through the server's CLI (-server-bin, -data)

attacks (issue 11), each measuring a bystander while one party misbehaves:
  hoard     one user's -n sockets ask for the largest history pages and never read; server RSS, another user's acks
  slowbody  one address holds -n connections with a slow request body; /healthz and /token from another address
  office    -users logins (200 unless given) from one address within -within, optionally with -guesses wrong guesses for -victim
  signups   -c (128 unless given) sign-ups at once for -duration; another user's /token latency

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
	mode, rest := splitMode(args)
	o := &options{mode: mode}
	switch o.mode {
	case "hold", "fanout", "storm", "users", "hoard", "slowbody", "office", "signups", "reconnect":
	case "":
		fmt.Fprint(stderr, usageText)
		return nil, errors.New("no mode given")
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
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write the tool's own CPU profile to this file: the tool shares the machine with the server, and this shows what its share goes to")
	fs.Float64Var(&o.maxFailedPct, "max-failed-pct", 0, "percent of failed handshakes, dropped sockets or failed logins tolerated before exiting 1")
	switch o.mode {
	case "hold":
		fs.IntVar(&o.sockets, "n", 1000, "sockets to open")
		fs.DurationVar(&o.hold, "hold", 5*time.Second, "how long to hold the sockets open after settling")
		fs.DurationVar(&o.settle, "settle", 3*time.Second, "wait after the last socket opens before measuring RSS")
		fs.IntVar(&o.pid, "pid", 0, "the server's process id, to measure its RSS growth per socket (/proc/PID/status)")
		fs.IntVar(&o.rssAt, "rss-at", 0, "also read the server's RSS when this many sockets are open (after -settle), and report the marginal RSS per socket between there and -n (0: off)")
	case "reconnect":
		fs.IntVar(&o.sockets, "n", 1000, "sockets held, spread over -rooms (each room also has a sender)")
		fs.IntVar(&o.rooms, "rooms", 10, "rooms, named ROOM-0, ROOM-1, …")
		fs.StringVar(&o.room, "room", "storm", "room name prefix")
		fs.Float64Var(&o.rate, "rate", 2, "numbered messages a second per room, sent while the server runs (each after the last came back)")
		fs.DurationVar(&o.duration, "duration", 5*time.Second, "sending before the restart")
		fs.DurationVar(&o.drain, "drain", 5*time.Second, "sending after every socket resumed")
		fs.DurationVar(&o.settle, "settle", 3*time.Second, "wait before each RSS reading")
		fs.DurationVar(&o.resumeWait, "resume-wait", 2*time.Minute, "most time for every socket to resume after the new process listens")
		fs.DurationVar(&o.backoff, "backoff", 500*time.Millisecond, "the first reconnect window: a socket waits a random time in [0, min(cap, backoff·2^attempt)]; after a 503 with Retry-After R it waits R plus a random share of at most 1s instead (as the page does)")
		fs.DurationVar(&o.backoffCap, "backoff-cap", 15*time.Second, "the widest reconnect window")
		fs.IntVar(&o.restarts, "restarts", 1, "restarts in all; every one but the last is a warm-up, so the RSS before the last is of a process that, like the one after it, did no logins (use 2 for RSS before and after alike); the figures are the last one's")
		fs.StringVar(&o.serverLog, "server-log", filepath.Join(os.TempDir(), "chatload-reconnect-server.log"), "where the server's output goes")
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
	case "hoard":
		fs.IntVar(&o.sockets, "n", 20, "hoarding sockets, all of user PREFIX0 (the server allows 20 a user by default)")
		fs.StringVar(&o.room, "room", "hoard", "the room the hoarders join and ask history of")
		fs.IntVar(&o.fill, "fill", 200, "messages the room must hold first (user PREFIX2 sends what is missing, paced by the server's rate limit)")
		fs.IntVar(&o.limit, "limit", maxHistoryLimit, "messages asked for in each history request (the protocol's largest page)")
		fs.IntVar(&o.size, "size", maxTextBytes, "characters of '<' in each fill message (escaped to 6 bytes each in JSON)")
		fs.DurationVar(&o.every, "every", 50*time.Millisecond, "a history request per socket this often (the server refuses non-message frames past 20/s a socket, and closes with 1008 after 10 refusals)")
		fs.DurationVar(&o.sendEvery, "send-every", 100*time.Millisecond, "the bystander (PREFIX1) sends a message to general this often (the default message rate is 10/s)")
		fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to hoard")
		fs.DurationVar(&o.drain, "drain", 5*time.Second, "most time to wait for the bystander's last acknowledgements")
		fs.DurationVar(&o.settle, "settle", 2*time.Second, "wait after closing the hoarders before the last RSS reading")
		fs.IntVar(&o.maxRSSRise, "max-rss-rise", 1024, "stop hoarding early once the server's RSS has grown this many MiB (0: never), so an undefended server does not take the machine")
		fs.IntVar(&o.pid, "pid", 0, "the server's process id (required): its RSS is what hoard measures")
		fs.Float64Var(&o.maxLossPct, "max-loss", 0, "percent of the bystander's messages never acknowledged tolerated before exiting 1")
	case "slowbody":
		o.from, o.probeFrom = mustAddrRange("127.0.0.1"), mustAddrRange("127.0.0.2")
		fs.IntVar(&o.sockets, "n", 19_000, "slow-body connections to try (capped by this process's open-file limit)")
		fs.Var(&o.from, "from", "the attacker's source address")
		fs.Var(&o.probeFrom, "probe-from", "the bystander's source address")
		fs.StringVar(&o.attackPath, "path", "/token", "where the slow bodies are posted")
		fs.IntVar(&o.declared, "content-length", 60_000, "the Content-Length declared (under the server's 64 KiB body limit)")
		fs.IntVar(&o.bodyBytes, "body-bytes", 10, "the body bytes actually sent")
		fs.DurationVar(&o.ramp, "ramp", 30*time.Second, "most time spent opening connections")
		fs.DurationVar(&o.hold, "hold", 10*time.Second, "how long to hold them after opening")
		fs.DurationVar(&o.every, "probe-every", 200*time.Millisecond, "the bystander's GET /healthz and POST /token (as PREFIX0) each this often, each on a new connection")
		fs.IntVar(&o.pid, "pid", 0, "the server's process id, to report its open files")
	case "office":
		o.from, o.guessFrom, o.victimFrom = mustAddrRange("127.0.0.1"), mustAddrRange("127.0.0.10-59"), mustAddrRange("127.0.0.3")
		fs.Var(&o.from, "from", "the office's one address")
		fs.DurationVar(&o.within, "within", time.Minute, "the -users logins are spread evenly over this")
		fs.BoolVar(&o.burst, "burst", false, "log in as fast as -c allows instead of spreading over -within")
		fs.StringVar(&o.via, "via", "token", "token (POST /token) or login (the login form, with its CSRF field, one browser a user)")
		fs.IntVar(&o.guesses, "guesses", 0, "also send this many wrong guesses for -victim over the same time (the issue: 1000)")
		fs.Var(&o.guessFrom, "guess-from", "the guesser's addresses, in turn")
		fs.StringVar(&o.victim, "victim", "", "the guessed user, who logs in from the browser used before (default PREFIX<users>, the first user after the office)")
		fs.Var(&o.victimFrom, "victim-from", "the victim's own address")
	case "signups":
		o.from, o.probeFrom = mustAddrRange("127.0.0.1"), mustAddrRange("127.0.0.2")
		fs.Var(&o.from, "from", "the sign-ups' source addresses, in turn (one, or a range such as 127.0.0.10-59)")
		fs.Var(&o.probeFrom, "probe-from", "the bystander's source address")
		fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to keep -c sign-ups in flight")
		fs.IntVar(&o.maxAttempts, "attempts", 0, "stop after this many sign-ups (0: as many as -duration allows); each one the server takes creates an account")
		fs.DurationVar(&o.every, "probe-every", 200*time.Millisecond, "the bystander's POST /token (as PREFIX0) this often")
		fs.Float64Var(&o.rate, "rate", 0, "sign-up attempts a second at most, over all -c (0: each of the -c starts its next as soon as its last is answered)")
		fs.IntVar(&o.pid, "pid", 0, "the server's process id, to report its CPU use")
	}
	if err := fs.Parse(rest); err != nil {
		return nil, err
	}
	if o.mode == "reconnect" {
		var err error
		if o.serverCmd, err = serverArgv(fs.Args()); err != nil {
			return nil, err
		}
	} else if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.mode == "signups" && !set["c"] {
		o.concurrency = 128 // the 128 parallel sign-ups
	}
	if o.mode == "office" && !set["users"] {
		o.users = 200
	}

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

// boolFlags are the flags that take no value, so a mode name after one is
// the mode, not its value.
var boolFlags = map[string]bool{"create-users": true, "spread": true, "json": true, "burst": true, "h": true, "help": true}

// splitMode finds the mode among args, so flags may come before or after it
// ("chatload -url U hoard -n 5"): it is the first argument that is neither a
// flag nor a flag's value. It returns the mode ("" if none) and the rest.
func splitMode(args []string) (string, []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") {
			return a, append(slices.Clone(args[:i]), args[i+1:]...)
		}
		name := strings.TrimLeft(a, "-")
		if !strings.Contains(name, "=") && !boolFlags[name] {
			i++ // its value
		}
	}
	return "", args
}

// socketCount is how many sockets the run opens.
func (o *options) socketCount() int {
	switch o.mode {
	case "hold":
		return o.sockets
	case "fanout":
		return o.rooms * (o.receivers + o.senders)
	case "hoard":
		return o.sockets + 2 // the hoarders, the bystander and the filler
	case "reconnect":
		return o.sockets + o.rooms // and a sender in each room
	}
	return 0 // slowbody caps itself at the open-file limit
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
		checks = append(checks, inRange("n", o.sockets, 1, maxSockets), dur("hold", o.hold, 0), inRange("rss-at", o.rssAt, 0, o.sockets-1))
		if o.rssAt > 0 && o.pid == 0 {
			checks = append(checks, errors.New("-rss-at needs -pid"))
		}
	case "reconnect":
		checks = append(checks,
			inRange("n", o.sockets, 1, maxSockets),
			inRange("rooms", o.rooms, 1, maxRooms),
			dur("duration", o.duration, time.Millisecond),
			dur("drain", o.drain, time.Millisecond),
			dur("resume-wait", o.resumeWait, time.Second),
			dur("backoff", o.backoff, time.Millisecond),
			dur("backoff-cap", o.backoffCap, o.backoff),
			inRange("restarts", o.restarts, 1, 10),
			checkRoom(o.roomName(o.rooms-1)),
		)
		if o.rate <= 0 || o.rate > 1000 {
			checks = append(checks, errors.New("-rate must be in (0, 1000]: each room's sender waits for each message to come back"))
		}
		if o.target == targetSeed {
			checks = append(checks, errors.New("reconnect: the seed cannot resume (no since); securechat only"))
		}
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
	case "hoard", "slowbody", "office", "signups":
		checks = append(checks, o.validateAttack())
	}
	if err := errors.Join(checks...); err != nil {
		return err
	}
	if o.users == 0 {
		o.users = max(1, (o.socketCount()+o.perUser-1)/o.perUser)
		switch o.mode {
		case "storm":
			o.users = 10
		case "hoard":
			o.users = 3 // PREFIX0 hoards, PREFIX1 is the bystander, PREFIX2 fills the room
		case "slowbody", "signups":
			o.users = 1 // PREFIX0 is the bystander who logs in
		}
	}
	if o.mode == "office" && o.victim == "" {
		o.victim = o.userName(o.users)
	}
	return nil
}

// validateAttack checks the flags of the attack modes.
func (o *options) validateAttack() error {
	dur := func(name string, d time.Duration, min time.Duration) error {
		if d < min || d > maxDuration {
			return fmt.Errorf("-%s %v: must be %v to %v", name, d, min, maxDuration)
		}
		return nil
	}
	var checks []error
	if o.target == targetSeed {
		checks = append(checks, fmt.Errorf("%s: the seed has none of the limits this measures; securechat only", o.mode))
	}
	switch o.mode {
	case "hoard":
		checks = append(checks,
			checkRoom(o.room),
			dur("every", o.every, time.Millisecond),
			dur("send-every", o.sendEvery, time.Millisecond),
			dur("duration", o.duration, time.Millisecond),
			dur("drain", o.drain, 0),
		)
		if o.sockets < 1 || o.sockets > maxSockets || o.fill < 0 || o.fill > maxFill || o.limit < 1 || o.limit > maxFill || o.size < 1 || o.size > maxTextBytes {
			checks = append(checks, fmt.Errorf("-n 1 to %d, -fill 0 to %d, -limit 1 to %d, -size 1 to %d", maxSockets, maxFill, maxFill, maxTextBytes))
		}
		if o.room == "general" {
			checks = append(checks, errors.New("-room general: the bystander sends there; pick another room"))
		}
		if o.pid == 0 || o.maxRSSRise < 0 {
			checks = append(checks, errors.New("hoard needs -pid (the server's RSS is what it measures, and -max-rss-rise stops a run that would take the machine)"))
		}
		if o.users != 0 && o.users < 3 {
			checks = append(checks, errors.New("hoard needs -users 3 or more (hoarder, bystander, filler)"))
		}
	case "slowbody":
		checks = append(checks, dur("ramp", o.ramp, time.Millisecond), dur("hold", o.hold, 0), dur("probe-every", o.every, time.Millisecond))
		if o.sockets < 1 || o.sockets > maxSockets {
			checks = append(checks, fmt.Errorf("-n %d: 1 to %d", o.sockets, maxSockets))
		}
		if o.bodyBytes < 0 || o.declared <= o.bodyBytes || o.declared > 1<<30 {
			checks = append(checks, errors.New("-content-length must be more than -body-bytes: the body must stay unfinished"))
		}
		if !strings.HasPrefix(o.attackPath, "/") {
			checks = append(checks, fmt.Errorf("-path %q: a path such as /token", o.attackPath))
		}
		if o.from.overlaps(o.probeFrom) {
			checks = append(checks, errors.New("-from and -probe-from must differ: the bystander is another address"))
		}
	case "office":
		checks = append(checks, dur("within", o.within, time.Millisecond))
		if o.via != "token" && o.via != "login" {
			checks = append(checks, fmt.Errorf("-via %q: token or login", o.via))
		}
		if o.guesses < 0 || o.guesses > 1_000_000 {
			checks = append(checks, fmt.Errorf("-guesses %d: 0 to 1000000", o.guesses))
		}
		if o.guesses > 0 && (o.guessFrom.overlaps(o.from) || o.guessFrom.overlaps(o.victimFrom) || o.victimFrom.overlaps(o.from)) {
			checks = append(checks, errors.New("-from, -guess-from and -victim-from must not share addresses"))
		}
	case "signups":
		checks = append(checks, dur("duration", o.duration, time.Millisecond), dur("probe-every", o.every, time.Millisecond))
		if o.maxAttempts < 0 || o.rate < 0 || o.rate > maxRate {
			checks = append(checks, fmt.Errorf("-attempts must not be negative, -rate 0 to %d", maxRate))
		}
		if o.from.overlaps(o.probeFrom) {
			checks = append(checks, errors.New("-from and -probe-from must differ: the bystander is another address"))
		}
	}
	return errors.Join(checks...)
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

package chat

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"securechat/app/audit"
	"securechat/app/metrics"
	"securechat/app/store"
	"securechat/app/throttle"
)

// Timing and sizing of the real-time path.
const (
	// writeWait bounds one write (a batch of frames or a control frame).
	writeWait = 10 * time.Second
	// pongWait is how long a socket may stay silent before it is considered dead.
	pongWait = 60 * time.Second
	// pingPeriod must be below pongWait so a live peer always answers in time.
	pingPeriod = pongWait * 9 / 10
	// closeGrace is how long a closing socket waits for the peer's close reply.
	closeGrace = time.Second
	// strikeWindow and maxStrikes define sustained abuse: more than maxStrikes
	// rate-limited frames within strikeWindow close the socket with 1008.
	strikeWindow = 10 * time.Second
	maxStrikes   = 10
	// maxBatchBytes caps one merged server frame.
	maxBatchBytes = 256 << 10
	// maxPageBytes caps the encoded messages of one history answer, of a
	// join's recent history and of one replay batch: 200 messages of 4,000
	// characters would otherwise be one frame of megabytes. A page is also
	// at most a quarter of a socket's byte bound (see pageBytes).
	maxPageBytes = 256 << 10
	// persistBatch is the most messages written in one transaction. A batch is
	// delivered at once, so it is also kept to half a send queue (see batchSize):
	// one busy moment must not look like a socket falling behind.
	persistBatch = 512
	// presenceDelay coalesces presence frames: a crowd joining at once costs one
	// frame per member, not one per join. It grows with the room (one more
	// presenceDelay per presencePerDelay members, at most maxPresenceDelay),
	// because each frame carries the whole list to every member, so a flush
	// costs the square of the room's size: in a room of 10,000 that is a
	// megabyte per member per frame, so such a room hears of joins and leaves
	// every 15 s. A room of 180 hears of them within a second: when its 180
	// members all reconnect after a restart, as many frames as in one of 20.
	// A joiner always gets the list at once.
	presenceDelay    = 100 * time.Millisecond
	presencePerDelay = 20
	maxPresenceDelay = 15 * time.Second
	// presenceHeartbeat is how often a node repeats its users in each room to
	// the other nodes; presenceExpiry is when a silent node's users are dropped.
	presenceHeartbeat = 2 * time.Second
	presenceExpiry    = 3 * presenceHeartbeat
	// DefaultRoom is the room every socket joins on connect.
	DefaultRoom = "general"
)

// Store is what the hub needs from storage.
type Store interface {
	AppendMessages(ctx context.Context, msgs []store.NewMessage) ([]store.Message, error)
	MessagesBefore(ctx context.Context, room string, before int64, limit int) ([]store.Message, error)
	MessagesAfter(ctx context.Context, room string, after int64, limit int) ([]store.Message, error)
	// TouchRoom records a room that was joined; created reports it is new.
	TouchRoom(ctx context.Context, name string, now time.Time) (created bool, err error)
	RoomExists(ctx context.Context, name string) (bool, error)
	Rooms(ctx context.Context, q store.RoomQuery) ([]store.Room, error)
	// PruneEmptyRooms deletes rooms without messages created before before.
	PruneEmptyRooms(ctx context.Context, before time.Time) (int64, error)
	// RoomHead is the id and seq of a room's newest message (zeros if none).
	RoomHead(ctx context.Context, room string) (lastID, lastSeq int64, err error)
	// JoinRoom, LeaveRoom, MarkRead and Memberships keep the rooms a user
	// belongs to and how far they have read each (unread.go).
	JoinRoom(ctx context.Context, userID int64, room string, readID int64, now time.Time) error
	LeaveRoom(ctx context.Context, userID int64, room string) error
	MarkRead(ctx context.Context, userID int64, room string, id int64, now time.Time) (readID int64, moved bool, err error)
	Memberships(ctx context.Context, userID int64, maxUnread, limit int) ([]store.Membership, error)

	// Private rooms, dms and message changes (access.go, changes.go).
	// CreateRoom records a new room of kind with owner as its owner and first
	// member (owner 0 for a public room); store.ErrExists if the name is taken.
	CreateRoom(ctx context.Context, name, kind string, ownerID int64, now time.Time) error
	// RoomAccess is the room's kind and the user's role in it; store.ErrNotFound if no such room.
	RoomAccess(ctx context.Context, room string, userID int64) (store.Access, error)
	// SetRoomRetention sets how many days a room keeps its messages (0: the server's retention).
	SetRoomRetention(ctx context.Context, room string, days int) error
	// AddMember makes the user a member of a private room; added is false if already one.
	AddMember(ctx context.Context, room string, userID int64, role string, now time.Time) (added bool, err error)
	// RemoveMember takes the user out of the room's members and out of their
	// rooms (memberships); removed is false if they were not a member.
	RemoveMember(ctx context.Context, room string, userID int64) (removed bool, err error)
	// RoomMembers lists a private room's or dm's members, owner first, then by name.
	RoomMembers(ctx context.Context, room string, limit int) ([]store.RoomMember, error)
	// OpenDM returns the dm of exactly these users (sorted, distinct), creating it if need be.
	OpenDM(ctx context.Context, userIDs []int64, now time.Time) (room string, created bool, err error)
	// Message is one message row of a room; store.ErrNotFound if none (or a change row).
	Message(ctx context.Context, room string, id int64) (store.Message, error)
	// Scrub makes deleted text unrecoverable from the store's files.
	Scrub(ctx context.Context) error
	// UserByName finds an account (invites, dms, and the admin role at the
	// moment of an action); store.ErrNotFound if there is none.
	UserByName(ctx context.Context, name string) (store.User, error)
	// SearchMessages finds messages of the rooms the user may read now (search.go).
	SearchMessages(ctx context.Context, q store.SearchQuery) ([]store.Message, error)
	// MessagesAround is up to limit message rows of a room around id, oldest first.
	MessagesAround(ctx context.Context, room string, id int64, limit int) ([]store.Message, error)
}

// Broker carries stored messages and presence between the nodes that share a
// store. A single node has none.
type Broker interface {
	// PublishMessage tells the other nodes about a message this node stored.
	PublishMessage(m store.Message) error
	// PublishPresence tells the other nodes which users this node has in a room.
	PublishPresence(room string, users []string) error
	// PublishTyping tells the other nodes that a user is typing in a room.
	PublishTyping(room string, userID int64, user string) error
	// SubscribeRoom calls onMessage, onPresence and onTyping with other
	// nodes' messages, user lists and typing users for a room until
	// unsubscribe is called.
	SubscribeRoom(room string, onMessage func(store.Message), onPresence func(node string, users []string),
		onTyping func(userID int64, user string)) (unsubscribe func(), err error)
	// PublishUserEvent tells the other nodes about an event for one user's
	// sockets (an invitation, a removal, a read position, a mention).
	PublishUserEvent(e UserEvent) error
	// SubscribeUserEvents calls fn with the other nodes' user events until
	// unsubscribe is called. A hub subscribes once.
	SubscribeUserEvents(fn func(UserEvent)) (unsubscribe func(), err error)
}

// UserEvent is something that happened to a user that each node applies to
// the user's sockets it has: Frame is queued to them, and for a removal they
// are first taken out of Room.
type UserEvent struct {
	UserID int64
	Room   string
	Kind   string // UserInvited, UserRemoved, UserRead or UserMention
	Frame  []byte
}

// The kinds of user event.
const (
	UserInvited = "invited"
	UserRemoved = "removed"
	UserRead    = "read"
	UserMention = "mention"
)

// Peer is who is on the other end of a socket, as the gate established it.
type Peer struct {
	UserID    int64 // the account: messages are stored with it, a name is not an identity
	User      string
	SessionID string
	ExpiresAt time.Time
	Remote    string // the client's address for the log (behind a trusted proxy, the one it was given); empty: the connection's
	// Kicks is Hub.Kicks as read before the gate checked the session. If
	// no session was kicked since, a revocation after the check will find
	// the socket registered (KickSession), and Serve does not ask the store
	// again; zero: unknown, ask (recheckSession).
	Kicks uint64
}

// Sessions checks credentials for sockets that are already open.
type Sessions interface {
	// Refresh returns the peer a newer token speaks for, or an error if it does not authenticate.
	Refresh(ctx context.Context, token string) (Peer, error)
	// Expiry returns when a live session ends, or an error if it has ended.
	// A socket whose token expires asks it: the session may have been
	// renewed meanwhile (on any node).
	Expiry(ctx context.Context, sessionID string) (time.Time, error)
}

// Limits bound what one client can cost the others.
type Limits struct {
	ReadLimit         int64          // bytes in one client frame; past it the socket closes with 1009
	MaxText           int            // characters in one message
	MaxSearchQuery    int            // characters in one search query; zero: MaxText
	SendQueue         int            // frames waiting for one socket; past it the socket has fallen behind (1013)
	SendQueueBytes    int            // bytes queued or being written for one socket; past it, 1013 too
	MessageRate       throttle.Limit // messages per user, across their sockets
	RequestRate       throttle.Limit // other frames (join, history, rooms…, garbage) per user, across their sockets
	MaxSocketsPerUser int
	RoomCreateRate    throttle.Limit // rooms a user may create (join first), across their sockets; zero: no limit
	EmptyRoomTTL      time.Duration  // a room that never had a message leaves the list this long after its creation; zero: never
}

// Errors of Serve and Admit.
var (
	ErrClosed         = errors.New("chat hub is shut down")
	ErrTooManySockets = errors.New("too many open sockets for this user")
)

// Hub owns the clients and rooms.
type Hub struct {
	store    Store
	sessions Sessions
	broker   Broker // nil on a single node
	metrics  *metrics.Metrics
	audit    *audit.Recorder // invitations, removals, moderators' deletes; nil records nothing
	limits   Limits
	rates    *throttle.Keyed // message rate per user
	requests *throttle.Keyed // other frames per user: each costs a store read or an answer
	creates  *throttle.Keyed // room creations per user
	now      func() time.Time
	timers   func(time.Duration, func()) Timer // Deps.AfterFunc
	poller   Poller                            // Deps.Poller; nil: readers block
	log      *slog.Logger

	mu        sync.Mutex
	closed    bool
	rooms     map[string]*room
	clients   map[*Client]struct{}
	bySession map[string]map[*Client]struct{}
	byUser    map[int64]map[*Client]struct{} // a user's sockets, for the echo of a read
	perUser   map[string]int                 // admitted sockets per user

	batchSize int // persistBatch, or half the send queue if that is smaller
	pageBytes int // maxPageBytes, or a quarter of a socket's byte bound if that is smaller
	sends     chan sendRequest
	scrubs    chan struct{}      // a scrub is wanted (changes.go)
	announces chan store.Message // first messages of public rooms, for announceLoop
	stop      chan struct{}
	persisted chan struct{} // closed when the persist loop has written everything it took
	wg        sync.WaitGroup

	unsubscribeUsers func()        // the bus's user events; nil without a broker
	kicks            atomic.Uint64 // KickSession calls; see Kicks
}

type sendRequest struct {
	from *Client
	msg  store.NewMessage
	ref  string // the client's name for the send, echoed to it
}

// Deps are what a hub is built from.
type Deps struct {
	Store    Store
	Sessions Sessions
	Broker   Broker           // nil on a single node
	Metrics  *metrics.Metrics // nil records nothing
	Audit    *audit.Recorder  // nil records nothing
	Now      func() time.Time
	Log      *slog.Logger

	// AfterFunc starts a socket's expiry timer; nil: time.AfterFunc. A test of
	// the whole server gives one that follows the same fake clock as Now, so
	// a socket's life passes without the test waiting for it.
	AfterFunc func(d time.Duration, f func()) Timer

	// Poller tells when an idle socket has bytes to read (app/readiness), so
	// no goroutine waits on it meanwhile; nil: each socket's reader blocks on
	// a goroutine of its own.
	Poller Poller
}

// Poller is what the hub needs of app/readiness: ready is called once, and
// must return at once, when conn has bytes to read or has failed; cancel
// takes the wait back and reports whether ready will now not be called.
type Poller interface {
	Wait(conn syscall.Conn, ready func()) (cancel func() bool, err error)
}

// Timer is a socket's expiry timer, as time.AfterFunc returns it.
type Timer interface {
	Stop() bool
	Reset(d time.Duration) bool
}

// afterFunc starts an expiry timer on the hub's clock.
func (h *Hub) afterFunc(d time.Duration, f func()) Timer {
	if h.timers != nil {
		return h.timers(d, f)
	}
	return time.AfterFunc(d, f)
}

// NewHub returns a running hub. Call Shutdown to stop it.
func NewHub(d Deps, lim Limits) *Hub {
	s, b, now := d.Store, d.Broker, d.Now
	h := &Hub{
		store:     s,
		sessions:  d.Sessions,
		broker:    b,
		metrics:   d.Metrics,
		audit:     d.Audit,
		limits:    lim,
		rates:     throttle.NewKeyed(lim.MessageRate, now),
		requests:  throttle.NewKeyed(lim.RequestRate, now),
		creates:   throttle.NewKeyed(lim.RoomCreateRate, now),
		perUser:   make(map[string]int),
		batchSize: min(persistBatch, max(1, lim.SendQueue/2)),
		pageBytes: min(maxPageBytes, max(1, lim.SendQueueBytes/4)),
		now:       now,
		timers:    d.AfterFunc,
		poller:    d.Poller,
		log:       d.Log,
		rooms:     make(map[string]*room),
		clients:   make(map[*Client]struct{}),
		bySession: make(map[string]map[*Client]struct{}),
		byUser:    make(map[int64]map[*Client]struct{}),
		sends:     make(chan sendRequest, 4*persistBatch),
		scrubs:    make(chan struct{}, 1),
		announces: make(chan store.Message, maxPendingAnnounces),
		stop:      make(chan struct{}),
		persisted: make(chan struct{}),
	}
	go h.persistLoop()
	h.wg.Add(3)
	go h.pingLoop()
	go h.scrubLoop()
	go h.announceLoop()
	if lim.EmptyRoomTTL > 0 {
		h.wg.Add(1)
		go h.pruneLoop()
	}
	if b != nil {
		h.wg.Add(1)
		go h.presenceLoop()
		unsub, err := b.SubscribeUserEvents(h.onUserEvent)
		if err != nil {
			// Removals, invitations and read echoes from other nodes are
			// lost; their stores still refuse what a removal forbids.
			h.log.Error("subscribe to user events", "err", err)
		}
		h.unsubscribeUsers = unsub
	}
	return h
}

// Serve takes over a socket right after the upgrade: it registers it, sends
// the welcome, joins it to the default room, and starts its read loop; it
// returns without waiting for the socket to end. done runs when it has.
//
// br, if not nil, is the buffered reader gorilla reads the connection
// through: with it the socket waits for its next frame outside gorilla, on a
// shallow stack that the runtime can shrink while the socket is idle.
func (h *Hub) Serve(ctx context.Context, conn *websocket.Conn, br *bufio.Reader, p Peer, done func()) error {
	if p.Remote == "" {
		p.Remote = conn.RemoteAddr().String()
	}
	// The setup below runs on the caller's goroutine, which ends after it
	// (see read): its store calls need no goroutine of their own.
	ctx = shortLived(ctx)
	c := newClient(h, conn, br, p)
	if !h.register(c) {
		c.closeWith(CloseGoingAway)
		c.waitClosed()
		done()
		return ErrClosed
	}
	h.metrics.SocketOpened()
	h.log.Info("connect", "user", p.User, "remote", p.Remote)
	if h.needsRecheck(p) {
		go c.recheckSession()
	}
	c.send(encodeWelcome(p.User))
	c.sendUnread(ctx)
	// The default room is already the user's (sendUnread).
	if err := c.join(ctx, DefaultRoom, nil, false); err != nil {
		h.log.Error("join default room", "user", p.User, "err", err)
	}
	h.read(c, done)
	return nil
}

// read starts the socket's read loop and returns at once. The setup above
// ran on the caller's (the request's) goroutine, whose stack grew doing it
// and goes away with it. With a Poller the socket parks at once (nothing
// has arrived yet) and has no goroutine until its first frame; without one
// its reader runs on a goroutine of its own. done runs when the socket has
// ended.
func (h *Hub) read(c *Client, done func()) {
	c.done = done
	c.startReading()
	if c.park() {
		return
	}
	go h.readOn(c)
}

// readOn runs the read loop until the socket parks (the Poller calls
// Client.wake, which starts readOn again) or ends.
func (h *Hub) readOn(c *Client) {
	ctx := context.Background()
	if _, ok := c.parkable(); ok {
		// This goroutine ends when the socket parks: store calls may grow its stack.
		ctx = shortLived(ctx)
	}
	code, parked := c.readLoop(ctx)
	if parked {
		return
	}
	h.unregister(c)
	h.metrics.SocketClosed(int(code))
	h.log.Info("disconnect", "user", c.peer.User, "remote", c.peer.Remote, "code", code)
	c.done()
	h.wg.Done()
}

func (h *Hub) register(c *Client) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.wg.Add(1) // done when the socket's read loop ends; Shutdown waits for it
	h.clients[c] = struct{}{}
	set := h.bySession[c.peer.SessionID]
	if set == nil {
		set = make(map[*Client]struct{})
		h.bySession[c.peer.SessionID] = set
	}
	set[c] = struct{}{}
	mine := h.byUser[c.peer.UserID]
	if mine == nil {
		mine = make(map[*Client]struct{})
		h.byUser[c.peer.UserID] = mine
	}
	mine[c] = struct{}{}
	return true
}

func (h *Hub) unregister(c *Client) {
	for _, name := range c.roomNames() {
		h.leave(c, name)
	}
	h.mu.Lock()
	delete(h.clients, c)
	if set := h.bySession[c.peer.SessionID]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(h.bySession, c.peer.SessionID)
		}
	}
	if mine := h.byUser[c.peer.UserID]; mine != nil {
		delete(mine, c)
		if len(mine) == 0 {
			delete(h.byUser, c.peer.UserID)
		}
	}
	h.mu.Unlock()
	c.stopTimers()
}

// Admit reserves one of a user's sockets before the upgrade, so the limit is
// answered with an HTTP status rather than a closed socket. release must be
// called once the socket has ended (or the upgrade failed).
func (h *Hub) Admit(user string) (release func(), err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	if h.perUser[user] >= h.limits.MaxSocketsPerUser {
		return nil, ErrTooManySockets
	}
	h.perUser[user]++
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.perUser[user]--; h.perUser[user] <= 0 {
				delete(h.perUser, user)
			}
		})
	}, nil
}

// Kicks counts the sessions kicked so far, plus one (so that a Peer's zero
// means "not read"). A gate reads it before it checks a session and hands
// it to Serve in Peer.Kicks.
func (h *Hub) Kicks() uint64 { return h.kicks.Load() + 1 }

// needsRecheck reports whether a socket just registered must ask the store
// whether its session still exists: a kick since its gate read Kicks may
// have been for its session, before the hub knew the socket. Otherwise a
// revocation after the gate's check kicks it (KickSession runs after the
// registration, or counts before it). In a reconnect storm this saves a
// store read for each of thousands of sockets.
func (h *Hub) needsRecheck(p Peer) bool {
	return p.Kicks == 0 || p.Kicks != h.Kicks()
}

// KickSession closes every socket of a session with 4401. It returns how many
// it closed. A socket that passed the gate but was not yet registered is not
// among them; it closes itself when it rechecks its session (recheckSession).
func (h *Hub) KickSession(sessionID string) int {
	h.kicks.Add(1) // before looking: a socket registered after this compares its Peer.Kicks
	h.mu.Lock()
	var cs []*Client
	for c := range h.bySession[sessionID] {
		cs = append(cs, c)
	}
	h.mu.Unlock()
	for _, c := range cs {
		c.closeWith(CloseAuthEnded)
	}
	return len(cs)
}

// Shutdown stops taking messages, writes what was taken, delivers it, then
// closes every socket with 1001 after its queued frames. It returns when all
// sockets are closed or ctx ends.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	h.mu.Unlock()
	close(h.stop)
	if h.unsubscribeUsers != nil {
		h.unsubscribeUsers()
	}
	select {
	case <-h.persisted:
	case <-ctx.Done():
		return ctx.Err()
	}
	for _, c := range h.allClients() {
		c.closeWith(CloseGoingAway)
	}
	done := make(chan struct{})
	go func() {
		h.wg.Wait() // every Serve has returned, and the ping loop
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// submit hands a message to the persist loop. The sender is acknowledged when
// the stored message comes back to it through its room, with ref.
func (h *Hub) submit(c *Client, room, text, ref string) error {
	names, cut := mentionNames(text)
	if cut {
		h.metrics.MentionsCut()
	}
	return h.submitMessage(c, store.NewMessage{Room: room, UserID: c.peer.UserID, User: c.peer.User, Text: text, TS: h.now(), Mentions: names}, ref)
}

// submitMessage hands a message or a change to the persist loop.
func (h *Hub) submitMessage(c *Client, m store.NewMessage, ref string) error {
	req := sendRequest{from: c, msg: m, ref: ref}
	select {
	case <-h.stop:
		return ErrClosed
	default:
	}
	select {
	case h.sends <- req:
		return nil
	case <-h.stop:
		return ErrClosed
	}
}

// persistLoop is the only writer of messages: it stores what is queued in one
// transaction, then delivers the stored messages in id order, so every member
// sees a room's messages in the order of their ids and only after they are durable.
func (h *Hub) persistLoop() {
	defer close(h.persisted)
	batch := make([]sendRequest, 0, h.batchSize)
	for {
		batch = batch[:0]
		select {
		case r := <-h.sends:
			batch = append(batch, r)
		case <-h.stop:
			// Write what senders already handed over, then stop.
			for {
				select {
				case r := <-h.sends:
					batch = append(batch, r)
					if len(batch) == h.batchSize {
						h.persist(batch)
						batch = batch[:0]
					}
					continue
				default:
				}
				break
			}
			if len(batch) > 0 {
				h.persist(batch)
			}
			return
		}
	fill:
		for len(batch) < h.batchSize {
			select {
			case r := <-h.sends:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		h.persist(batch)
	}
}

func (h *Hub) persist(batch []sendRequest) {
	msgs := make([]store.NewMessage, len(batch))
	for i, r := range batch {
		msgs[i] = r.msg
	}
	// Not the request's context: a stored message must be written even if its
	// sender has gone.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	stored, err := h.store.AppendMessages(ctx, msgs)
	if err != nil {
		h.log.Error("store messages", "count", len(msgs), "err", err)
		for _, r := range batch {
			r.from.send(encodeErrorRef("unavailable", "the message was not stored; send it again", r.ref))
		}
		return
	}
	h.metrics.Stored(len(stored), time.Since(start))
	scrub := false
	for i, m := range stored {
		// AppendMessages returns the messages in the order given: stored[i] is batch[i]'s.
		var own ownCopy
		if len(stored) == len(batch) {
			own = ownCopy{to: batch[i].from, ref: batch[i].ref}
		}
		if m.ID == 0 {
			// A change whose message was gone (deleted meanwhile) when it was written: not stored.
			if own.to != nil {
				own.to.send(encodeErrorRef(codeNotFound, "that message is gone", own.ref))
			}
			continue
		}
		scrub = scrub || m.Kind == store.KindDelete
		r := h.roomFor(m.Room)
		if r != nil {
			r.deliverOwn(m, own)
		}
		if m.Seq == 1 && r != nil && r.public() {
			// Only a public room is announced: a private room's or a dm's
			// name is its members' business (they hear invited).
			h.announceSoon(m)
		}
		if h.broker != nil {
			if err := h.broker.PublishMessage(m); err != nil {
				// The other nodes fill the gap from the store at their room's next message.
				h.log.Warn("publish message", "id", m.ID, "err", err)
			}
		}
		if len(m.Mentioned) > 0 {
			h.mention(m)
		}
	}
	if scrub {
		h.scrubSoon()
	}
}

// announceSoon hands a room's first message to announceLoop. Announcing
// is a frame to every socket of the node: done here, 100 rooms started at
// once by a load of 18,000 sockets held the persist loop (every sender's
// acknowledgement, and Shutdown) for over 10 s. A room list shows the room
// at its next rooms request anyway, so past maxPendingAnnounces waiting
// (room creation is limited per user) an announcement is dropped.
func (h *Hub) announceSoon(m store.Message) {
	select {
	case h.announces <- m:
	default:
		h.log.Warn("room announcement dropped: too many waiting", "room", m.Room)
	}
}

// maxPendingAnnounces bounds the announcements waiting for announceLoop.
const maxPendingAnnounces = 1024

// announceLoop announces started rooms until the hub stops; those still
// waiting then are dropped (every socket is about to close).
func (h *Hub) announceLoop() {
	defer h.wg.Done()
	for {
		select {
		case <-h.stop:
			return
		case m := <-h.announces:
			h.announceRoom(m)
		}
	}
}

// announceRoom tells every socket of this node that a room has its first
// message. Room spam is bounded upstream (--room-create-rate per user), and
// the frame is small; other nodes' pages see the room at their next rooms
// request.
func (h *Hub) announceRoom(m store.Message) {
	frame := encodeRoomStarted(m)
	for _, c := range h.allClients() {
		if !c.echo { // the recipe's echo socket speaks no protocol
			c.send(frame)
		}
	}
}

// pingLoop pings every socket each pingPeriod through its own queue, so the
// write pump stays the only writer, and closes those silent past pongWait.
func (h *Hub) pingLoop() {
	h.every(pingPeriod, func() { h.pingAll(time.Now()) })
}

// pingAll pings every socket, after closing the ones that have sent nothing,
// not even a pong, for pongWait before now. A reader blocked in a read has a
// deadline that ends it; a parked socket has no read to fail, so this is
// what notices a peer that vanished without a FIN, one ping period late at
// most. A live peer answers each ping at once, so it is never this silent.
func (h *Hub) pingAll(now time.Time) {
	for _, c := range h.allClients() {
		if c.silentFor(now) > pongWait {
			c.closeConn()
			continue
		}
		c.ping()
	}
}

// every calls fn each period until the hub stops.
func (h *Hub) every(period time.Duration, fn func()) {
	defer h.wg.Done()
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			fn()
		}
	}
}

// allClients is a snapshot of the registered sockets, to act on outside the lock.
func (h *Hub) allClients() []*Client {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Collect(maps.Keys(h.clients))
}

// presenceLoop sends each room's heartbeat to the other nodes, and catches
// each room up with the store in case the bus lost a message (NATS delivers
// at most once; a restart of NATS or of a node loses what was in flight).
func (h *Hub) presenceLoop() {
	h.every(presenceHeartbeat, func() {
		h.mu.Lock()
		rs := slices.Collect(maps.Values(h.rooms))
		h.mu.Unlock()
		now := h.now()
		for _, r := range rs {
			r.heartbeat(now)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, seq, err := h.store.RoomHead(ctx, r.name)
			cancel()
			if err == nil {
				r.catchUp(seq)
			}
		}
	})
}

// roomFor returns the room, if this node has it in memory.
func (h *Hub) roomFor(name string) *room {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rooms[name]
}

// openRoom returns the room, bringing it into memory with the position of
// its newest stored message (and, with a broker, a subscription to the
// other nodes' traffic for it). A room that does not exist yet is created
// for user, within their room creation limit.
func (h *Hub) openRoom(ctx context.Context, name, user, kind string) (*room, error) {
	if r := h.roomFor(name); r != nil {
		return r, nil
	}
	var recent []store.Message
	var head store.Message // the room's newest row: only its ID and Seq
	err := offload(ctx, func(ctx context.Context) (err error) {
		// The head first, then the messages: edits and deletes are rows of
		// the sequence after the message they change, which MessagesBefore
		// does not return, and the recent messages, read after the head,
		// already show every change up to it. Without the head, the room
		// would take such changes for undelivered, and a resume would wait
		// for a gap fill to see them.
		if head.ID, head.Seq, err = h.store.RoomHead(ctx, name); err != nil {
			return err
		}
		if recent, err = h.store.MessagesBefore(ctx, name, 0, historyOnJoin); err != nil || len(recent) > 0 {
			return err
		}
		// Maybe a new room: record that it exists, for the room list. Only
		// here, when the room comes into memory, not at every join.
		return h.createRoom(ctx, name, user)
	})
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	if r := h.rooms[name]; r != nil {
		h.mu.Unlock()
		return r, nil
	}
	r := newRoom(name, h, recent, kind)
	r.lastID, r.lastSeq = max(r.lastID, head.ID), max(r.lastSeq, head.Seq)
	h.rooms[name] = r
	h.mu.Unlock()
	if h.broker != nil {
		unsub, err := h.broker.SubscribeRoom(name, r.deliver, r.remotePresence, r.remoteTyping)
		if err != nil {
			h.log.Warn("subscribe to room", "room", name, "err", err)
		}
		r.mu.Lock()
		retired := r.retired
		if !retired {
			r.unsubscribe = unsub
		}
		r.mu.Unlock()
		if retired && unsub != nil {
			unsub() // retired while subscribing: release has run without it
		}
	}
	return r, nil
}

// createRoom records a room that has no messages, if it is new within user's
// room creation limit: one user creating thousands of rooms would fill every
// page's room list.
func (h *Hub) createRoom(ctx context.Context, name, user string) error {
	exists, err := h.store.RoomExists(ctx, name)
	if err != nil || exists {
		return err
	}
	// The default room is everyone's, joined on connect: it is not charged
	// (after it was pruned for want of messages, a spammer's first socket
	// would otherwise be refused it).
	if name != DefaultRoom {
		if err := h.chargeCreate(user); err != nil {
			return err
		}
	}
	// Two users creating the same room at once are both counted; the store
	// keeps one room, and created tells the one that made it. A room made
	// private meanwhile stays private (TouchRoom creates only), and the
	// join that created it asks again (Client.join).
	created, err := h.store.TouchRoom(ctx, name, h.now())
	if created {
		h.log.Debug("room created", "room", name, "user", user)
	}
	return err
}

// pruneLoop deletes the rooms that never had a message once they are older
// than the empty-room TTL (the list already leaves them out by then), so a
// spammer's rooms do not stay in the store either.
func (h *Hub) pruneLoop() {
	h.every(pruneInterval(h.limits.EmptyRoomTTL), func() {
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		defer cancel()
		if n, err := h.store.PruneEmptyRooms(ctx, h.now().Add(-h.limits.EmptyRoomTTL)); err != nil {
			h.log.Warn("prune empty rooms", "err", err)
		} else if n > 0 {
			h.log.Info("pruned empty rooms", "count", n)
		}
	})
}

// pruneInterval is how often empty rooms are pruned: often enough that the
// table follows the list, at most every ten minutes.
func pruneInterval(ttl time.Duration) time.Duration {
	return min(max(ttl/2, time.Second), 10*time.Minute)
}

// leave takes c out of room name, and the room out of memory if c was its
// last member. The room is retired under the hub's lock, so no one opens it
// meanwhile; its bus traffic ends after the lock is released.
func (h *Hub) leave(c *Client, name string) {
	r := h.roomFor(name)
	if r == nil || !r.remove(c) {
		return
	}
	h.mu.Lock()
	retired := h.rooms[name] == r && r.retireIfEmpty()
	if retired {
		delete(h.rooms, name)
	}
	h.mu.Unlock()
	if retired {
		r.release()
	}
}

// QueuedBytes is what every socket has queued or is writing, for the
// securechat_send_queue_bytes gauge. It takes each socket's lock in turn, so
// it is read on a scrape, never on the message path.
func (h *Hub) QueuedBytes() int64 {
	var n int64
	for _, c := range h.allClients() {
		n += int64(c.queuedBytes())
	}
	return n
}

func sortedKeys(m map[string]int) []string {
	return slices.Sorted(maps.Keys(m))
}

// ServeEcho runs the recipe's echo socket: "Welcome <user>!" then "You wrote:
// <text>" for each text frame. It is registered like a chat socket, so logout,
// expiry and shutdown close it the same way.
func (h *Hub) ServeEcho(ctx context.Context, conn *websocket.Conn, br *bufio.Reader, p Peer, done func()) error {
	c := newClient(h, conn, br, p)
	c.echo = true
	if !h.register(c) {
		c.closeWith(CloseGoingAway)
		c.waitClosed()
		done()
		return ErrClosed
	}
	h.metrics.SocketOpened()
	if h.needsRecheck(p) {
		go c.recheckSession()
	}
	c.send([]byte("Welcome " + p.User + "!"))
	h.read(c, done)
	return nil
}

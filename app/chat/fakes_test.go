package chat

// Helpers for the hub's black-box tests (hub_synctest_test.go): a store and a
// session checker in memory, and clients that speak the protocol over
// in-memory pipes, so a whole hub runs inside a testing/synctest bubble, where
// time is fake and advances only when every goroutine is blocked. The tests
// reach the hub only through its exported entry points and the frames on the
// wire.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"securechat/app/store"
	"securechat/app/throttle"
)

// unitStore is a Store in memory that numbers each room's messages (Seq) as
// the real stores do. beforeAfter, if set, runs at the start of every
// MessagesAfter (the replay's read), so a test can hold a replay mid-way;
// afterAppend, if set, runs once messages are stored and before the hub has
// them back to deliver.
//
// It keeps rooms (kind and members), users (for UserByName) and dms as the
// real stores do, and applies changes (edit, delete) as rows of the room's
// sequence, so the hub's membership checks and changes run against it.
type unitStore struct {
	noMemberships
	mu          sync.Mutex
	msgs        []store.Message
	seqs        map[string]int64
	beforeAfter func()
	afterAppend func()

	kinds    map[string]string           // room → kind; absent: no such room
	members  map[string]map[int64]string // room → user → role
	users    map[string]store.User
	dms      map[string]string  // sorted ids → room
	retained map[string]int     // room → its retention in days (SetRoomRetention)
	scrubs   int                // Scrub calls that succeeded
	scrubErr error              // what Scrub answers while set
	readable bool               // MarkRead moves every read position (noMemberships refuses them)
	rooms    map[int64][]string // Memberships lists these rooms of a user (noMemberships none)
	// afterAccess, if set, runs after RoomAccess has read its answer and
	// before the hub has it, so a test can land a removal in between.
	afterAccess func(room string, userID int64)
}

func (s *unitStore) Memberships(_ context.Context, userID int64, _, _ int) ([]store.Membership, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	var out []store.Membership
	for _, r := range s.rooms[userID] {
		// As the real stores: a private room or dm the user is not a member of is left out.
		if kind, ok := s.kinds[r]; ok && kind != store.RoomPublic && s.members[r][userID] == "" {
			continue
		}
		out = append(out, store.Membership{Room: r})
	}
	return out, nil
}

func (s *unitStore) MarkRead(ctx context.Context, userID int64, room string, id int64, now time.Time) (int64, bool, error) {
	s.mu.Lock()
	readable := s.readable
	s.mu.Unlock()
	if readable {
		return id, true, nil
	}
	return s.noMemberships.MarkRead(ctx, userID, room, id, now)
}

// addUser records an account (UserByName finds it).
func (s *unitStore) addUser(u store.User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users == nil {
		s.users = make(map[string]store.User)
	}
	if u.Role == "" {
		u.Role = store.RoleMember
	}
	s.users[u.Name] = u
}

// setRole changes an account's role.
func (s *unitStore) setRole(name, role string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[name]
	u.Role = role
	s.users[name] = u
}

func (s *unitStore) initLocked() {
	if s.kinds == nil {
		s.kinds = make(map[string]string)
		s.members = make(map[string]map[int64]string)
		s.dms = make(map[string]string)
		s.seqs = make(map[string]int64)
	}
}

func (s *unitStore) CreateRoom(_ context.Context, name, kind string, owner int64, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	if _, ok := s.kinds[name]; ok {
		return store.ErrExists
	}
	s.kinds[name] = kind
	if kind != store.RoomPublic {
		s.members[name] = map[int64]string{owner: store.MemberOwner}
	}
	return nil
}

func (s *unitStore) SetRoomRetention(_ context.Context, room string, days int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	if _, ok := s.kinds[room]; !ok {
		return store.ErrNotFound
	}
	if s.retained == nil {
		s.retained = make(map[string]int)
	}
	s.retained[room] = days
	return nil
}

func (s *unitStore) RoomAccess(_ context.Context, room string, userID int64) (store.Access, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	kind, ok := s.kinds[room]
	if !ok {
		return store.Access{}, store.ErrNotFound
	}
	a := store.Access{Kind: kind, Role: s.members[room][userID]}
	if hook := s.afterAccess; hook != nil {
		s.mu.Unlock()
		hook(room, userID)
		s.mu.Lock()
	}
	return a, nil
}

func (s *unitStore) AddMember(_ context.Context, room string, userID int64, role string, _ time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	if s.kinds[room] != store.RoomPrivate {
		return false, store.ErrNotFound
	}
	if _, ok := s.members[room][userID]; ok {
		return false, nil
	}
	s.members[room][userID] = role
	return true, nil
}

func (s *unitStore) RemoveMember(_ context.Context, room string, userID int64) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	if _, ok := s.members[room][userID]; !ok {
		return false, nil
	}
	delete(s.members[room], userID)
	return true, nil
}

func (s *unitStore) RoomMembers(_ context.Context, room string, limit int) ([]store.RoomMember, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	var out []store.RoomMember
	for _, u := range s.users {
		if role, ok := s.members[room][u.ID]; ok {
			out = append(out, store.RoomMember{UserID: u.ID, Name: u.Name, Role: role})
		}
	}
	slices.SortFunc(out, func(a, b store.RoomMember) int {
		if (a.Role == store.MemberOwner) != (b.Role == store.MemberOwner) {
			if a.Role == store.MemberOwner {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out[:min(len(out), limit)], nil
}

func (s *unitStore) OpenDM(_ context.Context, ids []int64, _ time.Time) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	key := fmt.Sprint(ids)
	if room, ok := s.dms[key]; ok {
		return room, false, nil
	}
	room := fmt.Sprintf("%s%016x", store.DMPrefix, len(s.dms)+1)
	s.dms[key] = room
	s.kinds[room] = store.RoomDM
	s.members[room] = make(map[int64]string)
	for _, id := range ids {
		s.members[room][id] = store.MemberMember
	}
	return room, true, nil
}

func (s *unitStore) Message(_ context.Context, room string, id int64) (store.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id >= 1 && id <= int64(len(s.msgs)) {
		if m := s.msgs[id-1]; m.Room == room && m.Kind == store.KindMessage {
			return m, nil
		}
	}
	return store.Message{}, store.ErrNotFound
}

func (s *unitStore) Scrub(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.scrubErr != nil {
		return s.scrubErr
	}
	s.scrubs++
	return nil
}

func (s *unitStore) scrubCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.scrubs
}

func (s *unitStore) UserByName(_ context.Context, name string) (store.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[name]; ok {
		return u, nil
	}
	return store.User{}, store.ErrNotFound
}

func (s *unitStore) AppendMessages(_ context.Context, in []store.NewMessage) ([]store.Message, error) {
	if s.afterAppend != nil {
		defer s.afterAppend()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	out := make([]store.Message, 0, len(in))
	for _, m := range in {
		if _, ok := s.kinds[m.Room]; !ok {
			s.kinds[m.Room] = store.RoomPublic
		}
		if m.Kind != store.KindMessage {
			// A change: applied to its target in the same step, or not stored (ID 0).
			t := m.Target
			if t < 1 || t > int64(len(s.msgs)) {
				out = append(out, store.Message{})
				continue
			}
			tm := &s.msgs[t-1]
			if tm.Room != m.Room || tm.Kind != store.KindMessage || tm.Deleted || m.Kind == store.KindEdit && tm.UserID != m.UserID {
				out = append(out, store.Message{})
				continue
			}
			if m.Kind == store.KindEdit {
				tm.Text, tm.EditedAt = m.Text, m.TS
			} else {
				tm.Text, tm.User, tm.UserID, tm.Deleted = "", "", 0, true
				for i := range s.msgs {
					if s.msgs[i].Kind == store.KindEdit && s.msgs[i].Target == t {
						s.msgs[i].Text = ""
					}
				}
			}
		}
		s.seqs[m.Room]++
		sm := store.Message{ID: int64(len(s.msgs) + 1), Seq: s.seqs[m.Room], Room: m.Room, UserID: m.UserID, User: m.User, Text: m.Text, TS: m.TS,
			Kind: m.Kind, Target: m.Target}
		s.msgs = append(s.msgs, sm)
		if m.Kind == store.KindMessage {
			// As the real stores: a mention of each account but the author's
			// that may read the room and is a member of it.
			for _, name := range m.Mentions {
				u, ok := s.users[name]
				if !ok || u.ID == m.UserID {
					continue
				}
				if s.kinds[m.Room] == store.RoomPublic && slices.Contains(s.rooms[u.ID], m.Room) || s.members[m.Room][u.ID] != "" {
					sm.Mentioned = append(sm.Mentioned, u.ID)
				}
			}
		}
		out = append(out, sm)
	}
	return out, nil
}

func (s *unitStore) MessagesBefore(_ context.Context, room string, before int64, limit int) ([]store.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Message
	for i := len(s.msgs) - 1; i >= 0 && len(out) < limit; i-- {
		if m := s.msgs[i]; m.Room == room && m.Kind == store.KindMessage && (before == 0 || m.ID < before) {
			out = append(out, m)
		}
	}
	slices.Reverse(out)
	return out, nil
}

func (s *unitStore) MessagesAfter(_ context.Context, room string, after int64, limit int) ([]store.Message, error) {
	if s.beforeAfter != nil {
		s.beforeAfter()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Message
	for _, m := range s.msgs {
		if m.Room == room && m.ID > after && len(out) < limit {
			out = append(out, m)
		}
	}
	return out, nil
}

func (s *unitStore) TouchRoom(_ context.Context, name string, _ time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	if _, ok := s.kinds[name]; ok {
		return false, nil
	}
	s.kinds[name] = store.RoomPublic
	return true, nil
}

func (s *unitStore) RoomExists(_ context.Context, name string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.kinds[name]
	return ok, nil
}

// Rooms lists, by name, the public rooms and the user's private rooms and dms.
func (s *unitStore) Rooms(_ context.Context, q store.RoomQuery) ([]store.Room, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Room
	for _, name := range slices.Sorted(maps.Keys(s.kinds)) {
		kind := s.kinds[name]
		if _, member := s.members[name][q.UserID]; kind == store.RoomPublic || member {
			out = append(out, store.Room{Name: name, Kind: kind})
		}
	}
	return out, nil
}
func (s *unitStore) PruneEmptyRooms(context.Context, time.Time) (int64, error) { return 0, nil }
func (s *unitStore) RoomHead(_ context.Context, room string) (int64, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.msgs) - 1; i >= 0; i-- {
		if s.msgs[i].Room == room {
			return s.msgs[i].ID, s.msgs[i].Seq, nil
		}
	}
	return 0, 0, nil
}

// unitSessions answers for sessions from two tables the test fills: when each
// session ends (Expiry), and which peer each refresh token speaks for
// (Refresh). They are independent on purpose: a test of refresh can show that
// the refresh alone moved a socket's expiry, with Expiry still saying the
// session ended at the old time.
type unitSessions struct {
	mu     sync.Mutex
	ends   map[string]time.Time // session → when it ends; absent: ended
	tokens map[string]Peer
}

func newUnitSessions() *unitSessions {
	return &unitSessions{ends: make(map[string]time.Time), tokens: make(map[string]Peer)}
}

func (s *unitSessions) setEnd(session string, end time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ends[session] = end
}

func (s *unitSessions) setToken(token string, p Peer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = p
}

func (s *unitSessions) Expiry(_ context.Context, session string) (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if end, ok := s.ends[session]; ok && end.After(time.Now()) {
		return end, nil
	}
	return time.Time{}, errors.New("session ended")
}

func (s *unitSessions) Refresh(_ context.Context, token string) (Peer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.tokens[token]; ok {
		return p, nil
	}
	return Peer{}, errors.New("invalid token")
}

// unitLimits are generous limits; a test narrows the one it is about.
func unitLimits() Limits {
	return Limits{
		ReadLimit:         1 << 16,
		MaxText:           4000,
		SendQueue:         1024,
		SendQueueBytes:    4 << 20,
		MessageRate:       throttle.Limit{Rate: 10000, Burst: 10000},
		RequestRate:       throttle.Limit{Rate: 10000, Burst: 10000},
		MaxSocketsPerUser: 1000,
	}
}

// unitHub is a hub over a unitStore and unitSessions, built inside a bubble
// (its clock is time.Now, which is the bubble's fake clock). It is shut down
// when the test ends, so the bubble's goroutines all end.
type unitHub struct {
	*Hub
	store    *unitStore
	sessions *unitSessions
	ids      map[string]int64 // user → account id, handed out on first connect
	poller   Poller           // set: sockets are loopback TCP and park (park_test.go); nil: pipes
}

func newUnitHub(t *testing.T, lim Limits) *unitHub {
	t.Helper()
	return startUnitHub(t, lim, &unitHub{store: &unitStore{}, sessions: newUnitSessions(), ids: make(map[string]int64)}, nil)
}

// newUnitCluster is n hubs (nodes) over one store, one session table and one
// in-memory bus, as nodes share a database and NATS.
func newUnitCluster(t *testing.T, n int, lim Limits) []*unitHub {
	t.Helper()
	bus := newUnitBus(t)
	first := &unitHub{store: &unitStore{}, sessions: newUnitSessions(), ids: make(map[string]int64)}
	hubs := make([]*unitHub, n)
	for i := range hubs {
		u := &unitHub{store: first.store, sessions: first.sessions, ids: first.ids}
		hubs[i] = startUnitHub(t, lim, u, bus.node(fmt.Sprintf("node%d", i)))
	}
	return hubs
}

func startUnitHub(t *testing.T, lim Limits, u *unitHub, b Broker) *unitHub {
	t.Helper()
	u.Hub = NewHub(Deps{Store: u.store, Sessions: u.sessions, Broker: b, Now: time.Now, Poller: u.poller,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, lim)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := u.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return u
}

// userID is the account id of user, made (and recorded in the store) on first use.
func (u *unitHub) userID(user string) int64 {
	if u.ids[user] == 0 {
		u.ids[user] = int64(len(u.ids) + 1)
		u.store.addUser(store.User{ID: u.ids[user], Name: user})
	}
	return u.ids[user]
}

// pipeReadBuffer is the server's read buffer in these tests, the size the web
// layer gives gorilla (see app/web hijackCapture).
const pipeReadBuffer = 512

// connect opens a socket for user (session "s-"+user, ending in an hour
// unless the test set it) over an in-memory pipe, with a real WebSocket
// handshake, and serves it with Serve. The client reads every frame.
func (u *unitHub) connect(t *testing.T, user string) *unitClient {
	t.Helper()
	return u.connectPeer(t, Peer{User: user, SessionID: "s-" + user, ExpiresAt: time.Now().Add(time.Hour)}, true)
}

// connectPeer opens a socket for p. The session ends at p.ExpiresAt unless
// the test said otherwise. With read false the client reads nothing until
// it calls startReading (a peer that does not read).
func (u *unitHub) connectPeer(t *testing.T, p Peer, read bool) *unitClient {
	t.Helper()
	if p.UserID == 0 {
		p.UserID = u.userID(p.User)
	}
	u.sessions.mu.Lock()
	if _, ok := u.sessions.ends[p.SessionID]; !ok {
		u.sessions.ends[p.SessionID] = p.ExpiresAt
	}
	u.sessions.mu.Unlock()

	server, client := u.pipe(t)
	c := &unitClient{t: t, ended: make(chan struct{}), done: make(chan struct{}), readDone: make(chan struct{})}
	served := make(chan error, 1)
	go func() {
		br := bufio.NewReaderSize(server, pipeReadBuffer)
		req, err := http.ReadRequest(br)
		if err != nil {
			served <- err
			return
		}
		w := &pipeHijacker{ResponseRecorder: httptest.NewRecorder(), conn: server, br: br}
		conn, err := (&websocket.Upgrader{WriteBufferSize: 4096}).Upgrade(w, req, nil)
		if err != nil {
			served <- err
			return
		}
		served <- u.Serve(context.Background(), conn, br, p, func() { close(c.ended) })
	}()
	d := websocket.Dialer{NetDialContext: func(context.Context, string, string) (net.Conn, error) { return client, nil }}
	conn, _, err := d.Dial("ws://chat.test/ws", nil)
	if err != nil {
		t.Fatalf("handshake for %s: %v", p.User, err)
	}
	if err := <-served; err != nil {
		t.Fatalf("serve %s: %v", p.User, err)
	}
	c.conn = conn
	t.Cleanup(func() {
		conn.Close()
		c.startReading() // so the reader goroutine ends
		<-c.readDone
	})
	if read {
		c.startReading()
	}
	return c
}

// pipe is the two ends of a socket's connection: in memory, or over
// loopback TCP for a hub with a Poller, which watches descriptors.
func (u *unitHub) pipe(t *testing.T) (server, client net.Conn) {
	t.Helper()
	if u.poller == nil {
		return net.Pipe()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	return server, client
}

// pipeHijacker hands gorilla the pipe and the buffered reader the request was
// read through, as the web layer hands it its own small reader.
type pipeHijacker struct {
	*httptest.ResponseRecorder
	conn net.Conn
	br   *bufio.Reader
}

func (h *pipeHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return h.conn, bufio.NewReadWriter(h.br, bufio.NewWriter(h.conn)), nil
}

// frame is one server frame as a client sees it, with when it arrived on the
// bubble's clock.
type frame struct {
	Type    string   `json:"type"`
	Room    string   `json:"room"`
	ID      int64    `json:"id"`
	User    string   `json:"user"`
	Text    string   `json:"text"`
	Ref     string   `json:"ref"`
	Code    string   `json:"code"`
	Users   []string `json:"users"`
	Count   int      `json:"count"`
	LastID  int64    `json:"last_id"`
	Expires string   `json:"expires"`
	// Private rooms, dms and changes.
	Kind     string        `json:"kind"`
	Role     string        `json:"role"`
	By       string        `json:"by"`
	Change   int64         `json:"change"`
	EditedAt string        `json:"edited_at"`
	Deleted  bool          `json:"deleted"`
	UserID   *int64        `json:"user_id"`
	Members  []memberFrame `json:"members"`
	Messages []frame       `json:"messages"`
	Rooms    []roomFrame   `json:"rooms"`
	raw      string
	at       time.Time
}

type memberFrame struct {
	User string `json:"user"`
	Role string `json:"role"`
}

type roomFrame struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	Room string `json:"room"` // in unread
}

// unitClient is the client end of a socket. Its reader collects every frame
// (answering pings, as a browser does) until the socket ends.
type unitClient struct {
	t         *testing.T
	conn      *websocket.Conn
	ended     chan struct{} // closed when the server has ended the socket (Serve's done)
	startOnce sync.Once
	readDone  chan struct{}

	mu     sync.Mutex
	frames []frame
	err    error         // why reading ended
	done   chan struct{} // closed when reading ended
}

func (c *unitClient) startReading() {
	c.startOnce.Do(func() { go c.read() })
}

func (c *unitClient) read() {
	defer close(c.readDone)
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			close(c.done)
			return
		}
		// The server merges queued frames into one, one object a line.
		for line := range strings.SplitSeq(string(data), "\n") {
			var f frame
			if err := json.Unmarshal([]byte(line), &f); err != nil {
				c.t.Errorf("undecodable frame %.80q: %v", line, err)
				continue
			}
			f.at = time.Now()
			f.raw = line
			c.mu.Lock()
			c.frames = append(c.frames, f)
			c.mu.Unlock()
		}
	}
}

// send writes one client frame.
func (c *unitClient) send(v any) {
	c.t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.conn.WriteMessage(websocket.TextMessage, data); err != nil {
		c.t.Errorf("write %s: %v", data, err)
	}
}

// sendText sends a message to room.
func (c *unitClient) sendText(room, text string) {
	c.send(map[string]string{"type": "send", "room": room, "text": text})
}

// received is a copy of the frames read so far, of the given types (all if none).
func (c *unitClient) received(types ...string) []frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []frame
	for _, f := range c.frames {
		if len(types) == 0 || slices.Contains(types, f.Type) {
			out = append(out, f)
		}
	}
	return out
}

// messageIDs are the ids of the message frames of room, in arrival order.
func (c *unitClient) messageIDs(room string) []int64 {
	var ids []int64
	for _, f := range c.received("message") {
		if f.Room == room {
			ids = append(ids, f.ID)
		}
	}
	return ids
}

// closeCode is the close code the socket ended with: 0 while it is open,
// -1 if it ended without a close frame.
func (c *unitClient) closeCode() int {
	select {
	case <-c.done:
	default:
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var ce *websocket.CloseError
	if errors.As(c.err, &ce) {
		return ce.Code
	}
	return -1
}

// noMemberships keeps no rooms for anyone: the unit tests' stores do not
// test memberships (the conformance suite and the socket tests do).
type noMemberships struct{}

func (noMemberships) JoinRoom(context.Context, int64, string, int64, time.Time) error { return nil }
func (noMemberships) LeaveRoom(context.Context, int64, string) error                  { return nil }
func (noMemberships) MarkRead(context.Context, int64, string, int64, time.Time) (int64, bool, error) {
	return 0, false, store.ErrNotFound
}
func (noMemberships) Memberships(context.Context, int64, int, int) ([]store.Membership, error) {
	return nil, nil
}

// unitBus is NATS in memory: what a node publishes reaches the other nodes'
// subscribers in publish order, on the bus's own goroutine (a publisher
// never waits for a subscriber, as with NATS).
type unitBus struct {
	mu    sync.Mutex
	queue chan func()
	rooms map[string]map[*unitSub]struct{}
	users map[*unitSub]struct{}
}

type unitSub struct {
	node       string
	onMessage  func(store.Message)
	onPresence func(string, []string)
	onTyping   func(int64, string)
	onUser     func(UserEvent)
}

func newUnitBus(t *testing.T) *unitBus {
	b := &unitBus{queue: make(chan func(), 1<<16), rooms: make(map[string]map[*unitSub]struct{}), users: make(map[*unitSub]struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for fn := range b.queue {
			fn()
		}
	}()
	// Registered first, so it runs after every hub has shut down.
	t.Cleanup(func() {
		close(b.queue)
		<-done
	})
	return b
}

// unitNode is one node's connection to a unitBus.
type unitNode struct {
	bus  *unitBus
	name string
}

func (b *unitBus) node(name string) *unitNode { return &unitNode{bus: b, name: name} }

// publish runs deliver for each subscriber of another node, on the bus's goroutine.
func (n *unitNode) publish(subs func() []*unitSub, deliver func(*unitSub)) error {
	n.bus.queue <- func() {
		for _, s := range subs() {
			if s.node != n.name {
				deliver(s)
			}
		}
	}
	return nil
}

func (n *unitNode) roomSubs(room string) func() []*unitSub {
	return func() []*unitSub {
		n.bus.mu.Lock()
		defer n.bus.mu.Unlock()
		return slices.Collect(maps.Keys(n.bus.rooms[room]))
	}
}

func (n *unitNode) PublishMessage(m store.Message) error {
	return n.publish(n.roomSubs(m.Room), func(s *unitSub) { s.onMessage(m) })
}

func (n *unitNode) PublishPresence(room string, users []string) error {
	users = slices.Clone(users)
	return n.publish(n.roomSubs(room), func(s *unitSub) { s.onPresence(n.name, users) })
}

func (n *unitNode) PublishTyping(room string, userID int64, user string) error {
	return n.publish(n.roomSubs(room), func(s *unitSub) { s.onTyping(userID, user) })
}

func (n *unitNode) SubscribeRoom(room string, onMessage func(store.Message), onPresence func(string, []string), onTyping func(int64, string)) (func(), error) {
	s := &unitSub{node: n.name, onMessage: onMessage, onPresence: onPresence, onTyping: onTyping}
	n.bus.mu.Lock()
	defer n.bus.mu.Unlock()
	if n.bus.rooms[room] == nil {
		n.bus.rooms[room] = make(map[*unitSub]struct{})
	}
	n.bus.rooms[room][s] = struct{}{}
	return func() {
		n.bus.mu.Lock()
		defer n.bus.mu.Unlock()
		delete(n.bus.rooms[room], s)
	}, nil
}

func (n *unitNode) PublishUserEvent(e UserEvent) error {
	return n.publish(func() []*unitSub {
		n.bus.mu.Lock()
		defer n.bus.mu.Unlock()
		return slices.Collect(maps.Keys(n.bus.users))
	}, func(s *unitSub) { s.onUser(e) })
}

func (n *unitNode) SubscribeUserEvents(fn func(UserEvent)) (func(), error) {
	s := &unitSub{node: n.name, onUser: fn}
	n.bus.mu.Lock()
	defer n.bus.mu.Unlock()
	n.bus.users[s] = struct{}{}
	return func() {
		n.bus.mu.Lock()
		defer n.bus.mu.Unlock()
		delete(n.bus.users, s)
	}, nil
}

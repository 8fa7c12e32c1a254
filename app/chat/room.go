package chat

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"securechat/app/metrics"
	"securechat/app/store"
)

// room is one chat room's live state on this node: its members, who is
// present (here and on other nodes), and how far its messages have been
// delivered. History lives in the store; a room with no members here is
// dropped from memory.
type room struct {
	name string
	kind string // store.RoomPublic, RoomPrivate or RoomDM, as the store said when the room was opened; under mu
	hub  *Hub

	mu            sync.Mutex
	members       map[*Client]*member
	counts        map[string]int // sockets per user on this node
	remote        map[string]remoteUsers
	presenceTimer *time.Timer
	published     []string // the local user list other nodes last heard
	retired       bool
	unsubscribe   func()

	// The last message delivered here. Messages reach a room from this node's
	// persist loop and from other nodes; they are delivered in Seq order, and a
	// gap (another node's message not yet heard) is filled from the store.
	lastSeq int64
	lastID  int64

	// recent holds at least the newest historyOnJoin messages (up to twice
	// that, trimmed in bulk), so a join needs no store query; recentFrame is
	// the encoded history frame of the newest historyOnJoin, built on demand.
	recent      []store.Message
	recentFrame []byte

	// presence is the encoded presence frame, kept until who is present
	// changes: every join sends it, and sorting thousands of names per join
	// was most of a handshake's cost.
	presence []byte
}

// remoteUsers is another node's user list for the room, and when it was heard.
type remoteUsers struct {
	users []string
	seen  time.Time
}

// member is one socket's membership. While it is replaying history, live
// messages wait in pending so the socket sees every id once, in order.
type member struct {
	replaying    bool
	pending      []pendingFrame
	pendingBytes int       // bounded by Limits.SendQueueBytes, like the socket's queue
	liveFrom     int64     // every message above this id is delivered live
	typedAt      time.Time // the socket's last typing frame passed on in the room (notify.go)
}

type pendingFrame struct {
	id   int64
	data []byte
}

// newRoom returns a room whose newest stored messages are recent (oldest first).
func newRoom(name string, h *Hub, recent []store.Message, kind string) *room {
	r := &room{name: name, kind: kind, hub: h, members: make(map[*Client]*member), counts: make(map[string]int),
		remote: make(map[string]remoteUsers), recent: recent}
	if n := len(recent); n > 0 {
		r.lastID, r.lastSeq = recent[n-1].ID, recent[n-1].Seq
	}
	return r
}

// public reports whether the room is public (recheckKind may change it).
func (r *room) public() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.kind == store.RoomPublic
}

// joinLive makes c a live member and queues the recent history to it in the
// same step, so no message falls between the history and the live ones. It
// returns the last id the history covers; ok is false if the room was retired.
// stale is true, and nothing done, if a removal of the user reached the socket
// since its access was checked (c.removals was removals): the caller asks again.
func (r *room) joinLive(c *Client, removals uint64) (last int64, ok, stale bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.retired {
		return 0, false, false
	}
	if !c.enter(r.name, removals) {
		return 0, true, true
	}
	if m, existed := r.members[c]; existed {
		return m.liveFrom, true, false
	}
	r.members[c] = &member{liveFrom: r.lastID}
	r.addUserLocked(c.peer.User)
	if r.recentFrame == nil {
		r.recentFrame = encodeHistory(r.name, r.recent[max(0, len(r.recent)-historyOnJoin):], r.hub.pageBytes)
	}
	c.send(r.recentFrame)
	return r.lastID, true, false
}

// deliver sends a stored message to every member, in Seq order, once.
func (r *room) deliver(m store.Message) { r.deliverOwn(m, ownCopy{}) }

// ownCopy is the sender of a message this node stored, to whom its copy
// carries the send's ref. The zero value is none.
type ownCopy struct {
	to  *Client
	ref string
}

// deliverOwn is deliver for a message sent through this node. A message a gap
// fill delivered first (without ref) is not sent again.
func (r *room) deliverOwn(m store.Message, own ownCopy) {
	if m.Seq == 1 {
		r.hub.recheckKind(r)
	}
	r.mu.Lock()
	if r.retired || m.Seq <= r.lastSeq {
		r.mu.Unlock()
		return // a duplicate, or one the store already gave a gap fill
	}
	if m.Seq > r.lastSeq+1 {
		// A gap: fill it from the store (committed: m, later in the same
		// room, is) without holding the lock across the query, then look again.
		r.mu.Unlock()
		r.fill(m.Seq - 1)
		r.mu.Lock()
		if r.retired || m.Seq <= r.lastSeq {
			r.mu.Unlock()
			return
		}
	}
	r.fanOutLocked(m, own)
	r.mu.Unlock()
}

// catchUp delivers from the store every message up to seq that this node has
// not heard of: what the bus lost while a node or NATS was away.
func (r *room) catchUp(seq int64) { r.fill(seq) }

// fill delivers the stored messages after the last delivered one, up to and
// including seq. It reads the store with the room unlocked, so a slow store
// holds up no member and no other delivery, and delivers under the lock only
// what is still above lastSeq: another delivery may have moved it meanwhile.
// Each message is delivered once, in Seq order: lastSeq only grows, and the
// store's messages after an id are the room's next ones, in order.
func (r *room) fill(seq int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		r.mu.Lock()
		if r.retired || r.lastSeq >= seq {
			r.mu.Unlock()
			return
		}
		afterID, afterSeq := r.lastID, r.lastSeq
		r.mu.Unlock()

		missing, err := r.hub.store.MessagesAfter(ctx, r.name, afterID, maxHistory)
		if err != nil || len(missing) == 0 {
			r.hub.log.Error("fill a gap in room", "room", r.name, "after_seq", afterSeq, "up_to", seq, "err", err)
			return
		}
		r.mu.Lock()
		for _, mm := range missing {
			if mm.Seq > seq || r.retired {
				r.mu.Unlock()
				return
			}
			if mm.Seq > r.lastSeq {
				r.fanOutLocked(mm, ownCopy{})
			}
		}
		r.mu.Unlock()
	}
}

// fanOutLocked queues one message for every member, encoding it once (and
// once more for its sender, if it gave a ref). A message a member's replay
// already read from the store (committed, not yet delivered when the replay
// ran) is skipped by the liveFrom check.
func (r *room) fanOutLocked(m store.Message, own ownCopy) {
	r.lastSeq, r.lastID = m.Seq, m.ID
	if m.Kind == store.KindMessage {
		r.recent = append(r.recent, m)
		if len(r.recent) >= 2*historyOnJoin {
			r.recent = append(r.recent[:0:0], r.recent[len(r.recent)-historyOnJoin:]...)
		}
	} else {
		r.applyChangeLocked(m)
	}
	r.recentFrame = nil
	if len(r.members) == 0 {
		return
	}
	shared := encodeMessage(m)
	ownFrame := shared
	if own.ref != "" {
		ownFrame = encodeOwnMessage(m, own.ref)
	}
	sent := 0
	defer func() { r.hub.metrics.Delivered(sent) }()
	for c, mb := range r.members {
		if m.ID <= mb.liveFrom {
			continue
		}
		frame := shared
		if c == own.to {
			frame = ownFrame
		}
		if !mb.replaying {
			c.send(frame)
			sent++
			continue
		}
		if len(mb.pending) >= r.hub.limits.SendQueue {
			r.hub.metrics.QueueDropped(metrics.BoundFrames)
			c.closeWith(CloseTryLater)
			continue
		}
		if mb.pendingBytes > 0 && mb.pendingBytes+len(frame) > r.hub.limits.SendQueueBytes {
			r.hub.metrics.QueueDropped(metrics.BoundBytes)
			c.closeWith(CloseTryLater)
			continue
		}
		mb.pending = append(mb.pending, pendingFrame{m.ID, frame})
		mb.pendingBytes += len(frame)
	}
}

// applyChangeLocked applies an edit or delete to the cached message it
// targets, so a join's history shows the message as it reads now. The
// change row itself is not kept: history holds messages only.
func (r *room) applyChangeLocked(ch store.Message) {
	for i := len(r.recent) - 1; i >= 0; i-- {
		m := &r.recent[i]
		if m.ID != ch.Target {
			continue
		}
		switch ch.Kind {
		case store.KindEdit:
			if !m.Deleted {
				m.Text, m.EditedAt = ch.Text, ch.TS
			}
		case store.KindDelete:
			m.Text, m.User, m.UserID, m.Deleted = "", "", 0, true
		}
		return
	}
}

// startReplay adds c in replaying state, or puts an existing membership back
// into it, and returns the newest id the room has delivered. It reports false
// if the room was retired (the caller looks it up again), and stale as
// joinLive does.
func (r *room) startReplay(c *Client, removals uint64) (m *member, known int64, existed, ok, stale bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.retired {
		return nil, 0, false, false, false
	}
	if !c.enter(r.name, removals) {
		return nil, 0, false, true, true
	}
	m, existed = r.members[c]
	if !existed {
		m = &member{}
		r.members[c] = m
		r.addUserLocked(c.peer.User)
	}
	m.replaying = true
	return m, r.lastID, existed, true, false
}

// finishReplay sends what arrived during the replay with an id above last,
// then switches the member to live delivery. A member removed meanwhile
// gets nothing more.
func (r *room) finishReplay(c *Client, m *member, last int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.members[c] != m {
		return
	}
	for _, p := range m.pending {
		if p.id > last {
			c.send(p.data)
			last = p.id
		}
	}
	m.pending, m.pendingBytes = nil, 0
	m.replaying = false
	if last > m.liveFrom {
		m.liveFrom = last
	}
}

// remove drops c; it reports whether c was a member.
func (r *room) remove(c *Client) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.members[c]; !ok {
		return false
	}
	delete(r.members, c)
	if r.counts[c.peer.User]--; r.counts[c.peer.User] <= 0 {
		delete(r.counts, c.peer.User)
		r.presenceChangedLocked()
	}
	return true
}

// retireIfEmpty marks an empty room retired so no one joins it after the hub
// forgets it; it reports whether it did. The hub calls it holding its own
// lock, so it only changes memory; the caller then calls release.
func (r *room) retireIfEmpty() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.members) > 0 {
		return false
	}
	r.retired = true
	if r.presenceTimer != nil {
		r.presenceTimer.Stop()
	}
	return true
}

// release ends a retired room's traffic with the other nodes: its
// subscription, and its users' presence (this node has none left there). It
// runs with no lock held. A room of the same name opened meanwhile has a
// subscription of its own, and publishes its users after presenceDelay at
// the earliest, so after the empty list this one sends.
func (r *room) release() {
	r.mu.Lock()
	unsub := r.unsubscribe
	r.unsubscribe = nil
	announce := r.hub.broker != nil && len(r.published) > 0
	r.mu.Unlock()
	if unsub != nil {
		unsub()
	}
	if announce {
		if err := r.hub.broker.PublishPresence(r.name, nil); err != nil {
			r.hub.log.Warn("publish presence", "room", r.name, "err", err)
		}
	}
}

// usersLocked is everyone present: this node's users and other nodes' that
// were heard recently, each once, sorted.
func (r *room) usersLocked(now time.Time) []string {
	set := maps.Clone(r.counts)
	for _, ru := range r.remote {
		if now.Sub(ru.seen) <= presenceExpiry {
			for _, u := range ru.users {
				set[u]++
			}
		}
	}
	return sortedKeys(set)
}

// presenceFrame returns the encoded list of users present.
func (r *room) presenceFrame() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.presenceFrameLocked()
}

func (r *room) presenceFrameLocked() []byte {
	if r.presence == nil {
		r.presence = encodePresence(r.name, r.usersLocked(r.hub.now()))
	}
	return r.presence
}

// addUserLocked counts one more socket of user.
func (r *room) addUserLocked(user string) {
	if r.counts[user]++; r.counts[user] == 1 {
		r.presenceChangedLocked()
	}
}

// presenceChangedLocked is called when a user came or went (here or with
// another node's list): the list is
// encoded again and sent to every member shortly. Another socket of a user
// already present (a second tab, a reconnect storm's sockets coming back)
// changes nothing, so sends nothing: the joiner is given the list by its
// join, and the others already have it. In a storm that resent the same
// list to the whole room at each join.
func (r *room) presenceChangedLocked() {
	r.presence = nil
	r.schedulePresence()
}

// schedulePresence arranges one presence frame to every member shortly. Called with r.mu held.
func (r *room) schedulePresence() {
	if r.presenceTimer == nil && !r.retired {
		delay := min(presenceDelay*time.Duration(1+len(r.members)/presencePerDelay), maxPresenceDelay)
		r.presenceTimer = time.AfterFunc(delay, r.flushPresence)
	}
}

func (r *room) flushPresence() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.presenceTimer = nil
	if r.retired {
		return
	}
	frame := r.presenceFrameLocked()
	for c := range r.members {
		c.send(frame)
	}
	r.publishPresenceLocked(false)
}

// publishPresenceLocked tells other nodes this node's users, when they changed
// or as a heartbeat (so a node that dies drops out of everyone's lists).
//
// It publishes with the room locked, the one bus call that does: the lists
// must leave in the order they were taken, or a heartbeat's older list could
// overtake a newer one and stand on the other nodes until the next. A
// publish only appends to the bus client's buffer (NATS writes it from its
// own goroutine), so it does not wait for the network.
func (r *room) publishPresenceLocked(heartbeat bool) {
	if r.hub.broker == nil {
		return
	}
	local := sortedKeys(r.counts)
	if !heartbeat && slices.Equal(local, r.published) {
		return
	}
	r.published = local
	if err := r.hub.broker.PublishPresence(r.name, local); err != nil {
		r.hub.log.Warn("publish presence", "room", r.name, "err", err)
	}
}

// remotePresence records another node's users for the room.
func (r *room) remotePresence(node string, users []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.retired {
		return
	}
	now := r.hub.now()
	before := r.usersLocked(now)
	if len(users) == 0 {
		delete(r.remote, node)
	} else {
		r.remote[node] = remoteUsers{users: users, seen: now}
	}
	r.presence = nil
	if !slices.Equal(before, r.usersLocked(now)) {
		r.schedulePresence()
	}
}

// heartbeat republishes this node's users and forgets nodes not heard from.
func (r *room) heartbeat(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.retired {
		return
	}
	r.publishPresenceLocked(true)
	for node, ru := range r.remote {
		if now.Sub(ru.seen) > presenceExpiry {
			delete(r.remote, node)
			r.presenceChangedLocked()
		}
	}
}

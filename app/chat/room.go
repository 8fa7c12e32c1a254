package chat

import (
	"sync"
	"time"
)

// room is one chat room's live state: its members and who is present.
// History lives in the store; a room with no members is dropped from memory.
type room struct {
	name string
	hub  *Hub

	mu            sync.Mutex
	members       map[*Client]*member
	counts        map[string]int // sockets per user, for presence
	presenceTimer *time.Timer
	retired       bool
}

// member is one socket's membership. While it is replaying history, live
// messages wait in pending so the socket sees every id once, in order.
type member struct {
	replaying bool
	pending   []pendingFrame
	liveFrom  int64 // every message above this id is delivered live
}

type pendingFrame struct {
	id   int64
	data []byte
}

func newRoom(name string, h *Hub) *room {
	return &room{name: name, hub: h, members: make(map[*Client]*member), counts: make(map[string]int)}
}

// deliver queues a message frame for every member. Messages reach it in id
// order, after they are committed; a message a member's replay already read
// from the store (committed, not yet delivered when the replay ran) is skipped
// by the liveFrom check.
func (r *room) deliver(id int64, frame []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c, m := range r.members {
		if id <= m.liveFrom {
			continue
		}
		if !m.replaying {
			c.send(frame)
			continue
		}
		if len(m.pending) >= r.hub.limits.SendQueue {
			c.closeWith(CloseTryLater, true)
			continue
		}
		m.pending = append(m.pending, pendingFrame{id, frame})
	}
}

// startReplay adds c in replaying state, or puts an existing membership back
// into it. It reports false if the room was retired (the caller looks it up again).
func (r *room) startReplay(c *Client) (m *member, existed, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.retired {
		return nil, false, false
	}
	m, existed = r.members[c]
	if !existed {
		m = &member{}
		r.members[c] = m
		r.counts[c.peer.User]++
		r.schedulePresence()
	}
	m.replaying = true
	return m, existed, true
}

// finishReplay sends what arrived during the replay with an id above last,
// then switches the member to live delivery.
func (r *room) finishReplay(c *Client, m *member, last int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range m.pending {
		if p.id > last {
			c.send(p.data)
			last = p.id
		}
	}
	m.pending = nil
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
	}
	r.schedulePresence()
	return true
}

// retireIfEmpty marks an empty room retired so no one joins it after the hub
// forgets it; it reports whether it did.
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

func (r *room) users() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return sortedKeys(r.counts)
}

// presenceFrame encodes the current list of users.
func (r *room) presenceFrame() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return encodePresence(r.name, sortedKeys(r.counts))
}

// schedulePresence arranges one presence frame to every member shortly. Called with r.mu held.
func (r *room) schedulePresence() {
	if r.presenceTimer == nil {
		r.presenceTimer = time.AfterFunc(presenceDelay, r.flushPresence)
	}
}

func (r *room) flushPresence() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.presenceTimer = nil
	if r.retired {
		return
	}
	frame := encodePresence(r.name, sortedKeys(r.counts))
	for c := range r.members {
		c.send(frame)
	}
}

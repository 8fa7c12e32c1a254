package chat

import (
	"context"
	"fmt"
	"strings"
	"time"

	"securechat/app/store"
)

// clientFrame is what the server does with one type of client frame.
type clientFrame struct {
	// check validates the fields the type needs (decodeFrame has already
	// checked the JSON and the ref) and fills in defaults; nil: none.
	check func(f *inbound, maxText int) error
	// handle acts on a decoded, admitted frame.
	handle func(c *Client, ctx context.Context, f inbound) error
	// message: the frame is counted against the user's message rate;
	// otherwise against the request rate (admit).
	message bool
	// ownLimit: the handler limits the frame itself, silently (typing), and
	// admit lets it through.
	ownLimit bool
}

// clientFrames is the protocol's one dispatch table: every client frame
// type, how it is checked, how it is rate limited and what it does. A type
// not in it is answered unknown_type. Never written after initialisation.
var clientFrames = map[frameType]clientFrame{
	typeSend:    {check: checkSend, handle: (*Client).onSend, message: true},
	typeJoin:    {check: checkMembership, handle: (*Client).onJoin},
	typeLeave:   {check: checkMembership, handle: (*Client).onLeave},
	typeHistory: {check: checkHistory, handle: (*Client).onHistory},
	typeRooms:   {check: checkRoomsRequest, handle: (*Client).onRooms},
	typeRefresh: {check: checkRefresh, handle: (*Client).onRefresh},
	typeRead:    {check: checkRead, handle: (*Client).onRead},
	typeCreate:  {check: checkCreate, handle: (*Client).onCreate},
	typeInvite:  {check: checkMemberChange, handle: (*Client).onInvite},
	typeRemove:  {check: checkMemberChange, handle: (*Client).onRemove},
	typeDM:      {check: checkDM, handle: (*Client).onDM},
	typeMembers: {check: checkRoomOnly, handle: (*Client).onMembers},
	typeSearch:  {check: checkSearch, handle: (*Client).onSearch},
	typeTyping:  {check: checkRoomOnly, handle: (*Client).onTyping, ownLimit: true},
	// Changes are stored rows, counted like messages.
	typeEdit:   {check: checkEdit, handle: (*Client).onEdit, message: true},
	typeDelete: {check: checkDelete, handle: (*Client).onDelete, message: true},

	typeRetention: {check: checkRetention, handle: (*Client).onRetention}, // retention.go
}

// handle acts on a frame decodeFrame accepted and admit let through.
func (c *Client) handle(ctx context.Context, f inbound) error {
	return clientFrames[f.Type].handle(c, ctx, f)
}

// onSend hands a message to the hub, to be stored and then delivered
// to the room (the sender's copy is its acknowledgement).
// A socket is in a room only if the user could read it when it joined, and
// a removal takes it out, so being in the room is the check; the store is
// asked only to tell a refusal (a private room or dm of others) apart from a
// room not yet joined (join creates a room that does not exist, so its
// existence is no secret to a sender).
func (c *Client) onSend(ctx context.Context, f inbound) error {
	if !c.inRoom(f.Room) {
		if a, exists, err := c.access(ctx, f.Room); err != nil {
			return err
		} else if exists && !a.CanRead() {
			return forbidden(f.Room)
		}
		return badFrame("not_joined", "join %s before sending to it", f.Room)
	}
	return c.hub.submit(c, f.Room, f.Text, f.Ref)
}

func (c *Client) onJoin(ctx context.Context, f inbound) error {
	return c.join(ctx, f.Room, f.Since, true)
}

func (c *Client) onLeave(ctx context.Context, f inbound) error {
	if !c.inRoom(f.Room) {
		return badFrame("not_joined", "not in %s", f.Room)
	}
	c.mu.Lock()
	delete(c.rooms, f.Room)
	c.mu.Unlock()
	c.hub.leave(c, f.Room)
	return c.forget(ctx, f.Room)
}

// onHistory answers one page of a room's messages before f.Before, to a
// user who may read the room.
func (c *Client) onHistory(ctx context.Context, f inbound) error {
	removals := c.removals()
	if _, err := c.mustRead(ctx, f.Room); err != nil {
		return err
	}
	var msgs []store.Message
	err := offload(ctx, func(ctx context.Context) (err error) {
		msgs, err = c.historyPage(ctx, f)
		return err
	})
	if err != nil {
		return err
	}
	if !c.sendUnlessRemoved(removals, encodeHistory(f.Room, msgs, c.hub.pageBytes)) {
		return forbidden(f.Room)
	}
	return nil
}

func (c *Client) onRooms(ctx context.Context, f inbound) error {
	return c.hub.listRooms(ctx, c, f)
}

func (c *Client) onRefresh(ctx context.Context, f inbound) error {
	return c.refresh(ctx, f.Token)
}

// join makes c a member of room. Without since it sends the room's recent
// history; with since it replays every later message as message frames. Live
// messages that arrive meanwhile are held back and sent after, so the socket
// sees each id once and in order. Joining a room again with since replays what
// came after since and before the socket's live delivery began. With
// remember, the room becomes the user's (read up to what the join showed)
// before joined is sent.
//
// Only a user who may read the room joins it (joinAccess); a removal that
// reaches the socket while it joins makes it ask again.
func (c *Client) join(ctx context.Context, name string, since *int64, remember bool) error {
	if since == nil {
		return c.joinRecent(ctx, name, remember)
	}
	var r *room
	var m *member
	var known int64
	var a store.Access
	var existed bool
	for attempt := 0; ; attempt++ {
		if attempt == maxJoinAttempts {
			return fmt.Errorf("join %s: removals kept coming", name)
		}
		removals := c.removals()
		var err error
		if r, a, err = c.openReadable(ctx, name); err != nil {
			return err
		}
		var ok, stale bool
		if m, known, existed, ok, stale = r.startReplay(c, removals); ok && !stale {
			break
		}
	}

	var last int64
	err := offload(ctx, func(ctx context.Context) (err error) {
		last, err = c.replay(ctx, name, *since, known, existed, m.liveFrom)
		return err
	})
	if err != nil {
		// Nothing was promised yet: take the membership back and report.
		if !existed {
			c.mu.Lock()
			delete(c.rooms, name)
			c.mu.Unlock()
			c.hub.leave(c, name)
		} else {
			r.finishReplay(c, m, m.liveFrom)
		}
		return fmt.Errorf("join %s: %w", name, err)
	}
	r.finishReplay(c, m, last)
	if remember && c.inRoom(name) {
		c.remember(ctx, name, last)
	}
	c.sendIn(name, encodeJoined(name, last, a))
	c.sendIn(name, r.presenceFrame())
	return nil
}

// maxJoinAttempts bounds how often a join asks again because removals
// reached the socket meanwhile.
const maxJoinAttempts = 5

// openReadable returns the room, in memory, if the user may read it: the
// default room is everyone's; a room that does not exist is created public
// (openRoom), unless its name is a dm's; a private room or dm only for its
// members. A room created by this join is asked about again: it may have
// been created private in between by someone else.
func (c *Client) openReadable(ctx context.Context, name string) (*room, store.Access, error) {
	a := store.Access{Kind: store.RoomPublic}
	exists := true
	if name != DefaultRoom {
		var err error
		if a, exists, err = c.access(ctx, name); err != nil {
			return nil, a, fmt.Errorf("join %s: %w", name, err)
		}
		if exists && !a.CanRead() || !exists && strings.HasPrefix(name, store.DMPrefix) {
			return nil, a, forbidden(name)
		}
		if !exists {
			a = store.Access{Kind: store.RoomPublic}
		}
	}
	r, err := c.hub.openRoom(ctx, name, c.peer.User, a.Kind)
	if err != nil {
		return nil, a, fmt.Errorf("join %s: %w", name, err)
	}
	if !exists {
		if a, err = c.mustRead(ctx, name); err != nil {
			return nil, a, err
		}
	}
	return r, a, nil
}

// joinRecent joins without since: the room's recent history comes from
// memory, queued in the same step that makes the socket a member, so it needs
// no store query and no replay.
func (c *Client) joinRecent(ctx context.Context, name string, remember bool) error {
	for attempt := 0; attempt < maxJoinAttempts; {
		removals := c.removals()
		r, a, err := c.openReadable(ctx, name)
		if err != nil {
			return err
		}
		last, ok, stale := r.joinLive(c, removals)
		if !ok {
			continue // retired meanwhile: open it again
		}
		if stale {
			attempt++ // a removal came meanwhile: ask the store again
			continue
		}
		if remember && c.inRoom(name) {
			c.remember(ctx, name, last)
		}
		c.sendIn(name, encodeJoined(name, last, a))
		c.sendIn(name, r.presenceFrame())
		return nil
	}
	return fmt.Errorf("join %s: removals kept coming", name)
}

// replay sends every message of room after since and returns the highest id
// it covered. For a socket already in the room (existed) it sends only what
// came before its live delivery began. known is the newest id the room had
// delivered when the replay began.
func (c *Client) replay(ctx context.Context, name string, since, known int64, existed bool, liveFrom int64) (int64, error) {
	if since > known {
		// A since past the room's newest message would mark every later
		// message as seen, and the socket would never hear the room again,
		// not even its own messages. It is clamped to the newest stored id
		// (the store may be ahead of this node's delivery).
		head, _, err := c.hub.store.RoomHead(ctx, name)
		if err != nil {
			return 0, fmt.Errorf("room head: %w", err)
		}
		since = min(since, max(known, head))
	}
	last := since
	for {
		msgs, err := c.hub.store.MessagesAfter(ctx, name, last, maxHistory)
		if err != nil {
			return 0, err
		}
		if existed {
			n := 0
			for n < len(msgs) && msgs[n].ID <= liveFrom {
				n++
			}
			msgs = msgs[:n]
		}
		if len(msgs) == 0 {
			break
		}
		// Each batch is one frame of at most a page of bytes (at least one message).
		frame, n := encodeMessages(msgs, c.hub.pageBytes)
		if err := c.sendWait(ctx, name, frame); err != nil {
			return 0, err
		}
		last = msgs[n-1].ID
		if n == len(msgs) && len(msgs) < maxHistory {
			break
		}
	}
	if existed && last < liveFrom {
		return liveFrom, nil
	}
	return last, nil
}

func (c *Client) refresh(ctx context.Context, token string) error {
	var p Peer
	err := offload(ctx, func(ctx context.Context) (err error) {
		p, err = c.hub.sessions.Refresh(ctx, token)
		return err
	})
	if err != nil {
		return badFrame("bad_token", "that token does not authenticate")
	}
	c.mu.Lock()
	if p.SessionID != c.peer.SessionID || p.User != c.peer.User {
		c.mu.Unlock()
		return badFrame("bad_token", "a refresh token must belong to the socket's session")
	}
	if p.ExpiresAt.After(c.peer.ExpiresAt) {
		c.peer.ExpiresAt = p.ExpiresAt
		c.expiry.Reset(p.ExpiresAt.Sub(c.hub.now()))
	}
	exp := c.peer.ExpiresAt
	c.mu.Unlock()
	c.send(encodeRefreshed(exp))
	return nil
}

func (c *Client) inRoom(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.rooms[name]
	return ok
}

func (c *Client) roomNames() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.rooms))
	for n := range c.rooms {
		out = append(out, n)
	}
	return out
}

// storeTimeout bounds one store call made for a socket.
const storeTimeout = 10 * time.Second

// offload runs a store call on a goroutine of its own and waits for it. The
// store's call stacks are deep (SQLite is translated C); run on a socket's
// long-lived reader goroutine they would leave its stack grown for as long as
// the socket lives, and with thousands of sockets that is most of the memory.
//
// On a goroutine that ends soon (shortLived) it calls fn directly: the
// grown stack goes with the goroutine, and each call saves a goroutine and a
// trip through the scheduler (in a reconnect storm, several per handshake).
func offload(ctx context.Context, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	if ctx.Value(shortLivedKey{}) != nil {
		return fn(ctx)
	}
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	return <-done
}

type shortLivedKey struct{}

// shortLived marks ctx as used on a goroutine that ends soon: a request's,
// or the read loop of a socket that parks when it has nothing to read.
func shortLived(ctx context.Context) context.Context {
	return context.WithValue(ctx, shortLivedKey{}, true)
}

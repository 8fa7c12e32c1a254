package chat

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"securechat/app/audit"
	"securechat/app/store"
	"securechat/app/throttle"
)

// Who may read a room. A public room is everyone's; a private room or a dm
// only its members' (store.Access). The store is asked on every path that
// reads or changes a room (join, join with since, history, members, invite,
// remove, edit, delete), at the moment of the request; a socket that was
// admitted into a room stays in it until it leaves or is removed, and a
// removal takes it out on every node (removeFromRoom, through a UserEvent),
// so the live paths (send, delivery, presence) need no store call.
//
// A room that does not exist and a private room the user is not in look the
// same to them (forbidden), so a name reveals nothing. An admin's role is read
// from the store at the moment of the action, never cached on the socket.

// The error codes of private rooms, dms and changes.
const (
	codeForbidden   = "forbidden"
	codeRoomExists  = "room_exists"
	codeNotFound    = "not_found"
	codeUnknownUser = "unknown_user"
	codeNotPrivate  = "not_private"
)

// maxMembersListed bounds one members answer (a dm has at most maxDMUsers).
const maxMembersListed = 1000

func forbidden(room string) error {
	return badFrame(codeForbidden, "%s is not open to you", room)
}

// access is the user's access to room; exists is false if there is no such room.
func (c *Client) access(ctx context.Context, room string) (a store.Access, exists bool, err error) {
	err = offload(ctx, func(ctx context.Context) (err error) {
		a, err = c.hub.store.RoomAccess(ctx, room, c.peer.UserID)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.Access{}, false, nil
	}
	if err != nil {
		return a, false, fmt.Errorf("room access: %w", err)
	}
	return a, true, nil
}

// mustRead returns the user's access to an existing room they may read, or forbidden.
func (c *Client) mustRead(ctx context.Context, room string) (store.Access, error) {
	a, exists, err := c.access(ctx, room)
	if err != nil {
		return a, err
	}
	if !exists || !a.CanRead() {
		return a, forbidden(room)
	}
	return a, nil
}

// isAdmin reads the user's role now: a role taken away a moment ago counts.
func (c *Client) isAdmin(ctx context.Context) (bool, error) {
	var u store.User
	err := offload(ctx, func(ctx context.Context) (err error) {
		u, err = c.hub.store.UserByName(ctx, c.peer.User)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read role: %w", err)
	}
	return u.ID == c.peer.UserID && u.Role == store.RoleAdmin, nil
}

// userByName finds the account a frame names, or unknown_user.
func (c *Client) userByName(ctx context.Context, name string) (store.User, error) {
	var u store.User
	err := offload(ctx, func(ctx context.Context) (err error) {
		u, err = c.hub.store.UserByName(ctx, name)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return u, badFrame(codeUnknownUser, "there is no user %s", name)
	}
	return u, err
}

// removals is how many removals of this user the socket has seen. A join
// reads it before it asks the store and compares it when it becomes a
// member: a removal that came in between makes it ask again (joinLive).
func (c *Client) removals() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.removed
}

// onCreate creates a room and joins it: a private one owned by the sender,
// or a public one; a name in use is refused.
func (c *Client) onCreate(ctx context.Context, f inbound) error {
	kind, owner := store.RoomPublic, int64(0)
	if f.Private {
		kind, owner = store.RoomPrivate, c.peer.UserID
	}
	if f.Room == DefaultRoom || c.hub.roomFor(f.Room) != nil {
		// general is everyone's; a room this node has open exists (or
		// existed a moment ago: a public room pruned while members sat in
		// it must not come back private around them).
		return badFrame(codeRoomExists, "%s exists", f.Room)
	}
	if err := c.hub.chargeCreate(c.peer.User); err != nil {
		return err
	}
	err := offload(ctx, func(ctx context.Context) error {
		return c.hub.store.CreateRoom(ctx, f.Room, kind, owner, c.hub.now())
	})
	if errors.Is(err, store.ErrExists) {
		return badFrame(codeRoomExists, "%s exists", f.Room)
	}
	if err != nil {
		return fmt.Errorf("create room %s: %w", f.Room, err)
	}
	c.hub.log.Debug("room created", "room", f.Room, "kind", kind, "user", c.peer.User)
	return c.join(ctx, f.Room, nil, true)
}

// chargeCreate counts a room creation against the user's limit.
func (h *Hub) chargeCreate(user string) error {
	if h.limits.RoomCreateRate == (throttle.Limit{}) {
		return nil
	}
	if ok, retry := h.creates.Allow(user); !ok {
		h.metrics.RoomCreateRefused()
		return badFrame(codeRateLimited, "too many new rooms: you may create another in %s", retry.Round(time.Second))
	}
	return nil
}

// onInvite makes a user a member of a private room (the owner or an admin
// may): the room joins the invitee's rooms, and each of their sockets, on
// every node, hears invited.
func (c *Client) onInvite(ctx context.Context, f inbound) error {
	a, err := c.manage(ctx, f.Room, false)
	if err != nil {
		return err
	}
	if f.User == c.peer.User && a.Role == "" {
		return badFrame(codeForbidden, "an admin may not invite themself into %s", f.Room)
	}
	u, err := c.userByName(ctx, f.User)
	if err != nil {
		return err
	}
	now := c.hub.now()
	var added bool
	err = offload(ctx, func(ctx context.Context) (err error) {
		if added, err = c.hub.store.AddMember(ctx, f.Room, u.ID, store.MemberMember, now); err != nil || !added {
			return err
		}
		// The room is among the invitee's rooms at once, every message unread.
		return c.hub.store.JoinRoom(ctx, u.ID, f.Room, 0, now)
	})
	if err != nil {
		return fmt.Errorf("invite %s to %s: %w", f.User, f.Room, err)
	}
	if added {
		c.hub.audit.Record(ctx, store.AuditEvent{Event: audit.MemberInvited, Actor: c.peer.User, Subject: u.Name,
			Address: c.peer.Remote, SessionID: c.peer.SessionID, Detail: f.Room})
		c.hub.userEvent(UserEvent{UserID: u.ID, Room: f.Room, Kind: UserInvited, Frame: encodeInvited(f.Room, c.peer.User, store.RoomPrivate)})
	}
	return c.sendMembers(ctx, f.Room, a)
}

// onRemove takes a user out of a private room (the owner or an admin may
// remove anyone, a member themself): out of its members and the user's
// rooms, and each of their sockets, on every node, out of the room.
func (c *Client) onRemove(ctx context.Context, f inbound) error {
	a, err := c.manage(ctx, f.Room, f.User == c.peer.User)
	if err != nil {
		return err
	}
	u, err := c.userByName(ctx, f.User)
	if err != nil {
		return err
	}
	var removed bool
	err = offload(ctx, func(ctx context.Context) (err error) {
		removed, err = c.hub.store.RemoveMember(ctx, f.Room, u.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("remove %s from %s: %w", f.User, f.Room, err)
	}
	if !removed {
		return badFrame(codeNotFound, "%s is not a member of %s", f.User, f.Room)
	}
	c.hub.audit.Record(ctx, store.AuditEvent{Event: audit.MemberRemoved, Actor: c.peer.User, Subject: u.Name,
		Address: c.peer.Remote, SessionID: c.peer.SessionID, Detail: f.Room})
	c.hub.userEvent(UserEvent{UserID: u.ID, Room: f.Room, Kind: UserRemoved, Frame: encodeRemoved(f.Room)})
	if u.ID == c.peer.UserID {
		return nil // the removed frame is the answer
	}
	return c.sendMembers(ctx, f.Room, a)
}

// manage checks that the user may invite to or remove from room: its owner,
// an admin, or (self) a member leaving. A dm has no owner and fixed members.
func (c *Client) manage(ctx context.Context, room string, self bool) (store.Access, error) {
	a, exists, err := c.access(ctx, room)
	switch {
	case err != nil:
		return a, err
	case !exists:
		return a, forbidden(room)
	case a.Kind == store.RoomPublic:
		return a, badFrame(codeNotPrivate, "%s is public: everyone may join it", room)
	case a.Kind == store.RoomDM && a.Role != "":
		return a, badFrame(codeNotPrivate, "the members of a direct conversation are fixed")
	case a.Kind == store.RoomDM:
		return a, forbidden(room)
	case a.Role == store.MemberOwner, self && a.Role != "":
		return a, nil
	}
	admin, err := c.isAdmin(ctx)
	if err != nil {
		return a, err
	}
	if !admin {
		if a.Role == "" {
			return a, forbidden(room)
		}
		return a, badFrame(codeForbidden, "only the owner of %s or an admin may do that", room)
	}
	return a, nil
}

// sendMembers answers an invite or remove with the room's members, to a
// member (an admin who is not one learns only that it was done: no error).
func (c *Client) sendMembers(ctx context.Context, room string, a store.Access) error {
	if a.Role == "" {
		return nil
	}
	var ms []store.RoomMember
	err := offload(ctx, func(ctx context.Context) (err error) {
		ms, err = c.hub.store.RoomMembers(ctx, room, maxMembersListed)
		return err
	})
	if err != nil {
		return fmt.Errorf("list members of %s: %w", room, err)
	}
	c.send(encodeMembers(room, ms))
	return nil
}

// onMembers lists a private room's or dm's members, to a member.
func (c *Client) onMembers(ctx context.Context, f inbound) error {
	a, err := c.mustRead(ctx, f.Room)
	if err != nil {
		return err
	}
	if a.Kind == store.RoomPublic {
		return badFrame(codeNotPrivate, "%s is public: it has no member list", f.Room)
	}
	return c.sendMembers(ctx, f.Room, a)
}

// onDM opens the conversation of the sender and the users named (the same
// room every time for the same people) and joins it; when it is new, the
// others are made members of it and their sockets hear invited.
func (c *Client) onDM(ctx context.Context, f inbound) error {
	ids := []int64{c.peer.UserID}
	users := make(map[int64]string)
	for _, name := range f.Users {
		if name == c.peer.User {
			continue
		}
		u, err := c.userByName(ctx, name)
		if err != nil {
			return err
		}
		if !slices.Contains(ids, u.ID) {
			ids = append(ids, u.ID)
			users[u.ID] = u.Name
		}
	}
	if len(ids) < 2 || len(ids) > maxDMUsers {
		return badFrame("bad_frame", "a dm is between 2 and %d different users, you included", maxDMUsers)
	}
	slices.Sort(ids)
	now := c.hub.now()
	var room string
	var created bool
	// A new dm is a new room in the others' lists: it counts against the
	// room creation rate; opening one that exists does not.
	if c.hub.limits.RoomCreateRate != (throttle.Limit{}) {
		done, retry, ok := c.hub.creates.Begin(c.peer.User)
		if !ok {
			c.hub.metrics.RoomCreateRefused()
			return badFrame(codeRateLimited, "too many new rooms: you may open another conversation in %s", retry.Round(time.Second))
		}
		defer func() { done(created) }()
	}
	err := offload(ctx, func(ctx context.Context) (err error) {
		if room, created, err = c.hub.store.OpenDM(ctx, ids, now); err != nil || !created {
			return err
		}
		for id := range users {
			if err := c.hub.store.JoinRoom(ctx, id, room, 0, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("open dm: %w", err)
	}
	if !strings.HasPrefix(room, store.DMPrefix) {
		return fmt.Errorf("open dm: the store named it %q", room)
	}
	if created {
		frame := encodeInvited(room, c.peer.User, store.RoomDM)
		for id := range users {
			c.hub.userEvent(UserEvent{UserID: id, Room: room, Kind: UserInvited, Frame: frame})
		}
	}
	return c.join(ctx, room, nil, true)
}

// userEvent applies e to the user's sockets here and sends it to the other nodes.
func (h *Hub) userEvent(e UserEvent) {
	h.applyUserEvent(e, nil)
	if h.broker != nil {
		if err := h.broker.PublishUserEvent(e); err != nil {
			h.log.Warn("publish user event", "kind", e.Kind, "room", e.Room, "err", err)
		}
	}
}

// onUserEvent applies another node's user event.
func (h *Hub) onUserEvent(e UserEvent) { h.applyUserEvent(e, nil) }

// applyUserEvent queues e's frame to the user's sockets on this node (but
// except), taking them out of the room first if e is a removal.
func (h *Hub) applyUserEvent(e UserEvent, except *Client) {
	if e.Kind == UserRemoved {
		h.removeFromRoom(e.UserID, e.Room, e.Frame)
		return
	}
	for _, c := range h.userSockets(e.UserID, except) {
		c.send(e.Frame)
	}
}

// removeFromRoom takes each of the user's sockets out of room, then queues
// frame (removed) to it: the room's frames queued before are all the
// socket gets of it. A join in flight sees the count of removals move and
// asks the store again (joinLive).
func (h *Hub) removeFromRoom(userID int64, room string, frame []byte) {
	for _, c := range h.userSockets(userID, nil) {
		h.removeSocket(c, room, frame)
	}
}

// removeSocket takes one socket out of room, then queues frame to it.
func (h *Hub) removeSocket(c *Client, room string, frame []byte) {
	c.mu.Lock()
	c.removed++
	delete(c.rooms, room)
	c.mu.Unlock()
	h.leave(c, room)
	c.send(frame)
}

// recheckKind runs before a room's first message is delivered, if this node
// holds the room as public: a public room that never had a message may have
// been pruned (on any node) while sockets sat in it here, and its name
// taken for a private room on another node, whose messages then come here.
// Each socket whose user may not read the room now is taken out of it
// (removed), before the message is delivered. One store call per room's
// first message, and one per user present only if the room changed kind.
func (h *Hub) recheckKind(r *room) {
	if !r.public() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	a, err := h.store.RoomAccess(ctx, r.name, 0)
	if err != nil || a.Kind == store.RoomPublic {
		return
	}
	r.mu.Lock()
	r.kind = a.Kind
	cs := slices.Collect(maps.Keys(r.members))
	r.mu.Unlock()
	h.log.Warn("a room open here as public is now private: taking out its non-members", "room", r.name, "kind", a.Kind)
	frame := encodeRemoved(r.name)
	for _, c := range cs {
		if acc, err := h.store.RoomAccess(ctx, r.name, c.peer.UserID); err == nil && acc.CanRead() {
			continue
		}
		h.removeSocket(c, r.name, frame)
	}
}

// userSockets are the user's protocol sockets on this node but except. The
// hub's lock is held only to copy the set.
func (h *Hub) userSockets(userID int64, except *Client) []*Client {
	h.mu.Lock()
	defer h.mu.Unlock()
	cs := make([]*Client, 0, len(h.byUser[userID]))
	for c := range h.byUser[userID] {
		if c != except && !c.echo {
			cs = append(cs, c)
		}
	}
	return cs
}

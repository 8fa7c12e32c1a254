package chat

import (
	"context"
	"errors"

	"securechat/app/store"
)

// The rooms a user has joined belong to the account, not to a socket: the
// store keeps them with how far the user has read each (store.Membership),
// so a reload or another device opens the same rooms, with the same unread
// counts, in the room the user read last.
const (
	// maxUnreadCount is where the count of a room's unread messages stops:
	// counting costs a read of an index entry per message on every connect
	// (most of a handshake's cost was counting 999), and a page shows
	// "99+" anyway, as most chat products do.
	maxUnreadCount = 99
	// maxUnreadRooms is the most rooms the unread frame lists, the most
	// recently read first.
	maxUnreadRooms = 500
)

// sendUnread queues the unread frame: the user's rooms, with their counts,
// and the room read last. A user always belongs to the default room. The
// store calls are offloaded, under no lock. If the store fails, the socket
// goes on without the frame (it is still in the default room).
func (c *Client) sendUnread(ctx context.Context) {
	var ms []store.Membership
	err := offload(ctx, func(ctx context.Context) (err error) {
		// The store leaves out private rooms and dms the user is no longer a
		// member of (a membership a removal raced with a join left behind).
		if ms, err = c.hub.store.Memberships(ctx, c.peer.UserID, maxUnreadCount, maxUnreadRooms); err != nil {
			return err
		}
		for _, m := range ms {
			if m.Room == DefaultRoom {
				return nil
			}
		}
		// A new user (or one whose list is longer than the frame): the
		// default room is theirs too, read up to its newest message, as the
		// join that follows shows its recent history.
		head, _, err := c.hub.store.RoomHead(ctx, DefaultRoom)
		if err != nil {
			return err
		}
		if err := c.hub.store.JoinRoom(ctx, c.peer.UserID, DefaultRoom, head, c.hub.now()); err != nil {
			return err
		}
		if len(ms) < maxUnreadRooms {
			ms = append(ms, store.Membership{Room: DefaultRoom, ReadID: head})
		}
		return nil
	})
	if err != nil {
		c.hub.log.Error("list the user's rooms", "user", c.peer.User, "err", err)
		return
	}
	current := DefaultRoom
	if len(ms) > 0 {
		current = ms[0].Room
	}
	c.send(encodeUnread(ms, current))
}

// remember records that the user joined room, read up to readID (what the
// join showed). The join has happened on this socket; if the store fails, it
// is logged and the room is simply not among the user's rooms next time.
func (c *Client) remember(ctx context.Context, room string, readID int64) {
	err := offload(ctx, func(ctx context.Context) error {
		return c.hub.store.JoinRoom(ctx, c.peer.UserID, room, readID, c.hub.now())
	})
	if err != nil {
		c.hub.log.Error("record membership", "user", c.peer.User, "room", room, "err", err)
	}
}

// forget takes room out of the user's rooms; the default room is always theirs.
func (c *Client) forget(ctx context.Context, room string) error {
	if room == DefaultRoom {
		return nil
	}
	return offload(ctx, func(ctx context.Context) error {
		return c.hub.store.LeaveRoom(ctx, c.peer.UserID, room)
	})
}

// onRead moves the user's read position in a room (never backwards: the
// store keeps the greater) and, if it moved, tells the user's other sockets.
func (c *Client) onRead(ctx context.Context, f inbound) error {
	var id int64
	var moved bool
	err := offload(ctx, func(ctx context.Context) (err error) {
		id, moved, err = c.hub.store.MarkRead(ctx, c.peer.UserID, f.Room, f.ID, c.hub.now())
		if errors.Is(err, store.ErrNotFound) && c.inRoom(f.Room) {
			// Joined on this socket but not on record (the record failed,
			// or the room was pruned while empty): it is the user's.
			if err := c.hub.store.JoinRoom(ctx, c.peer.UserID, f.Room, 0, c.hub.now()); err != nil {
				return err
			}
			id, moved, err = c.hub.store.MarkRead(ctx, c.peer.UserID, f.Room, f.ID, c.hub.now())
		}
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return badFrame("not_joined", "join %s before reading it", f.Room)
	}
	if err != nil {
		return err
	}
	if moved {
		// The user's other sockets, here and on the other nodes.
		e := UserEvent{UserID: c.peer.UserID, Room: f.Room, Kind: UserRead, Frame: encodeRead(f.Room, id)}
		c.hub.applyUserEvent(e, c)
		if c.hub.broker != nil {
			if err := c.hub.broker.PublishUserEvent(e); err != nil {
				c.hub.log.Warn("publish read", "room", f.Room, "err", err)
			}
		}
	}
	return nil
}

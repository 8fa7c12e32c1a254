package chat

import (
	"context"
	"errors"
	"fmt"
	"time"

	"securechat/app/audit"
	"securechat/app/store"
)

// Edits and deletes are rows of the room's sequence (store.KindEdit,
// store.KindDelete): the persist loop stores them like messages, in the same
// transaction as the change of the message they target, and they travel the
// same way (delivery in Seq order, gap fill, replay with since, the bus) as
// edited and deleted frames. A room's recent cache applies them to the
// message instead of keeping them (room.fanOutLocked).
//
// A deleted text must leave the files, not only the rows: after a delete the
// scrub loop asks the store to make it unrecoverable (SQLite: a WAL
// checkpoint; secure_delete has zeroed the freed cells), coalesced and retried.
const (
	// scrubDelay gathers the deletes of a moment into one scrub.
	scrubDelay = time.Second
	// scrubRetry is the pause before a failed scrub (a busy checkpoint) is tried again.
	scrubRetry = time.Second
)

func (c *Client) onEdit(ctx context.Context, f inbound) error {
	return c.change(ctx, f, store.KindEdit)
}

func (c *Client) onDelete(ctx context.Context, f inbound) error {
	return c.change(ctx, f, store.KindDelete)
}

// change checks that the user may edit (the author) or delete (the author,
// the room's owner or an admin) message f.ID of a room they may read and
// have joined on this socket, and hands the change to the persist loop. The
// store checks the target again when it writes the change: a message deleted
// meanwhile is answered not_found.
func (c *Client) change(ctx context.Context, f inbound, kind string) error {
	a, err := c.mustRead(ctx, f.Room)
	if err != nil {
		return err
	}
	if !c.inRoom(f.Room) {
		return badFrame("not_joined", "join %s first", f.Room)
	}
	var m store.Message
	err = offload(ctx, func(ctx context.Context) (err error) {
		m, err = c.hub.store.Message(ctx, f.Room, f.ID)
		return err
	})
	if errors.Is(err, store.ErrNotFound) || err == nil && m.Deleted {
		return badFrame(codeNotFound, "%s has no message %d", f.Room, f.ID)
	}
	if err != nil {
		return fmt.Errorf("read message %d: %w", f.ID, err)
	}
	own := m.UserID != 0 && m.UserID == c.peer.UserID
	if kind == store.KindEdit && !own {
		return badFrame(codeForbidden, "only its author may edit a message")
	}
	if kind == store.KindDelete && !own {
		moderator := a.Role == store.MemberOwner
		if !moderator {
			if moderator, err = c.isAdmin(ctx); err != nil {
				return err
			}
		}
		if !moderator {
			return badFrame(codeForbidden, "only its author, the room's owner or an admin may delete a message")
		}
		c.hub.audit.Record(ctx, store.AuditEvent{Event: audit.MessageDeleted, Actor: c.peer.User, Subject: m.User,
			Address: c.peer.Remote, SessionID: c.peer.SessionID, Detail: fmt.Sprintf("%s #%d", f.Room, f.ID)})
	}
	text := f.Text
	if kind == store.KindDelete {
		text = ""
	}
	return c.hub.submitMessage(c, store.NewMessage{Room: f.Room, UserID: c.peer.UserID, User: c.peer.User, Text: text,
		TS: c.hub.now(), Kind: kind, Target: f.ID}, f.Ref)
}

// scrubSoon asks the scrub loop for a scrub; one asked while another is
// pending is the same.
func (h *Hub) scrubSoon() {
	select {
	case h.scrubs <- struct{}{}:
	default:
	}
}

// scrubLoop runs the store's Scrub scrubDelay after a delete, and again each
// scrubRetry while it fails. A delete stored while a scrub runs asks for
// another, so every delete is followed by a whole scrub.
func (h *Hub) scrubLoop() {
	defer h.wg.Done()
	for {
		select {
		case <-h.stop:
			return
		case <-h.scrubs:
		}
		for wait := scrubDelay; ; wait = scrubRetry {
			select {
			case <-h.stop:
				return
			case <-time.After(wait):
			}
			// This scrub covers every delete stored before it starts.
			select {
			case <-h.scrubs:
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
			err := h.store.Scrub(ctx)
			cancel()
			if err == nil {
				break
			}
			h.log.Warn("scrub deleted text from the store's files", "err", err)
		}
	}
}

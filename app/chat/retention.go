package chat

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"securechat/app/store"
)

// checkRetention: a retention names a room and 0 (the server's default) to
// store.MaxRetentionDays days.
func checkRetention(f *inbound, _ int) error {
	if err := checkRoom(f.Room); err != nil {
		return err
	}
	if f.Days < 0 || f.Days > store.MaxRetentionDays {
		return badFrame("bad_frame", "days must be 0 (the server's retention) to %d", store.MaxRetentionDays)
	}
	return nil
}

// onRetention sets how many days a room keeps its messages: its owner may
// for a private room, an admin for any room. A room that does not exist and
// one the user may not set look the same (forbidden). Messages past the new
// retention go at the expirer's next pass (within a minute).
func (c *Client) onRetention(ctx context.Context, f inbound) error {
	a, exists, err := c.access(ctx, f.Room)
	if err != nil {
		return err
	}
	if !exists {
		return forbidden(f.Room)
	}
	if a.Kind != store.RoomPrivate || a.Role != store.MemberOwner {
		admin, err := c.isAdmin(ctx)
		if err != nil {
			return err
		}
		if !admin {
			return forbidden(f.Room)
		}
	}
	err = offload(ctx, func(ctx context.Context) error { return c.hub.store.SetRoomRetention(ctx, f.Room, f.Days) })
	if errors.Is(err, store.ErrNotFound) {
		return forbidden(f.Room) // pruned meanwhile
	}
	if err != nil {
		return fmt.Errorf("set retention of %s: %w", f.Room, err)
	}
	c.send(encodeRetention(f.Room, f.Days))
	return nil
}

// encodeRetention answers a retention frame with what the room now keeps.
func encodeRetention(room string, days int) []byte {
	return mustJSON(struct {
		Type frameType `json:"type"`
		Room string    `json:"room"`
		Days int       `json:"days"`
	}{typeRetention, room, days})
}

// ForgetExpired drops from the recent history of every room this node holds
// the messages that retention has deleted from the store (sent before
// cutoff(room), to the millisecond as the store compares; a zero cutoff keeps
// all), so that a join's history agrees with the store's. The expirer calls
// it after each pass on every node, whichever node deleted the rows.
func (h *Hub) ForgetExpired(cutoff func(room string) time.Time) {
	h.mu.Lock()
	rooms := slices.Collect(maps.Values(h.rooms))
	h.mu.Unlock()
	for _, r := range rooms {
		cut := cutoff(r.name)
		if cut.IsZero() {
			continue
		}
		r.mu.Lock()
		// A change row goes with its message, as in the store.
		gone := map[int64]bool{}
		for _, m := range r.recent {
			if m.TS.UnixMilli() < cut.UnixMilli() && m.Kind == store.KindMessage {
				gone[m.ID] = true
			}
		}
		expired := func(m store.Message) bool {
			return gone[m.ID] || m.Kind != store.KindMessage && (gone[m.Target] || m.TS.UnixMilli() < cut.UnixMilli())
		}
		if slices.ContainsFunc(r.recent, expired) {
			r.recent = slices.DeleteFunc(slices.Clone(r.recent), expired)
			r.recentFrame = nil
		}
		r.mu.Unlock()
	}
}

// ScrubSoon has the scrub loop make what retention deleted unrecoverable
// from the store's files, as it does after a delete.
func (h *Hub) ScrubSoon() { h.scrubSoon() }

package chat

import (
	"context"
	"strconv"
	"strings"
	"time"

	"securechat/app/store"
)

// The room list is answered a page at a time: with thousands of rooms, the
// whole list was most of a megabyte per request and per page poll.
const (
	defaultRoomsPage = 50  // rooms in an answer to a rooms request without limit
	maxRoomsPage     = 200 // most rooms one answer holds
)

// checkRoomsRequest validates a rooms request's prefix, limit and cursor, and
// fills in the default limit.
func checkRoomsRequest(f *inbound, _ int) error {
	if f.Prefix != "" && !ValidRoom(f.Prefix) {
		return badFrame("bad_room", "a prefix is up to %d of a-z, 0-9, - and _", maxRoomName)
	}
	if f.Limit < 0 || f.Limit > maxRoomsPage {
		return badFrame("bad_frame", "limit must be 0 to %d", maxRoomsPage)
	}
	if f.Limit == 0 {
		f.Limit = defaultRoomsPage
	}
	if f.Cursor != "" {
		if _, ok := parseRoomCursor(f.Cursor); !ok {
			return badFrame("bad_frame", "cursor must be the next of a rooms answer")
		}
	}
	return nil
}

// A cursor is "MILLISECONDS.NAME": the last activity (Unix milliseconds, as
// the store keeps it) and name of the last room of a page. Clients treat it
// as opaque.
func formatRoomCursor(r store.Room) string {
	return strconv.FormatInt(r.LastActivity.UnixMilli(), 10) + "." + r.Name
}

func parseRoomCursor(s string) (store.RoomCursor, bool) {
	at, name, ok := strings.Cut(s, ".")
	msec, err := strconv.ParseInt(at, 10, 64)
	if !ok || err != nil || msec < 0 || !ValidRoom(name) {
		return store.RoomCursor{}, false
	}
	return store.RoomCursor{LastActivity: time.UnixMilli(msec).UTC(), Name: name}, true
}

// listRooms answers a rooms request with one page of the list, most recently
// active first, leaving out the rooms that never had a message once they are
// older than the empty-room TTL.
func (h *Hub) listRooms(ctx context.Context, c *Client, f inbound) error {
	// UserID: the list holds public rooms and the caller's private rooms and dms only.
	q := store.RoomQuery{Prefix: f.Prefix, Limit: f.Limit, UserID: c.peer.UserID}
	if f.Cursor != "" {
		cur, _ := parseRoomCursor(f.Cursor) // checked by decodeFrame
		q.After = &cur
	}
	if h.limits.EmptyRoomTTL > 0 {
		q.EmptyBefore = h.now().Add(-h.limits.EmptyRoomTTL)
	}
	var rooms []store.Room
	err := offload(ctx, func(ctx context.Context) (err error) {
		rooms, err = h.store.Rooms(ctx, q)
		return err
	})
	if err != nil {
		return err
	}
	next := ""
	if len(rooms) == q.Limit {
		next = formatRoomCursor(rooms[len(rooms)-1])
	}
	c.send(encodeRooms(rooms, f.Prefix, next))
	return nil
}

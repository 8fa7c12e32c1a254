// Package export writes a user's own data, or a room's messages, as one JSON
// document, streamed: messages are read from the store a page at a time and
// written out as they come, so an export of a million messages holds one page
// in memory, not the million.
//
// A user's export holds their account (never the password hash, the
// two-factor secret or recovery codes), their live sessions as their settings
// page lists them (public ids only), their memberships (the names of the
// rooms they joined, with read positions) and the messages they wrote, and
// nothing written by anyone else: no other user's message, of any room,
// public or private. A deleted message's text is not stored, so it is not
// exported either.
package export

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"securechat/app/auth"
	"securechat/app/store"
)

// Store is what an export reads.
type Store interface {
	UserMessages(ctx context.Context, userID, after int64, limit int) ([]store.Message, error)
	MessagesAfter(ctx context.Context, room string, after int64, limit int) ([]store.Message, error)
	Memberships(ctx context.Context, userID int64, maxUnread, limit int) ([]store.Membership, error)
	RoomExists(ctx context.Context, name string) (bool, error)
}

// Format names the documents this package writes; Version changes when a
// field's meaning does.
const (
	FormatUser = "securechat-user-export"
	FormatRoom = "securechat-room-export"
	Version    = 1
)

const (
	// pageSize is how many messages are read and written at a time.
	pageSize = 500
	// MaxMemberships bounds the rooms listed in a user's export (they are
	// read in one query); past it the document says memberships_truncated.
	MaxMemberships = 10000
	// bufferSize is the writer's buffer; it is flushed after every page, so
	// a reader sees progress.
	bufferSize = 32 << 10
)

// ErrNoRoom is a room export of a room that does not exist.
var ErrNoRoom = errors.New("no such room")

// Exporter writes exports from a store.
type Exporter struct {
	store Store
	now   func() time.Time
}

// New returns an exporter reading s; now stamps each document.
func New(s Store, now func() time.Time) *Exporter {
	return &Exporter{store: s, now: now}
}

// Account is the account part of a user's export: who they are, never a
// credential.
type Account struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	TwoFactor bool      `json:"two_factor"`
}

// membership is one room the user joined.
type membership struct {
	Room   string    `json:"room"`
	ReadID int64     `json:"read_id"`
	ReadAt time.Time `json:"read_at"`
}

// ownMessage is one of the user's messages in their export.
type ownMessage struct {
	ID       int64      `json:"id"`
	Room     string     `json:"room"`
	TS       time.Time  `json:"ts"`
	Text     string     `json:"text"`
	Kind     string     `json:"kind,omitempty"`
	Target   int64      `json:"target,omitempty"`
	EditedAt *time.Time `json:"edited_at,omitempty"`
	Deleted  bool       `json:"deleted,omitempty"`
}

// roomMessage is one message of a room export.
type roomMessage struct {
	ID       int64      `json:"id"`
	Seq      int64      `json:"seq"`
	User     string     `json:"user"`
	UserID   int64      `json:"user_id"`
	TS       time.Time  `json:"ts"`
	Text     string     `json:"text"`
	Kind     string     `json:"kind,omitempty"`
	Target   int64      `json:"target,omitempty"`
	EditedAt *time.Time `json:"edited_at,omitempty"`
	Deleted  bool       `json:"deleted,omitempty"`
}

func editedAt(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// User writes acct's export to w: the account, sessions (as the caller
// listed them for this user), memberships and every message the user wrote,
// oldest first. It returns how many messages it wrote. An error after the
// first byte leaves w with an incomplete document, which no JSON reader
// accepts.
func (x *Exporter) User(ctx context.Context, w io.Writer, acct Account, sessions []auth.SessionInfo) (int, error) {
	ms, err := x.store.Memberships(ctx, acct.ID, 0, MaxMemberships+1)
	if err != nil {
		return 0, fmt.Errorf("export %s: %w", acct.Name, err)
	}
	truncated := len(ms) > MaxMemberships
	if truncated {
		ms = ms[:MaxMemberships]
	}
	rooms := make([]membership, len(ms))
	for i, m := range ms {
		rooms[i] = membership{Room: m.Room, ReadID: m.ReadID, ReadAt: m.ReadAt}
	}
	if sessions == nil {
		sessions = []auth.SessionInfo{}
	}
	head := struct {
		Format     string             `json:"format"`
		Version    int                `json:"version"`
		ExportedAt time.Time          `json:"exported_at"`
		Account    Account            `json:"account"`
		Sessions   []auth.SessionInfo `json:"sessions"`
		Member     []membership       `json:"memberships"`
		Truncated  bool               `json:"memberships_truncated,omitempty"`
	}{FormatUser, Version, x.now().UTC(), acct, sessions, rooms, truncated}
	return x.stream(ctx, w, head, func(ctx context.Context, after int64) ([]store.Message, error) {
		return x.store.UserMessages(ctx, acct.ID, after, pageSize)
	}, func(m store.Message) any {
		return ownMessage{ID: m.ID, Room: m.Room, TS: m.TS, Text: m.Text, Kind: m.Kind, Target: m.Target, EditedAt: editedAt(m.EditedAt), Deleted: m.Deleted}
	})
}

// Room writes every message of room to w, oldest first, and returns how
// many; ErrNoRoom (before writing anything) if the room does not exist.
func (x *Exporter) Room(ctx context.Context, w io.Writer, room string) (int, error) {
	ok, err := x.store.RoomExists(ctx, room)
	if err != nil {
		return 0, fmt.Errorf("export room %s: %w", room, err)
	}
	if !ok {
		return 0, fmt.Errorf("export room %q: %w", room, ErrNoRoom)
	}
	head := struct {
		Format     string    `json:"format"`
		Version    int       `json:"version"`
		ExportedAt time.Time `json:"exported_at"`
		Room       string    `json:"room"`
	}{FormatRoom, Version, x.now().UTC(), room}
	return x.stream(ctx, w, head, func(ctx context.Context, after int64) ([]store.Message, error) {
		return x.store.MessagesAfter(ctx, room, after, pageSize)
	}, func(m store.Message) any {
		return roomMessage{ID: m.ID, Seq: m.Seq, User: m.User, UserID: m.UserID, TS: m.TS, Text: m.Text, Kind: m.Kind, Target: m.Target, EditedAt: editedAt(m.EditedAt), Deleted: m.Deleted}
	})
}

// stream writes head (a JSON object) with a "messages" array added after
// its fields, filled page by page from next, each message as shape makes it.
func (x *Exporter) stream(ctx context.Context, w io.Writer, head any, next func(context.Context, int64) ([]store.Message, error), shape func(store.Message) any) (int, error) {
	h, err := json.Marshal(head)
	if err != nil {
		return 0, fmt.Errorf("export: %w", err)
	}
	bw := bufio.NewWriterSize(w, bufferSize)
	// The head's closing brace gives way to the messages array.
	bw.Write(h[:len(h)-1])
	bw.WriteString(`,"messages":[`)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	n := 0
	after := int64(0)
	for {
		page, err := next(ctx, after)
		if err != nil {
			return n, fmt.Errorf("export: read messages after %d: %w", after, err)
		}
		for _, m := range page {
			if n > 0 {
				bw.WriteByte(',')
			}
			// Encode ends each value with a newline: one message a line.
			if err := enc.Encode(shape(m)); err != nil {
				return n, fmt.Errorf("export: %w", err)
			}
			n++
		}
		if err := bw.Flush(); err != nil {
			return n, fmt.Errorf("export: write: %w", err)
		}
		if len(page) < pageSize {
			break
		}
		after = page[len(page)-1].ID
	}
	bw.WriteString("]}\n")
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("export: write: %w", err)
	}
	return n, nil
}

// AccountOf is the export's account part of u: its name, role and creation,
// not its password hash.
func AccountOf(u store.User, twoFactor bool) Account {
	return Account{ID: u.ID, Name: u.Name, Role: u.Role, CreatedAt: u.CreatedAt, TwoFactor: twoFactor}
}

// Package store defines the records securechat keeps and the errors its storage
// back ends return. The back ends live in subpackages; the services that use
// them declare the small interfaces they need.
package store

import (
	"errors"
	"time"
)

// Errors every back end returns for the same conditions.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
)

// User is an account.
type User struct {
	ID           int64
	Name         string
	PasswordHash string
	CreatedAt    time.Time
}

// Session is one login; revoking it ends every token issued for it.
type Session struct {
	ID        string
	UserID    int64
	CreatedAt time.Time
	ExpiresAt time.Time
}

// SessionUser is a live session joined with its user, as a token check needs it.
type SessionUser struct {
	SessionID string
	UserID    int64
	UserName  string
	CreatedAt time.Time // the login; a session ends at most the maximum age after it
	ExpiresAt time.Time
}

// Revocation records that a session ended before its expiry. Seq increases, so a
// server can poll for the ones it has not seen (including those made by the CLI).
type Revocation struct {
	Seq       int64
	SessionID string
}

// NewMessage is a chat message before it is stored.
type NewMessage struct {
	Room string
	User string
	Text string
	TS   time.Time
}

// Message is a stored chat message. IDs are unique and increase across all
// rooms; Seq numbers a room's messages 1, 2, 3… with no gaps, in the same order
// as their ids, so a node that receives messages from others can tell when one
// is missing.
type Message struct {
	ID   int64
	Seq  int64
	Room string
	User string
	Text string
	TS   time.Time
}

// Room is a room with its latest activity.
type Room struct {
	Name         string
	LastID       int64
	LastActivity time.Time
}

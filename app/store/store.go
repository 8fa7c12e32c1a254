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
	Role         string // RoleMember or RoleAdmin
}

// The roles of an account. An admin may read the audit log; everything else
// is the same for both.
const (
	RoleMember = "member"
	RoleAdmin  = "admin"
)

// Session is one login; revoking it ends every token issued for it.
type Session struct {
	ID        string
	UserID    int64
	CreatedAt time.Time
	ExpiresAt time.Time

	// What the owner sees in their session list, recorded at creation.
	Kind      string // SessionBrowser, SessionToken or SessionPAT
	Name      string // a personal access token's name; "" for the others
	Address   string // the client address as the web layer saw it
	UserAgent string // truncated
	// LastSeen is when a token of the session last authenticated, to the
	// minute (it is written at most once a minute).
	LastSeen time.Time
}

// The kinds of session.
const (
	SessionBrowser = "browser" // a login form, a sign-up or a password change
	SessionToken   = "token"   // POST /token
	SessionPAT     = "pat"     // a personal access token; its id is the token's hash
)

// SessionUser is a live session joined with its user, as a token check needs it.
type SessionUser struct {
	SessionID string
	UserID    int64
	UserName  string
	CreatedAt time.Time // the login; a session ends at most the maximum age after it
	ExpiresAt time.Time
	Kind      string
	LastSeen  time.Time
}

// Revocation records that a session ended before its expiry. Seq increases, so a
// server can poll for the ones it has not seen (including those made by the CLI).
type Revocation struct {
	Seq       int64
	SessionID string
}

// NewMessage is a chat message before it is stored.
type NewMessage struct {
	Room   string
	UserID int64 // the author's account; a name alone is not an identity
	User   string
	Text   string
	TS     time.Time
	// Kind is KindMessage, or a change of the message Target of the same
	// room: KindEdit (Text is the new text; only the author's own message)
	// or KindDelete (Text empty). The caller has checked who may do it.
	Kind   string
	Target int64
	// Mentions are the account names a message's text mentions (@name),
	// distinct, bounded by the caller; nil for most messages. The store
	// records a mention (store.Message.Mentioned) for each that names a
	// member of the room who may read it, other than the author, in the
	// same transaction as the message. Changes carry none.
	Mentions []string
}

// Message is a stored chat message. IDs are unique and increase across all
// rooms; Seq numbers a room's messages 1, 2, 3… with no gaps, in the same order
// as their ids, so a node that receives messages from others can tell when one
// is missing.
//
// UserID is the author's account. Messages stored before ids were recorded
// carry the id of the account of that name if it existed when the message was
// written, otherwise 0 (an account deleted before the upgrade). Deleted
// accounts' names are never given out again, so User always names the one
// account that wrote the message.
type Message struct {
	ID     int64
	Seq    int64
	Room   string
	UserID int64
	User   string
	Text   string
	TS     time.Time

	// Kind and Target: see NewMessage. A message row (KindMessage) shows its
	// current text: EditedAt is when it was last edited (zero: never), and
	// Deleted means it was deleted: Text and User are empty, UserID is 0.
	Kind     string
	Target   int64
	EditedAt time.Time
	Deleted  bool
	// Mentioned are the accounts AppendMessages recorded a mention of this
	// message for (see NewMessage.Mentions); only on what AppendMessages
	// returns, never read back.
	Mentioned []int64
}

// Room is a room with its latest activity: its last message, or when it was
// first joined if it has none.
type Room struct {
	Name         string
	LastID       int64
	LastActivity time.Time
	Kind         string // RoomPublic, RoomPrivate or RoomDM
}

// RoomQuery selects one page of the room list, most recently active first
// (ties by name, descending): that order is keyed by (LastActivity, Name), so
// the next page starts strictly after the last room of the previous one
// without an offset.
type RoomQuery struct {
	Prefix string      // only names that start with it ("" all)
	After  *RoomCursor // the last room of the previous page; nil: the first page
	Limit  int         // most rooms returned; the caller bounds it
	// EmptyBefore leaves out rooms that never had a message and were created
	// before it (zero: none left out), so spam rooms drop off the list.
	EmptyBefore time.Time
	// UserID is who asks: the list holds public rooms and the private rooms
	// and dms this user is a member of, never another's.
	UserID int64
}

// RoomCursor is a position in the room list: the room it names and every room
// before it have been listed.
type RoomCursor struct {
	LastActivity time.Time
	Name         string
}

// PrefixEnd is the smallest string above every string that starts with
// prefix, for a range scan: prefix with its last byte increased. Room names
// are ASCII, so the last byte is below 0x7f and the result stays valid text.
func PrefixEnd(prefix string) string {
	b := []byte(prefix)
	b[len(b)-1]++
	return string(b)
}

// TOTP is a user's authenticator (RFC 6238) secret. Secret is as the
// service stored it (encrypted); the store never reads it. A secret is
// pending until the user confirms it with a code; only a confirmed one asks
// for a second factor at login. LastStep is the time step of the last code
// accepted, so that no code is accepted twice.
type TOTP struct {
	UserID    int64
	Secret    string
	Confirmed bool
	LastStep  int64
}

// AuditEvent is one row of the audit log: a security event, who did it, to
// whom, and from where. Users are recorded by name, so a row stays readable
// after its account is deleted; Actor is "cli" for the command line.
type AuditEvent struct {
	ID        int64
	Time      time.Time
	Event     string
	Actor     string
	Subject   string
	Address   string
	UserAgent string
	SessionID string
	Detail    string
}

// AuditQuery selects a page of the audit log, newest first.
type AuditQuery struct {
	User   string // only rows whose actor or subject is this name ("" all)
	Event  string // only this event ("" all)
	Before int64  // only ids below it (0: from the newest)
	Limit  int    // most rows; at most MaxAuditPage (0 or more: MaxAuditPage)
}

// MaxAuditPage is the most audit rows one query returns, so that an admin's
// request cannot make the server read the whole log.
const MaxAuditPage = 200

// Membership is a user's place in a room: the rooms a user has joined belong
// to the account, so every device sees the same ones, read up to the same
// message.
type Membership struct {
	Room   string
	Kind   string    // the room's kind (RoomPublic if it is not recorded)
	ReadID int64     // the newest message the user has seen; never moves back
	ReadAt time.Time // when the user last read the room (or joined it)
	Unread int       // messages after ReadID, counted up to the bound asked for
	// Mentions are the mentions of the user in messages after ReadID that
	// are not deleted, counted up to the same bound.
	Mentions int
}

// The kinds of room. A public room is readable by every account; a private
// room and a dm only by their members (RoomMember rows). A dm is a
// conversation of 2 to 8 users fixed when it is opened: nobody is added or
// removed, and it has no owner.
const (
	RoomPublic  = "public"
	RoomPrivate = "private"
	RoomDM      = "dm"
)

// The roles of a room member. The owner (the creator of a private room) may
// invite and remove members and delete any message of the room.
const (
	MemberOwner  = "owner"
	MemberMember = "member"
)

// DMPrefix starts the name of every dm room (the server chooses it); no user
// may create a room whose name starts with it.
const DMPrefix = "dm-"

// Access is what one user may do in one room: its kind, and the user's role
// there ("" if not a member). A public room is readable without a role.
type Access struct {
	Kind string // RoomPublic, RoomPrivate or RoomDM
	Role string // MemberOwner, MemberMember or "" (not a member)
}

// CanRead reports whether the user may read and write the room.
func (a Access) CanRead() bool { return a.Kind == RoomPublic || a.Role != "" }

// RoomMember is one member of a private room or dm.
type RoomMember struct {
	UserID int64
	Name   string
	Role   string
}

// The kinds of stored row in a room's sequence. A change (an edit or a
// delete of an earlier message) is stored in the room's sequence like a
// message, with an id and a Seq of its own, so that everything that carries
// messages in order (delivery, gap fill, replay with since, the bus) carries
// changes in the same order; its Target is the message it changes.
const (
	KindMessage = "" // an ordinary message
	KindEdit    = "edit"
	KindDelete  = "delete"
)

// MaxRetentionDays is the longest retention a room may be given (ten years).
const MaxRetentionDays = 3650

// ExpiresBefore is when a message of a room expires under retention: the
// later of the server's cutoff (zero: none) and the room's own (days > 0:
// now minus that many days). A room's retention can only shorten the
// server's, so an owner cannot keep messages longer than the operator's
// policy. Zero: nothing in the room expires.
func ExpiresBefore(serverCutoff time.Time, days int, now time.Time) time.Time {
	cut := serverCutoff
	if days > 0 {
		if own := now.Add(-time.Duration(days) * 24 * time.Hour); own.After(cut) {
			cut = own
		}
	}
	return cut
}

// Package storetest is the conformance suite every storage back end passes, so
// that the services behave the same on each. A back end's test runs it:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) func() storetest.Store {
//			where := newEmptyDatabase(t) // removed by a t.Cleanup
//			return func() storetest.Store { return openHandle(t, where) }
//		})
//	}
package storetest

import (
	"context"
	"testing"
	"time"

	"securechat/app/store"
)

// Store is every method a back end provides; the services each use a subset.
type Store interface {
	CreateUser(ctx context.Context, name, passwordHash string, now time.Time) (store.User, error)
	UserByName(ctx context.Context, name string) (store.User, error)
	ListUsers(ctx context.Context) ([]store.User, error)
	SetPasswordHash(ctx context.Context, userID int64, hash string, now time.Time) error
	DeleteUser(ctx context.Context, userID int64, now time.Time) error
	SetUserRole(ctx context.Context, userID int64, role string) error
	CreateUserAdminIfFirst(ctx context.Context, name, passwordHash string, now time.Time) (store.User, error)

	CreateSession(ctx context.Context, s store.Session) error
	LiveSession(ctx context.Context, sessionID string, now time.Time) (store.SessionUser, error)
	ExtendSession(ctx context.Context, sessionID string, exp time.Time) error
	RevokeSession(ctx context.Context, sessionID string, now time.Time) error
	LastRevocation(ctx context.Context) (int64, error)
	RevocationsAfter(ctx context.Context, seq int64) ([]store.Revocation, error)
	PruneSessions(ctx context.Context, before time.Time) (int64, error)
	PruneRevocations(ctx context.Context, before time.Time) (int64, error)
	UserSessions(ctx context.Context, userID int64, now time.Time) ([]store.Session, error)
	TouchSessions(ctx context.Context, sessionIDs []string, at time.Time) error

	AppendMessages(ctx context.Context, msgs []store.NewMessage) ([]store.Message, error)
	MessagesBefore(ctx context.Context, room string, before int64, limit int) ([]store.Message, error)
	MessagesAfter(ctx context.Context, room string, after int64, limit int) ([]store.Message, error)
	TouchRoom(ctx context.Context, name string, now time.Time) (created bool, err error)
	RoomExists(ctx context.Context, name string) (bool, error)
	Rooms(ctx context.Context, q store.RoomQuery) ([]store.Room, error)
	PruneEmptyRooms(ctx context.Context, before time.Time) (int64, error)
	RoomHead(ctx context.Context, room string) (lastID, lastSeq int64, err error)
	Message(ctx context.Context, room string, id int64) (store.Message, error)
	Scrub(ctx context.Context) error
	SearchMessages(ctx context.Context, q store.SearchQuery) ([]store.Message, error)
	MessagesAround(ctx context.Context, room string, id int64, limit int) ([]store.Message, error)
	SetRoomRetention(ctx context.Context, room string, days int) error
	RoomRetentions(ctx context.Context) (map[string]int, error)
	ExpireMessages(ctx context.Context, serverCutoff, now time.Time, limit int) (int, error)

	CreateRoom(ctx context.Context, name, kind string, ownerID int64, now time.Time) error
	RoomAccess(ctx context.Context, room string, userID int64) (store.Access, error)
	AddMember(ctx context.Context, room string, userID int64, role string, now time.Time) (added bool, err error)
	RemoveMember(ctx context.Context, room string, userID int64) (removed bool, err error)
	RoomMembers(ctx context.Context, room string, limit int) ([]store.RoomMember, error)
	OpenDM(ctx context.Context, userIDs []int64, now time.Time) (room string, created bool, err error)
	UserMessages(ctx context.Context, userID, after int64, limit int) ([]store.Message, error)

	JoinRoom(ctx context.Context, userID int64, room string, readID int64, now time.Time) error
	LeaveRoom(ctx context.Context, userID int64, room string) error
	MarkRead(ctx context.Context, userID int64, room string, id int64, now time.Time) (readID int64, moved bool, err error)
	Memberships(ctx context.Context, userID int64, maxUnread, limit int) ([]store.Membership, error)

	PutTOTP(ctx context.Context, userID int64, secret string, now time.Time) error
	TOTP(ctx context.Context, userID int64) (store.TOTP, error)
	ConfirmTOTP(ctx context.Context, userID, step int64, recoveryHashes []string) error
	UseTOTPStep(ctx context.Context, userID, step int64) (bool, error)
	UseRecoveryCode(ctx context.Context, userID int64, hash string) (bool, error)
	RecoveryCodesLeft(ctx context.Context, userID int64) (int, error)
	DeleteTOTP(ctx context.Context, userID int64) error
	ResealTOTP(ctx context.Context, userID int64, old, sealed string) error

	AppendAudit(ctx context.Context, e store.AuditEvent) (int64, error)
	AuditEvents(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error)
	PruneAudit(ctx context.Context, before time.Time) (int64, error)

	Close() error
}

// NewDB makes an empty database for one test and returns open, which opens a
// new handle on that database each time it is called: separate handles are
// what separate server nodes (or the CLI beside a server) are, so they must
// not share connections. Both fail t on error. Run calls open only from the
// test's goroutine, and closes each handle it opens; NewDB removes the
// database with t.Cleanup (which runs after those closes). NewDB is called
// from parallel tests.
type NewDB func(t *testing.T) (open func() Store)

// Run runs the suite, each case on a database of its own.
func Run(t *testing.T, newDB NewDB) {
	for _, group := range []struct {
		name  string
		cases []scenario
	}{
		{"Users", userCases},
		{"Sessions", sessionCases},
		{"Revocations", revocationCases},
		{"Messages", messageCases},
		{"Rooms", roomCases},
		{"RoomPages", roomPageCases},
		{"Memberships", membershipCases},
		{"Private", privateCases},
		{"Changes", changeCases},
		{"Mentions", mentionCases},
		{"Search", searchCases},
		{"Concurrent", concurrentCases},
		{"TOTP", totpCases},
		{"Audit", auditCases},
		{"FirstAdmin", firstAdminCases},
		{"Export", exportCases},
		{"Retention", retentionCases},
	} {
		t.Run(group.name, func(t *testing.T) {
			for _, sc := range group.cases {
				t.Run(sc.name, func(t *testing.T) {
					t.Parallel()
					sc.run(t, newEnv(t, newDB))
				})
			}
		})
	}
}

// scenario is one case: a fresh database and what to do with it.
type scenario struct {
	name string
	run  func(t *testing.T, e *env)
}

// env is what a scenario works with: a first handle, and a way to open more.
type env struct {
	Store
	ctx  context.Context
	open func() Store
}

func newEnv(t *testing.T, newDB NewDB) *env {
	t.Helper()
	e := &env{ctx: t.Context(), open: newDB(t)}
	e.Store = e.handle(t)
	return e
}

// handle opens another handle on the scenario's database, closed when t ends.
func (e *env) handle(t *testing.T) Store {
	t.Helper()
	s := e.open()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// base is the scenarios' clock. Its nanoseconds check that times are kept to
// the millisecond, like SQLite's.
var base = time.Date(2030, 1, 2, 3, 4, 5, 678_901_234, time.UTC)

// at is base plus d.
func at(d time.Duration) time.Time { return base.Add(d) }

// stored is what a back end gives back for a time it stored.
func stored(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }

// checkTime fails t unless got is want as stored: to the millisecond, in UTC.
func checkTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(stored(want)) || got.Location() != time.UTC {
		t.Errorf("%s = %v; want %v (UTC, to the millisecond)", what, got, stored(want))
	}
}

// must fails t now if err is not nil.
func must(t *testing.T, err error, doing string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", doing, err)
	}
}

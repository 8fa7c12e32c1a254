package move

import (
	"context"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"securechat/app/store"
	"securechat/app/store/postgres"
	"securechat/app/store/postgres/pgtest"
	"securechat/app/store/sqlite"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 678_000_000, time.UTC)

// fixture is a SQLite store with a row in every table.
type fixture struct {
	rooms   []string
	alice   store.User
	maxID   int64 // the highest message id SQLite gave
	deleted int64 // the id of a user deleted last (the highest user id)
}

func fill(t *testing.T, ctx context.Context, dir string) fixture {
	t.Helper()
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	alice, err := db.CreateUser(ctx, "alice", "hash-a", t0)
	must(err)
	bob, err := db.CreateUser(ctx, "bob", "hash-b", t0)
	must(err)
	must(db.SetUserRole(ctx, alice.ID, store.RoleAdmin))
	must(db.CreateSession(ctx, store.Session{ID: "s1", UserID: alice.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), Kind: store.SessionBrowser, Address: "1.2.3.4"}))
	must(db.CreateSession(ctx, store.Session{ID: "s2", UserID: bob.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), Kind: store.SessionToken}))
	must(db.RevokeSession(ctx, "s2", t0))
	must(db.PutTOTP(ctx, alice.ID, "sealed", t0))
	must(db.ConfirmTOTP(ctx, alice.ID, 7, []string{"r1", "r2"}))
	_, err = db.AppendAudit(ctx, store.AuditEvent{Time: t0, Event: "login", Actor: "alice", Subject: "alice"})
	must(err)
	must(db.CreateRoom(ctx, "secret", store.RoomPrivate, alice.ID, t0))
	_, err = db.AddMember(ctx, "secret", bob.ID, store.MemberMember, t0)
	must(err)
	dm, _, err := db.OpenDM(ctx, []int64{alice.ID, bob.ID}, t0)
	must(err)
	m := func(room string, u store.User, text string, kind string, target int64) store.NewMessage {
		return store.NewMessage{Room: room, UserID: u.ID, User: u.Name, Text: text, TS: t0.Add(time.Minute), Kind: kind, Target: target}
	}
	got, err := db.AppendMessages(ctx, []store.NewMessage{m("general", alice, "hello\x00nul", "", 0), m("secret", alice, "private", "", 0), m(dm, bob, "dm text", "", 0)})
	must(err)
	_, err = db.AppendMessages(ctx, []store.NewMessage{m("secret", alice, "private v2", store.KindEdit, got[1].ID), m(dm, bob, "", store.KindDelete, got[2].ID)})
	must(err)
	must(db.JoinRoom(ctx, alice.ID, "general", got[0].ID, t0))
	must(db.JoinRoom(ctx, bob.ID, "general", got[0].ID, t0))
	mention := m("general", bob, "last, @alice", "", 0)
	mention.Mentions = []string{"alice"}
	last, err := db.AppendMessages(ctx, []store.NewMessage{mention})
	must(err)
	must(db.SetRoomRetention(ctx, "secret", 30))
	// The newest message and the newest user are deleted: their ids must not come again.
	must(db.DeleteUser(ctx, bob.ID+0, t0)) // bob's name is reserved (deleted_names)
	carol, err := db.CreateUser(ctx, "carol", "hash-c", t0)
	must(err)
	must(db.DeleteUser(ctx, carol.ID, t0))
	return fixture{rooms: []string{"general", "secret", dm}, alice: alice, maxID: last[0].ID, deleted: carol.ID}
}

func TestMoveCopiesEverything(t *testing.T) {
	ctx := t.Context()
	dir, dsn := t.TempDir(), pgtest.Start(t)
	fx := fill(t, ctx, dir)
	var report strings.Builder
	counts, err := ToPostgres(ctx, dir, dsn, &report)
	if err != nil {
		t.Fatalf("move: %v\n%s", err, report.String())
	}
	t.Log(report.String())
	if len(counts) != len(tables) {
		t.Errorf("%d counts for %d tables", len(counts), len(tables))
	}
	for _, c := range counts {
		if c.SQLite == 0 {
			t.Errorf("the fixture has no rows in %s: the test would not see it lost", c.Table)
		}
	}

	src, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	// Every row of every room, as replay and history see them.
	for _, room := range fx.rooms {
		a, err := src.MessagesAfter(ctx, room, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		b, err := dst.MessagesAfter(ctx, room, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(a) == 0 || !reflect.DeepEqual(a, b) {
			t.Errorf("room %s:\nSQLite     %+v\nPostgreSQL %+v", room, a, b)
		}
		ha, _ := src.MessagesBefore(ctx, room, 0, 100)
		hb, _ := dst.MessagesBefore(ctx, room, 0, 100)
		if !reflect.DeepEqual(ha, hb) {
			t.Errorf("history of %s:\nSQLite     %+v\nPostgreSQL %+v", room, ha, hb)
		}
		la, sa, _ := src.RoomHead(ctx, room)
		lb, sb, _ := dst.RoomHead(ctx, room)
		if la != lb || sa != sb {
			t.Errorf("head of %s: SQLite %d/%d, PostgreSQL %d/%d", room, la, sa, lb, sb)
		}
	}
	ua, _ := src.ListUsers(ctx)
	ub, _ := dst.ListUsers(ctx)
	if !reflect.DeepEqual(ua, ub) {
		t.Errorf("users:\nSQLite     %+v\nPostgreSQL %+v", ua, ub)
	}
	if a, _ := dst.RoomAccess(ctx, "secret", fx.alice.ID); a.Kind != store.RoomPrivate || a.Role != store.MemberOwner {
		t.Errorf("access to secret after the move = %+v", a)
	}
	if r, _ := dst.RoomRetentions(ctx); r["secret"] != 30 {
		t.Errorf("retentions after the move = %v", r)
	}
	if s, err := dst.LiveSession(ctx, "s1", t0); err != nil || s.UserName != "alice" {
		t.Errorf("session s1 after the move = %+v, %v", s, err)
	}
	if revs, _ := dst.RevocationsAfter(ctx, 0); len(revs) == 0 || revs[len(revs)-1].SessionID != "s2" {
		t.Errorf("revocations after the move = %+v", revs)
	}
	if ms, _ := dst.Memberships(ctx, fx.alice.ID, 10, 10); len(ms) != 1 || ms[0].Room != "general" || ms[0].Unread != 1 {
		t.Errorf("alice's memberships after the move = %+v; want general with 1 unread", ms)
	}
	// The search index is rebuilt, not copied: the moved text is found, the
	// edited away and deleted ones are not.
	for text, want := range map[string]int{"private v2": 1, "private": 1, "dm text": 0, "last": 1} {
		got, err := dst.SearchMessages(ctx, store.SearchQuery{UserID: fx.alice.ID, Text: text, Limit: 10})
		if err != nil || len(got) != want {
			t.Errorf("search %q after the move: %d results, %v; want %d", text, len(got), err, want)
		}
	}
	if tp, err := dst.TOTP(ctx, fx.alice.ID); err != nil || !tp.Confirmed || tp.LastStep != 7 {
		t.Errorf("totp after the move = %+v, %v", tp, err)
	}
	if n, _ := dst.RecoveryCodesLeft(ctx, fx.alice.ID); n != 2 {
		t.Errorf("recovery codes after the move = %d", n)
	}
	if _, err := dst.CreateUser(ctx, "bob", "x", t0); !errors.Is(err, store.ErrExists) {
		t.Errorf("a deleted name after the move: %v; want ErrExists (reserved)", err)
	}
	// The sequences go on past every id SQLite gave, deleted ones included.
	u, err := dst.CreateUser(ctx, "dave", "x", t0)
	if err != nil || u.ID <= fx.deleted {
		t.Errorf("new user after the move: id %d, %v; want above %d", u.ID, err, fx.deleted)
	}
	got, err := dst.AppendMessages(ctx, []store.NewMessage{{Room: "general", UserID: u.ID, User: "dave", Text: "new", TS: t0}})
	if err != nil || got[0].ID <= fx.maxID {
		t.Errorf("new message after the move: %+v, %v; want an id above %d", got, err, fx.maxID)
	}
	if _, err := dst.AppendAudit(ctx, store.AuditEvent{Time: t0, Event: "x"}); err != nil {
		t.Errorf("audit after the move: %v", err)
	}
}

// TestMoveFailureLeavesTargetEmpty breaks the copy of a late table: nothing
// is left in PostgreSQL, and the move runs again once the cause is gone;
// then the target is no longer empty and a third move is refused.
func TestMoveFailureLeavesTargetEmpty(t *testing.T) {
	ctx := t.Context()
	dir, dsn := t.TempDir(), pgtest.Start(t)
	fill(t, ctx, dir)
	if err := postgres.Migrate(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `CREATE FUNCTION fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk full (simulated)'; END $$;
		CREATE TRIGGER fail BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION fail();`); err != nil {
		t.Fatal(err)
	}
	if _, err := ToPostgres(ctx, dir, dsn, io.Discard); err == nil || !strings.Contains(err.Error(), "simulated") {
		t.Fatalf("move with a failing table = %v; want the simulated failure", err)
	}
	for _, tb := range tables {
		var n int
		if err := conn.QueryRow(ctx, `SELECT COUNT(*) FROM `+tb.name).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s after the failed move: %d rows, %v; want empty", tb.name, n, err)
		}
	}
	if _, err := conn.Exec(ctx, `DROP TRIGGER fail ON audit`); err != nil {
		t.Fatal(err)
	}
	if _, err := ToPostgres(ctx, dir, dsn, io.Discard); err != nil {
		t.Fatalf("move again after the failure: %v", err)
	}
	if _, err := ToPostgres(ctx, dir, dsn, io.Discard); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("move into a non-empty target = %v; want ErrNotEmpty", err)
	}
}

// TestMoveRefusesAnUnlistedTable: a table the list does not name (a later
// feature's, if its line were forgotten) stops the move before it writes.
func TestMoveRefusesAnUnlistedTable(t *testing.T) {
	ctx := t.Context()
	for _, extra := range []string{`CREATE TABLE reactions (message_id INTEGER, user_id INTEGER)`, `ALTER TABLE users ADD COLUMN nickname TEXT`} {
		dir, dsn := t.TempDir(), pgtest.Start(t)
		fill(t, ctx, dir)
		db, err := sqlite.Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		if err := execSQLite(ctx, dir, extra); err != nil {
			t.Fatal(err)
		}
		_, err = ToPostgres(ctx, dir, dsn, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "not in the move's list") {
			t.Errorf("%s: move = %v; want a refusal", extra, err)
		}
	}
}

func TestMoveNeedsASQLiteStore(t *testing.T) {
	if _, err := ToPostgres(t.Context(), t.TempDir(), "host=/nonexistent", io.Discard); err == nil || !strings.Contains(err.Error(), "no SQLite store") {
		t.Errorf("move from an empty folder = %v; want no SQLite store", err)
	}
}

// TestMoveIsOneSnapshot moves while a writer keeps appending to SQLite: what
// arrives in PostgreSQL is one consistent moment, each room's head (last id
// and seq) matching its last copied message, with no gap in its sequence.
func TestMoveIsOneSnapshot(t *testing.T) {
	ctx := t.Context()
	dir, dsn := t.TempDir(), pgtest.Start(t)
	fill(t, ctx, dir)
	w, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		n := 0
		defer func() { done <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			batch := []store.NewMessage{{Room: "busy", User: "w", Text: "x", TS: t0}, {Room: "general", User: "w", Text: "y", TS: t0}}
			if _, err := w.AppendMessages(context.Background(), batch); err != nil {
				t.Errorf("append during the move: %v", err)
				return
			}
			n++
		}
	}()
	// Let the writer get going, so the snapshot falls among its writes.
	for {
		if head, _, _ := w.RoomHead(ctx, "busy"); head > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	_, err = ToPostgres(ctx, dir, dsn, io.Discard)
	close(stop)
	written := <-done
	if err != nil {
		t.Fatalf("move during writes: %v", err)
	}
	dst, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	for _, room := range []string{"busy", "general"} {
		msgs, err := dst.MessagesAfter(ctx, room, 0, 1<<20)
		if err != nil || len(msgs) == 0 {
			t.Fatalf("read %s: %d rows, %v", room, len(msgs), err)
		}
		lastID, lastSeq, err := dst.RoomHead(ctx, room)
		if err != nil {
			t.Fatal(err)
		}
		last := msgs[len(msgs)-1]
		if lastID != last.ID || lastSeq != last.Seq {
			t.Errorf("%s: head %d/%d, last copied row %d/%d: not one snapshot", room, lastID, lastSeq, last.ID, last.Seq)
		}
		for i, m := range msgs {
			if m.Seq != int64(i+1) {
				t.Errorf("%s: row %d has seq %d: a gap", room, i, m.Seq)
				break
			}
		}
	}
	t.Logf("%d batches written during the move", written)
}

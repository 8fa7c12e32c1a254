package export

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"securechat/app/auth"
	"securechat/app/store"
	"securechat/app/store/sqlite"
)

type userDoc struct {
	Format      string             `json:"format"`
	Account     Account            `json:"account"`
	Sessions    []auth.SessionInfo `json:"sessions"`
	Memberships []membership       `json:"memberships"`
	Messages    []ownMessage       `json:"messages"`
}

type roomDoc struct {
	Format   string        `json:"format"`
	Room     string        `json:"room"`
	Messages []roomMessage `json:"messages"`
}

func TestExport(t *testing.T) {
	ctx := t.Context()
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	// More than two pages of alice's, interleaved with bob's in a room
	// alice is not in.
	var batch []store.NewMessage
	for i := range 2*pageSize + 7 {
		batch = append(batch,
			store.NewMessage{Room: "dev", UserID: 1, User: "alice", Text: fmt.Sprintf("alice %d", i), TS: now},
			store.NewMessage{Room: "bob-private", UserID: 2, User: "bob", Text: fmt.Sprintf("bob secret %d", i), TS: now})
	}
	if _, err := db.AppendMessages(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if err := db.JoinRoom(ctx, 1, "dev", 0, now); err != nil {
		t.Fatal(err)
	}
	x := New(db, func() time.Time { return now })

	var b bytes.Buffer
	n, err := x.User(ctx, &b, Account{ID: 1, Name: "alice", Role: "member", CreatedAt: now}, []auth.SessionInfo{{ID: "abc", Kind: "browser"}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "bob") {
		t.Errorf("alice's export mentions bob")
	}
	var u userDoc
	if err := json.Unmarshal(b.Bytes(), &u); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if n != 2*pageSize+7 || len(u.Messages) != n || u.Format != FormatUser || u.Account.Name != "alice" || len(u.Sessions) != 1 {
		t.Fatalf("export: n=%d, %d messages, format %q, account %+v, sessions %v", n, len(u.Messages), u.Format, u.Account, u.Sessions)
	}
	for i, m := range u.Messages {
		if m.Text != fmt.Sprintf("alice %d", i) || m.Room != "dev" || (i > 0 && m.ID <= u.Messages[i-1].ID) {
			t.Fatalf("message %d = %+v", i, m)
		}
	}
	if len(u.Memberships) != 1 || u.Memberships[0].Room != "dev" {
		t.Errorf("memberships = %+v; want dev", u.Memberships)
	}

	// A room: every author's messages.
	b.Reset()
	if n, err = x.Room(ctx, &b, "bob-private"); err != nil {
		t.Fatal(err)
	}
	var r roomDoc
	if err := json.Unmarshal(b.Bytes(), &r); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if n != 2*pageSize+7 || len(r.Messages) != n || r.Room != "bob-private" || r.Messages[0].User != "bob" || r.Messages[n-1].Seq != int64(n) {
		t.Errorf("room export: n=%d, %d messages, room %q, first %+v", n, len(r.Messages), r.Room, r.Messages[0])
	}
	if _, err := x.Room(ctx, &b, "nowhere"); !errors.Is(err, ErrNoRoom) {
		t.Errorf("missing room: %v; want ErrNoRoom", err)
	}

	// A user with nothing: a valid document with empty lists.
	b.Reset()
	if _, err := x.User(ctx, &b, Account{ID: 3, Name: "carol"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b.Bytes(), &u); err != nil || len(u.Messages) != 0 || u.Sessions == nil || u.Memberships == nil {
		t.Errorf("empty export %s: %v", b.String(), err)
	}

	// A reader that goes away: the error comes back.
	if _, err := x.User(ctx, failWriter{}, Account{ID: 1, Name: "alice"}, nil); err == nil {
		t.Errorf("export to a failing writer succeeded")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("gone") }

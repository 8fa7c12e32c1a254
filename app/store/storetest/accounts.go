package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"securechat/app/store"
)

var userCases = []scenario{
	{"create and find", func(t *testing.T, e *env) {
		u, err := e.CreateUser(e.ctx, "alice", "hash-1", base)
		must(t, err, "create alice")
		if u.ID <= 0 || u.Name != "alice" || u.PasswordHash != "hash-1" || !stored(u.CreatedAt).Equal(stored(base)) {
			t.Errorf("CreateUser = %+v; want a positive id, alice, hash-1, %v", u, base)
		}
		got, err := e.UserByName(e.ctx, "alice")
		must(t, err, "find alice")
		if got.ID != u.ID || got.Name != "alice" || got.PasswordHash != "hash-1" {
			t.Errorf("UserByName = %+v; want id %d, alice, hash-1", got, u.ID)
		}
		checkTime(t, "CreatedAt", got.CreatedAt, base)
	}},

	{"duplicate name", func(t *testing.T, e *env) {
		_, err := e.CreateUser(e.ctx, "alice", "hash-1", base)
		must(t, err, "create alice")
		if _, err := e.CreateUser(e.ctx, "alice", "hash-2", at(time.Minute)); !errors.Is(err, store.ErrExists) {
			t.Errorf("second CreateUser(alice) = %v; want ErrExists", err)
		}
		got, err := e.UserByName(e.ctx, "alice")
		must(t, err, "find alice")
		if got.PasswordHash != "hash-1" {
			t.Errorf("the failed create changed alice's hash to %q", got.PasswordHash)
		}
	}},

	{"missing user", func(t *testing.T, e *env) {
		_, err := e.CreateUser(e.ctx, "alice", "hash-1", base)
		must(t, err, "create alice")
		for _, name := range []string{"bob", "alic", "alice ", ""} {
			if _, err := e.UserByName(e.ctx, name); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("UserByName(%q) = %v; want ErrNotFound", name, err)
			}
		}
	}},

	{"list by name", func(t *testing.T, e *env) {
		users, err := e.ListUsers(e.ctx)
		must(t, err, "list no users")
		if len(users) != 0 {
			t.Errorf("ListUsers on an empty store = %+v", users)
		}
		ids := map[string]int64{}
		for i, name := range []string{"carol", "alice", "bob_2", "bob-1", "bob"} {
			u, err := e.CreateUser(e.ctx, name, "hash-"+name, at(time.Duration(i)*time.Second))
			must(t, err, "create "+name)
			ids[name] = u.ID
		}
		users, err = e.ListUsers(e.ctx)
		must(t, err, "list users")
		var names []string
		seen := map[int64]bool{}
		for _, u := range users {
			names = append(names, u.Name)
			if u.ID != ids[u.Name] || seen[u.ID] {
				t.Errorf("ListUsers has %s with id %d; created with %d", u.Name, u.ID, ids[u.Name])
			}
			seen[u.ID] = true
		}
		// Byte order, as both SQLite and PostgreSQL's "C" collation sort.
		if want := []string{"alice", "bob", "bob-1", "bob_2", "carol"}; !slices.Equal(names, want) {
			t.Errorf("ListUsers names = %v; want %v", names, want)
		}
		checkTime(t, "carol's CreatedAt", users[len(users)-1].CreatedAt, base)
	}},

	{"set password", func(t *testing.T, e *env) {
		u, err := e.CreateUser(e.ctx, "alice", "hash-1", base)
		must(t, err, "create alice")
		must(t, e.SetPasswordHash(e.ctx, u.ID, "hash-2", at(time.Minute)), "set alice's password")
		got, err := e.UserByName(e.ctx, "alice")
		must(t, err, "find alice")
		if got.PasswordHash != "hash-2" || got.ID != u.ID {
			t.Errorf("after SetPasswordHash: %+v; want id %d, hash-2", got, u.ID)
		}
		if err := e.SetPasswordHash(e.ctx, u.ID+1000, "hash-3", at(time.Minute)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SetPasswordHash(unknown id) = %v; want ErrNotFound", err)
		}
	}},

	{"delete", func(t *testing.T, e *env) {
		alice, err := e.CreateUser(e.ctx, "alice", "hash-1", base)
		must(t, err, "create alice")
		_, err = e.CreateUser(e.ctx, "bob", "hash-b", base)
		must(t, err, "create bob")
		must(t, e.DeleteUser(e.ctx, alice.ID, at(time.Minute)), "delete alice")
		if _, err := e.UserByName(e.ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UserByName(deleted alice) = %v; want ErrNotFound", err)
		}
		users, err := e.ListUsers(e.ctx)
		must(t, err, "list users")
		if len(users) != 1 || users[0].Name != "bob" {
			t.Errorf("ListUsers after deleting alice = %+v; want only bob", users)
		}
		if err := e.DeleteUser(e.ctx, alice.ID, at(time.Minute)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteUser(alice again) = %v; want ErrNotFound", err)
		}
		// The name stays reserved: a newcomer called alice would pass as the
		// author of the deleted alice's messages.
		if _, err := e.CreateUser(e.ctx, "alice", "hash-new", at(2*time.Minute)); !errors.Is(err, store.ErrExists) {
			t.Errorf("CreateUser(deleted name alice) = %v; want ErrExists", err)
		}
		if _, err := e.UserByName(e.ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UserByName(alice) after the refused create = %v; want ErrNotFound", err)
		}
		// Other names are still free, and a new account never reuses an id.
		carol, err := e.CreateUser(e.ctx, "carol", "hash-c", at(3*time.Minute))
		must(t, err, "create carol")
		if carol.ID == alice.ID {
			t.Errorf("carol reuses the deleted alice's id %d", alice.ID)
		}
	}},

	{"delete keeps messages and sessions end", func(t *testing.T, e *env) {
		dave, err := e.CreateUser(e.ctx, "dave", "hash-d", base)
		must(t, err, "create dave")
		must(t, e.CreateSession(e.ctx, store.Session{ID: "s-dave", UserID: dave.ID, CreatedAt: base, ExpiresAt: at(time.Hour)}), "log dave in")
		sent := e.appendAll(t, store.NewMessage{Room: "lobby", UserID: dave.ID, User: "dave", Text: "hi", TS: at(time.Second)})
		must(t, e.DeleteUser(e.ctx, dave.ID, at(time.Minute)), "delete dave")
		if _, err := e.LiveSession(e.ctx, "s-dave", at(2*time.Minute)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("LiveSession of a deleted user = %v; want ErrNotFound", err)
		}
		// Another handle (the server beside the CLI that deleted him) sees
		// the same: the name is taken for ever, the message keeps its author.
		other := e.handle(t)
		if _, err := other.CreateUser(e.ctx, "dave", "hash-stranger", at(3*time.Minute)); !errors.Is(err, store.ErrExists) {
			t.Errorf("CreateUser(dave) after deleting dave = %v; want ErrExists", err)
		}
		got, err := other.MessagesBefore(e.ctx, "lobby", 0, 10)
		must(t, err, "read lobby")
		if len(got) != 1 || got[0].ID != sent[0].ID || got[0].UserID != dave.ID || got[0].User != "dave" {
			t.Errorf("the deleted dave's message reads back as %+v; want id %d by user %d dave", got, sent[0].ID, dave.ID)
		}
	}},

	{"roles", func(t *testing.T, e *env) {
		alice, err := e.CreateUser(e.ctx, "alice", "hash-a", base)
		must(t, err, "create alice")
		if alice.Role != store.RoleMember {
			t.Errorf("a new account's role = %q; want %q", alice.Role, store.RoleMember)
		}
		_, err = e.CreateUser(e.ctx, "bob", "hash-b", base)
		must(t, err, "create bob")
		must(t, e.SetUserRole(e.ctx, alice.ID, store.RoleAdmin), "make alice an admin")
		// Another handle (the server beside the CLI) sees the change.
		other := e.handle(t)
		got, err := other.UserByName(e.ctx, "alice")
		must(t, err, "find alice")
		if got.Role != store.RoleAdmin {
			t.Errorf("alice's role = %q; want %q", got.Role, store.RoleAdmin)
		}
		users, err := other.ListUsers(e.ctx)
		must(t, err, "list users")
		roles := map[string]string{}
		for _, u := range users {
			roles[u.Name] = u.Role
		}
		if roles["alice"] != store.RoleAdmin || roles["bob"] != store.RoleMember {
			t.Errorf("ListUsers roles = %v; want alice admin, bob member", roles)
		}
		must(t, e.SetUserRole(e.ctx, alice.ID, store.RoleMember), "make alice a member again")
		if got, _ := e.UserByName(e.ctx, "alice"); got.Role != store.RoleMember {
			t.Errorf("alice's role after demotion = %q; want %q", got.Role, store.RoleMember)
		}
		if err := e.SetUserRole(e.ctx, alice.ID+1000, store.RoleAdmin); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SetUserRole of a missing user = %v; want ErrNotFound", err)
		}
	}},
}

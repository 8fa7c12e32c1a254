package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"securechat/app/store"
)

// withSession creates user name with a session id lasting ttl from base.
func (e *env) withSession(t *testing.T, name, id string, ttl time.Duration) store.User {
	t.Helper()
	u, err := e.UserByName(e.ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		u, err = e.CreateUser(e.ctx, name, "hash-"+name, base)
	}
	must(t, err, "create "+name)
	must(t, e.CreateSession(e.ctx, store.Session{ID: id, UserID: u.ID, CreatedAt: base, ExpiresAt: at(ttl)}),
		"create session "+id)
	return u
}

// checkLive fails t unless session id is live at now (want) or not found.
func (e *env) checkLive(t *testing.T, id string, now time.Time, want bool) {
	t.Helper()
	_, err := e.LiveSession(e.ctx, id, now)
	switch {
	case want && err != nil:
		t.Errorf("LiveSession(%s, %v) = %v; want live", id, now, err)
	case !want && !errors.Is(err, store.ErrNotFound):
		t.Errorf("LiveSession(%s, %v) = %v; want ErrNotFound", id, now, err)
	}
}

// revocations returns every revocation after seq, checking they come in
// increasing seq order.
func (e *env) revocations(t *testing.T, after int64) []store.Revocation {
	t.Helper()
	revs, err := e.RevocationsAfter(e.ctx, after)
	must(t, err, "read revocations")
	for i, r := range revs {
		if r.Seq <= after || i > 0 && r.Seq <= revs[i-1].Seq {
			t.Errorf("RevocationsAfter(%d) = %+v: seqs not increasing above %d", after, revs, after)
			break
		}
	}
	return revs
}

// sessionIDs are the sessions of revs, sorted (one call's order among
// several sessions is not specified).
func sessionIDs(revs []store.Revocation) []string {
	var ids []string
	for _, r := range revs {
		ids = append(ids, r.SessionID)
	}
	slices.Sort(ids)
	return ids
}

var sessionCases = []scenario{
	{"list a user's live sessions with what was recorded", func(t *testing.T, e *env) {
		u, err := e.CreateUser(e.ctx, "alice", "h", base)
		must(t, err, "create alice")
		b, err := e.CreateUser(e.ctx, "bob", "h", base)
		must(t, err, "create bob")
		for _, s := range []store.Session{
			{ID: "web", UserID: u.ID, CreatedAt: base, ExpiresAt: at(time.Hour), Kind: store.SessionBrowser, Address: "192.0.2.1", UserAgent: "Firefox"},
			{ID: "pat", UserID: u.ID, CreatedAt: at(time.Second), ExpiresAt: at(48 * time.Hour), Kind: store.SessionPAT, Name: "ci"},
			{ID: "gone", UserID: u.ID, CreatedAt: at(2 * time.Second), ExpiresAt: at(time.Hour)},
			{ID: "old", UserID: u.ID, CreatedAt: at(3 * time.Second), ExpiresAt: at(time.Minute)},
			{ID: "bobs", UserID: b.ID, CreatedAt: base, ExpiresAt: at(time.Hour)},
		} {
			must(t, e.CreateSession(e.ctx, s), "create session "+s.ID)
		}
		must(t, e.RevokeSession(e.ctx, "gone", at(time.Minute)), "revoke")
		must(t, e.TouchSessions(e.ctx, []string{"web", "bobs", "no-such-session"}, at(5*time.Minute)), "touch")
		must(t, e.TouchSessions(e.ctx, []string{"web"}, at(4*time.Minute)), "touch back") // never goes back
		must(t, e.TouchSessions(e.ctx, nil, at(6*time.Minute)), "touch none")
		if bobs, err := e.UserSessions(e.ctx, b.ID, at(10*time.Minute)); err != nil || len(bobs) != 1 {
			t.Fatalf("bob's sessions = %+v, %v", bobs, err)
		} else {
			checkTime(t, "bobs LastSeen", bobs[0].LastSeen, at(5*time.Minute))
		}
		got, err := e.UserSessions(e.ctx, u.ID, at(10*time.Minute))
		must(t, err, "list")
		if len(got) != 2 || got[0].ID != "web" || got[1].ID != "pat" {
			t.Fatalf("UserSessions = %+v; want web, pat", got)
		}
		w, p := got[0], got[1]
		if w.Kind != store.SessionBrowser || w.Address != "192.0.2.1" || w.UserAgent != "Firefox" || w.UserID != u.ID {
			t.Errorf("web = %+v", w)
		}
		checkTime(t, "web LastSeen", w.LastSeen, at(5*time.Minute))
		if p.Kind != store.SessionPAT || p.Name != "ci" {
			t.Errorf("pat = %+v", p)
		}
		checkTime(t, "pat LastSeen", p.LastSeen, at(time.Second)) // its creation
		checkTime(t, "pat ExpiresAt", p.ExpiresAt, at(48*time.Hour))
		su, err := e.LiveSession(e.ctx, "web", at(10*time.Minute))
		must(t, err, "live web")
		if su.Kind != store.SessionBrowser {
			t.Errorf("LiveSession kind = %q", su.Kind)
		}
		checkTime(t, "LiveSession LastSeen", su.LastSeen, at(5*time.Minute))
		bs, err := e.LiveSession(e.ctx, "bobs", base)
		must(t, err, "live bobs")
		if bs.Kind != store.SessionToken {
			t.Errorf("kind of a session made without one = %q; want token", bs.Kind)
		}
	}},

	{"create and find live", func(t *testing.T, e *env) {
		u := e.withSession(t, "alice", "s1", time.Hour)
		su, err := e.LiveSession(e.ctx, "s1", at(time.Minute))
		must(t, err, "find s1")
		if su.SessionID != "s1" || su.UserID != u.ID || su.UserName != "alice" {
			t.Errorf("LiveSession = %+v; want s1 of alice (%d)", su, u.ID)
		}
		checkTime(t, "ExpiresAt", su.ExpiresAt, at(time.Hour))
		checkTime(t, "CreatedAt", su.CreatedAt, base)
	}},

	{"duplicate id", func(t *testing.T, e *env) {
		u := e.withSession(t, "alice", "s1", time.Hour)
		err := e.CreateSession(e.ctx, store.Session{ID: "s1", UserID: u.ID, CreatedAt: base, ExpiresAt: at(2 * time.Hour)})
		if !errors.Is(err, store.ErrExists) {
			t.Errorf("second CreateSession(s1) = %v; want ErrExists", err)
		}
	}},

	{"unknown", func(t *testing.T, e *env) {
		e.withSession(t, "alice", "s1", time.Hour)
		e.checkLive(t, "s2", base, false)
		e.checkLive(t, "", base, false)
	}},

	{"expiry", func(t *testing.T, e *env) {
		e.withSession(t, "alice", "s1", time.Hour)
		for _, tc := range []struct {
			now  time.Time
			live bool
		}{
			{base, true},
			{at(time.Hour - time.Millisecond), true},
			{at(time.Hour), false}, // live until, not at, its expiry
			{at(time.Hour + time.Millisecond), false},
			{at(48 * time.Hour), false},
		} {
			e.checkLive(t, "s1", tc.now, tc.live)
		}
	}},

	{"extend", func(t *testing.T, e *env) {
		e.withSession(t, "alice", "s1", time.Hour)
		must(t, e.ExtendSession(e.ctx, "s1", at(3*time.Hour)), "extend s1")
		e.checkLive(t, "s1", at(2*time.Hour), true)
		e.checkLive(t, "s1", at(3*time.Hour), false)
		su, err := e.LiveSession(e.ctx, "s1", at(2*time.Hour))
		must(t, err, "find s1")
		checkTime(t, "extended ExpiresAt", su.ExpiresAt, at(3*time.Hour))
		if err := e.ExtendSession(e.ctx, "nope", at(3*time.Hour)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ExtendSession(unknown) = %v; want ErrNotFound", err)
		}
	}},

	{"revoke", func(t *testing.T, e *env) {
		e.withSession(t, "alice", "s1", time.Hour)
		e.withSession(t, "alice", "s2", time.Hour)
		must(t, e.RevokeSession(e.ctx, "s1", at(time.Minute)), "revoke s1")
		e.checkLive(t, "s1", at(2*time.Minute), false)
		e.checkLive(t, "s2", at(2*time.Minute), true)
		if err := e.ExtendSession(e.ctx, "s1", at(3*time.Hour)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ExtendSession(revoked) = %v; want ErrNotFound", err)
		}
		e.checkLive(t, "s1", at(2*time.Minute), false)

		// Revoking again, or revoking what does not exist, is no error and
		// records nothing.
		must(t, e.RevokeSession(e.ctx, "s1", at(2*time.Minute)), "revoke s1 again")
		must(t, e.RevokeSession(e.ctx, "nope", at(2*time.Minute)), "revoke unknown session")
		revs := e.revocations(t, 0)
		if len(revs) != 1 || revs[0].SessionID != "s1" {
			t.Errorf("revocations = %+v; want only s1", revs)
		}
	}},

	{"prune expired", func(t *testing.T, e *env) {
		e.withSession(t, "alice", "old", time.Hour)
		e.withSession(t, "alice", "revoked-old", time.Hour)
		e.withSession(t, "alice", "revoked-live", 3*time.Hour)
		e.withSession(t, "alice", "live", 3*time.Hour)
		must(t, e.RevokeSession(e.ctx, "revoked-old", at(time.Minute)), "revoke")
		must(t, e.RevokeSession(e.ctx, "revoked-live", at(time.Minute)), "revoke")
		n, err := e.PruneSessions(e.ctx, at(2*time.Hour))
		must(t, err, "prune sessions")
		if n != 2 {
			t.Errorf("pruned %d sessions; want the 2 expired", n)
		}
		e.checkLive(t, "live", at(2*time.Hour), true)
		// The pruned are gone for good: extending one finds nothing.
		for _, id := range []string{"old", "revoked-old"} {
			if err := e.ExtendSession(e.ctx, id, at(5*time.Hour)); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("ExtendSession(%s) after pruning = %v; want ErrNotFound", id, err)
			}
		}
		// A revoked session that has not expired stays revoked.
		if err := e.ExtendSession(e.ctx, "revoked-live", at(5*time.Hour)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ExtendSession(revoked-live) = %v; want ErrNotFound", err)
		}
		if n, err := e.PruneSessions(e.ctx, at(2*time.Hour)); err != nil || n != 0 {
			t.Errorf("pruning again: %d, %v; want 0", n, err)
		}
	}},

	{"user deleted", func(t *testing.T, e *env) {
		u := e.withSession(t, "alice", "s1", time.Hour)
		must(t, e.DeleteUser(e.ctx, u.ID, at(time.Minute)), "delete alice")
		e.checkLive(t, "s1", at(2*time.Minute), false)
		// Nobody can become alice again (deleted names stay reserved), and
		// the attempt does not bring the session back.
		if _, err := e.CreateUser(e.ctx, "alice", "hash-new", at(2*time.Minute)); !errors.Is(err, store.ErrExists) {
			t.Errorf("CreateUser(deleted alice) = %v; want ErrExists", err)
		}
		e.checkLive(t, "s1", at(3*time.Minute), false)
	}},
}

var revocationCases = []scenario{
	{"none", func(t *testing.T, e *env) {
		e.withSession(t, "alice", "s1", time.Hour)
		last, err := e.LastRevocation(e.ctx)
		must(t, err, "read last revocation")
		if last != 0 {
			t.Errorf("LastRevocation with none = %d; want 0", last)
		}
		if revs := e.revocations(t, 0); len(revs) != 0 {
			t.Errorf("RevocationsAfter(0) with none = %+v", revs)
		}
	}},

	{"password change and deletion", func(t *testing.T, e *env) {
		alice := e.withSession(t, "alice", "a1", time.Hour)
		e.withSession(t, "alice", "a2", time.Hour)
		e.withSession(t, "alice", "a3", time.Hour)
		bob := e.withSession(t, "bob", "b1", time.Hour)
		e.withSession(t, "bob", "b2", time.Hour)

		must(t, e.RevokeSession(e.ctx, "a3", at(time.Minute)), "log out a3")
		first := e.revocations(t, 0)
		if len(first) != 1 || first[0].SessionID != "a3" {
			t.Fatalf("revocations after logout = %+v; want a3", first)
		}

		// A password change ends the user's other sessions, not the revoked
		// one again, and not other users'.
		must(t, e.SetPasswordHash(e.ctx, alice.ID, "hash-2", at(2*time.Minute)), "change alice's password")
		e.checkLive(t, "a1", at(3*time.Minute), false)
		e.checkLive(t, "a2", at(3*time.Minute), false)
		e.checkLive(t, "b1", at(3*time.Minute), true)
		second := e.revocations(t, first[0].Seq)
		if got := sessionIDs(second); !slices.Equal(got, []string{"a1", "a2"}) {
			t.Errorf("revocations after the password change = %+v; want a1 and a2", second)
		}
		last, err := e.LastRevocation(e.ctx)
		must(t, err, "read last revocation")
		if len(second) > 0 && last != second[len(second)-1].Seq {
			t.Errorf("LastRevocation = %d; want %d", last, second[len(second)-1].Seq)
		}

		must(t, e.DeleteUser(e.ctx, bob.ID, at(4*time.Minute)), "delete bob")
		e.checkLive(t, "b1", at(5*time.Minute), false)
		e.checkLive(t, "b2", at(5*time.Minute), false)
		third := e.revocations(t, last)
		if got := sessionIDs(third); !slices.Equal(got, []string{"b1", "b2"}) {
			t.Errorf("revocations after deleting bob = %+v; want b1 and b2", third)
		}

		// Everything, in one increasing run; nothing more to come.
		all := e.revocations(t, 0)
		if want := len(first) + len(second) + len(third); len(all) != want {
			t.Errorf("RevocationsAfter(0) has %d; want %d", len(all), want)
		}
		must(t, e.SetPasswordHash(e.ctx, alice.ID, "hash-3", at(6*time.Minute)), "change alice's password again")
		last, err = e.LastRevocation(e.ctx)
		must(t, err, "read last revocation")
		if revs := e.revocations(t, last); len(revs) != 0 {
			t.Errorf("RevocationsAfter(LastRevocation) = %+v; want none", revs)
		}
		if len(all) > 0 && last != all[len(all)-1].Seq {
			t.Errorf("a password change with no live sessions recorded revocations: last %d, was %d", last, all[len(all)-1].Seq)
		}
	}},

	{"prune old", func(t *testing.T, e *env) {
		for _, id := range []string{"s1", "s2", "s3"} {
			e.withSession(t, "alice", id, time.Hour)
		}
		must(t, e.RevokeSession(e.ctx, "s1", at(time.Minute)), "revoke s1")
		must(t, e.RevokeSession(e.ctx, "s2", at(2*time.Minute)), "revoke s2")
		last, err := e.LastRevocation(e.ctx)
		must(t, err, "read last revocation")
		n, err := e.PruneRevocations(e.ctx, at(90*time.Second))
		must(t, err, "prune revocations")
		if n != 1 {
			t.Errorf("pruned %d revocations; want 1", n)
		}
		if got := sessionIDs(e.revocations(t, 0)); !slices.Equal(got, []string{"s2"}) {
			t.Errorf("after pruning: %v; want s2", got)
		}
		// A poller's position still works: new revocations come after it.
		must(t, e.RevokeSession(e.ctx, "s3", at(3*time.Minute)), "revoke s3")
		if got := sessionIDs(e.revocations(t, last)); !slices.Equal(got, []string{"s3"}) {
			t.Errorf("after %d: %v; want s3", last, got)
		}
		// Pruning all of them does not send the sequence back.
		_, err = e.PruneRevocations(e.ctx, at(time.Hour))
		must(t, err, "prune all revocations")
		e.withSession(t, "bob", "b1", 2*time.Hour)
		must(t, e.RevokeSession(e.ctx, "b1", at(time.Hour)), "revoke b1")
		if got := sessionIDs(e.revocations(t, last)); !slices.Equal(got, []string{"b1"}) {
			t.Errorf("after pruning all, revocations after %d: %v; want b1", last, got)
		}
	}},

	{"unknown user revokes nothing", func(t *testing.T, e *env) {
		u := e.withSession(t, "alice", "s1", time.Hour)
		if err := e.SetPasswordHash(e.ctx, u.ID+1000, "x", base); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SetPasswordHash(unknown) = %v; want ErrNotFound", err)
		}
		if err := e.DeleteUser(e.ctx, u.ID+1000, base); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteUser(unknown) = %v; want ErrNotFound", err)
		}
		if revs := e.revocations(t, 0); len(revs) != 0 {
			t.Errorf("revocations = %+v; want none", revs)
		}
		e.checkLive(t, "s1", base, true)
	}},
}

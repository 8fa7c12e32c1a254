package storetest

import (
	"fmt"
	"testing"
	"time"

	"securechat/app/store"
)

var auditCases = []scenario{
	{"append and list newest first", func(t *testing.T, e *env) {
		want := store.AuditEvent{Time: base, Event: "login", Actor: "alice", Subject: "alice",
			Address: "192.0.2.7", UserAgent: "curl/8", SessionID: "s-1", Detail: "password"}
		id, err := e.AppendAudit(e.ctx, want)
		must(t, err, "append")
		id2, err := e.AppendAudit(e.ctx, store.AuditEvent{Time: at(time.Second), Event: "logout", Actor: "alice", Subject: "alice"})
		must(t, err, "append a second")
		if id <= 0 || id2 <= id {
			t.Fatalf("ids %d then %d; want positive and increasing", id, id2)
		}
		// Another handle (the CLI beside the server) reads the same.
		got, err := e.handle(t).AuditEvents(e.ctx, store.AuditQuery{})
		must(t, err, "list")
		if len(got) != 2 || got[0].ID != id2 || got[1].ID != id {
			t.Fatalf("AuditEvents = %+v; want ids %d, %d", got, id2, id)
		}
		first := got[1]
		checkTime(t, "Time", first.Time, base)
		want.ID, want.Time = id, first.Time
		if first != want {
			t.Errorf("row = %+v; want %+v", first, want)
		}
	}},

	{"filters, pages and the limit", func(t *testing.T, e *env) {
		var ids []int64
		for i := range store.MaxAuditPage + 10 {
			ev := store.AuditEvent{Time: at(time.Duration(i) * time.Second), Event: "login_failed", Actor: "bob", Subject: "bob"}
			switch i % 3 {
			case 0:
				ev.Event, ev.Actor, ev.Subject = "login", "alice", "alice"
			case 1:
				ev.Event, ev.Actor, ev.Subject = "session_ended", "alice", "bob" // alice ended bob's session
			}
			id, err := e.AppendAudit(e.ctx, ev)
			must(t, err, fmt.Sprint("append ", i))
			ids = append(ids, id)
		}
		all, err := e.AuditEvents(e.ctx, store.AuditQuery{Limit: 10_000})
		must(t, err, "list all")
		if len(all) != store.MaxAuditPage || all[0].ID != ids[len(ids)-1] {
			t.Errorf("an unbounded query gave %d rows starting at %v; want %d from the newest", len(all), all[0].ID, store.MaxAuditPage)
		}
		for _, tc := range []struct {
			q     store.AuditQuery
			match func(store.AuditEvent) bool
		}{
			{store.AuditQuery{User: "alice", Limit: 500}, func(ev store.AuditEvent) bool { return ev.Actor == "alice" || ev.Subject == "alice" }},
			{store.AuditQuery{User: "bob", Limit: 50}, func(ev store.AuditEvent) bool { return ev.Actor == "bob" || ev.Subject == "bob" }},
			{store.AuditQuery{Event: "login", Limit: 5}, func(ev store.AuditEvent) bool { return ev.Event == "login" }},
			{store.AuditQuery{User: "bob", Event: "session_ended", Before: ids[100], Limit: 7}, func(ev store.AuditEvent) bool {
				return ev.Event == "session_ended" && ev.ID < ids[100]
			}},
		} {
			got, err := e.AuditEvents(e.ctx, tc.q)
			must(t, err, fmt.Sprintf("list %+v", tc.q))
			var want []int64
			for i := len(ids) - 1; i >= 0; i-- {
				ev := store.AuditEvent{ID: ids[i], Event: "login_failed", Actor: "bob", Subject: "bob"}
				switch i % 3 {
				case 0:
					ev.Event, ev.Actor, ev.Subject = "login", "alice", "alice"
				case 1:
					ev.Event, ev.Actor, ev.Subject = "session_ended", "alice", "bob"
				}
				if tc.match(ev) && (tc.q.Before == 0 || ev.ID < tc.q.Before) && len(want) < min(tc.q.Limit, store.MaxAuditPage) {
					want = append(want, ev.ID)
				}
			}
			var gotIDs []int64
			for _, ev := range got {
				gotIDs = append(gotIDs, ev.ID)
			}
			if fmt.Sprint(gotIDs) != fmt.Sprint(want) {
				t.Errorf("%+v: ids %v; want %v", tc.q, gotIDs, want)
			}
		}
	}},

	{"prune", func(t *testing.T, e *env) {
		for i := range 5 {
			_, err := e.AppendAudit(e.ctx, store.AuditEvent{Time: at(time.Duration(i) * time.Hour), Event: "login", Actor: "alice", Subject: "alice"})
			must(t, err, "append")
		}
		n, err := e.PruneAudit(e.ctx, at(2*time.Hour))
		must(t, err, "prune")
		if n != 2 {
			t.Errorf("PruneAudit removed %d rows; want 2", n)
		}
		got, err := e.AuditEvents(e.ctx, store.AuditQuery{})
		must(t, err, "list")
		if len(got) != 3 {
			t.Fatalf("%d rows left; want 3", len(got))
		}
		checkTime(t, "oldest left", got[2].Time, at(2*time.Hour))
	}},
}

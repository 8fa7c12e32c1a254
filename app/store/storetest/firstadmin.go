package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"securechat/app/store"
)

// CreateUserAdminIfFirst is what --first-user-admin signs up with: the first
// account a store ever has is an admin, every later one a member, and sign-ups
// at once, from several nodes, make at most one admin.
var firstAdminCases = []scenario{
	{"only the first is an admin", func(t *testing.T, e *env) {
		for i, want := range []struct{ name, role string }{{"ann", store.RoleAdmin}, {"bob", store.RoleMember}, {"cat", store.RoleMember}} {
			u, err := e.CreateUserAdminIfFirst(e.ctx, want.name, "hash-"+want.name, at(time.Duration(i)*time.Second))
			must(t, err, "create "+want.name)
			if u.Role != want.role || u.ID <= 0 || u.Name != want.name {
				t.Errorf("CreateUserAdminIfFirst(%s) = %+v; want a positive id and role %s", want.name, u, want.role)
			}
			got, err := e.UserByName(e.ctx, want.name)
			must(t, err, "find "+want.name)
			if got.Role != want.role || got.ID != u.ID || got.PasswordHash != "hash-"+want.name {
				t.Errorf("stored %s = %+v; want id %d, role %s", want.name, got, u.ID, want.role)
			}
		}
		if _, err := e.CreateUserAdminIfFirst(e.ctx, "bob", "hash-2", base); !errors.Is(err, store.ErrExists) {
			t.Errorf("CreateUserAdminIfFirst of a taken name = %v; want ErrExists", err)
		}
	}},

	{"an account made otherwise counts", func(t *testing.T, e *env) {
		_, err := e.CreateUser(e.ctx, "ann", "hash-a", base)
		must(t, err, "create ann")
		u, err := e.CreateUserAdminIfFirst(e.ctx, "bob", "hash-b", base)
		must(t, err, "create bob")
		if u.Role != store.RoleMember {
			t.Errorf("a sign-up after an account exists has role %q; want %q", u.Role, store.RoleMember)
		}
	}},

	{"a store whose accounts were all deleted is not empty", func(t *testing.T, e *env) {
		// Otherwise deleting every account would hand admin to whoever
		// signs up next.
		ann, err := e.CreateUser(e.ctx, "ann", "hash-a", base)
		must(t, err, "create ann")
		must(t, e.DeleteUser(e.ctx, ann.ID, base), "delete ann")
		u, err := e.CreateUserAdminIfFirst(e.ctx, "bob", "hash-b", base)
		must(t, err, "create bob")
		if u.Role != store.RoleMember {
			t.Errorf("a sign-up after the only account was deleted has role %q; want %q", u.Role, store.RoleMember)
		}
		if _, err := e.CreateUserAdminIfFirst(e.ctx, "ann", "hash-a2", base); !errors.Is(err, store.ErrExists) {
			t.Errorf("CreateUserAdminIfFirst of a deleted name = %v; want ErrExists", err)
		}
	}},

	{"sign-ups at once make one admin", func(t *testing.T, e *env) {
		handles := make([]Store, nodes)
		for n := range handles {
			handles[n] = e.handle(t)
		}
		const each = 3
		users := make(chan store.User, nodes*each)
		errs := make(chan error, nodes*each)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for n, s := range handles {
			for i := range each {
				wg.Go(func() {
					<-start
					u, err := s.CreateUserAdminIfFirst(e.ctx, fmt.Sprintf("user%d-%d", n, i), "h", base)
					if err != nil {
						errs <- err
						return
					}
					users <- u
				})
			}
		}
		close(start)
		wg.Wait()
		close(users)
		close(errs)
		for err := range errs {
			t.Errorf("a concurrent sign-up failed: %v", err)
		}
		returned := 0
		for u := range users {
			if u.Role == store.RoleAdmin {
				returned++
			}
		}
		list, err := e.ListUsers(e.ctx)
		must(t, err, "list users")
		admins := 0
		for _, u := range list {
			if u.Role == store.RoleAdmin {
				admins++
			}
		}
		if len(list) != nodes*each || admins != 1 || returned != 1 {
			t.Errorf("%d concurrent sign-ups: %d accounts, %d admins stored, %d returned as admin; want %d, 1, 1",
				nodes*each, len(list), admins, returned, nodes*each)
		}
	}},
}

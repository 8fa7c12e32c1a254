// Package accounts creates, checks and removes user accounts.
package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"securechat/app/store"
)

// Errors a user can be shown.
var (
	ErrBadName        = errors.New("a username is 1 to 32 of a-z, 0-9, _ and -")
	ErrBadPassword    = errors.New("a password is 8 to 256 characters")
	ErrTaken          = errors.New("that username is taken")
	ErrBadCredentials = errors.New("unknown username or wrong password")
	ErrNoSuchUser     = errors.New("no such user")
)

// Store is what accounts needs from storage.
type Store interface {
	CreateUser(ctx context.Context, name, passwordHash string, now time.Time) (store.User, error)
	UserByName(ctx context.Context, name string) (store.User, error)
	ListUsers(ctx context.Context) ([]store.User, error)
	SetPasswordHash(ctx context.Context, userID int64, hash string, now time.Time) error
	DeleteUser(ctx context.Context, userID int64, now time.Time) error
	SetUserRole(ctx context.Context, userID int64, role string) error
	CreateUserAdminIfFirst(ctx context.Context, name, passwordHash string, now time.Time) (store.User, error)
}

// Service manages accounts.
type Service struct {
	store  Store
	hasher *Hasher
	now    func() time.Time

	dummyMu sync.Mutex
	dummy   string // a hash to verify against for unknown users, so timing does not tell
}

// NewService returns an account service.
func NewService(s Store, h *Hasher, now func() time.Time) *Service {
	return &Service{store: s, hasher: h, now: now}
}

// NormalizeName case-folds a username and checks it: 1 to 32 of a-z 0-9 _ -.
func NormalizeName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if len(name) < 1 || len(name) > 32 {
		return "", ErrBadName
	}
	// Checked byte by byte before folding, so no non-ASCII letter (such as the
	// Kelvin sign) can fold into an ASCII name.
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return "", ErrBadName
		}
	}
	return strings.ToLower(name), nil
}

func checkPassword(pw string) error {
	if n := utf8.RuneCountInString(pw); n < 8 || n > 256 || !utf8.ValidString(pw) {
		return ErrBadPassword
	}
	return nil
}

// Create adds an account, a member.
func (s *Service) Create(ctx context.Context, name, password string) (store.User, error) {
	return s.create(ctx, name, password, false)
}

// CreateAdminIfFirst adds an account that is an admin if it is the first the
// store ever had (--first-user-admin), a member otherwise. The store decides
// "first" in the insert, so of two at once at most one is an admin.
func (s *Service) CreateAdminIfFirst(ctx context.Context, name, password string) (store.User, error) {
	return s.create(ctx, name, password, true)
}

func (s *Service) create(ctx context.Context, name, password string, adminIfFirst bool) (store.User, error) {
	name, err := NormalizeName(name)
	if err != nil {
		return store.User{}, err
	}
	if err := checkPassword(password); err != nil {
		return store.User{}, err
	}
	// A taken name is answered before hashing, so probing names costs the
	// server a lookup, not a hash. The insert below still decides a race.
	if _, err := s.store.UserByName(ctx, name); err == nil {
		return store.User{}, ErrTaken
	} else if !errors.Is(err, store.ErrNotFound) {
		return store.User{}, fmt.Errorf("create account %q: %w", name, err)
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return store.User{}, err
	}
	insert := s.store.CreateUser
	if adminIfFirst {
		insert = s.store.CreateUserAdminIfFirst
	}
	u, err := insert(ctx, name, hash, s.now())
	if errors.Is(err, store.ErrExists) {
		return store.User{}, ErrTaken
	}
	if err != nil {
		return store.User{}, fmt.Errorf("create account %q: %w", name, err)
	}
	return u, nil
}

// Authenticate checks a username and password. Unknown users and wrong
// passwords both give ErrBadCredentials, after the same amount of hashing.
func (s *Service) Authenticate(ctx context.Context, name, password string) (store.User, error) {
	name, nameErr := NormalizeName(name)
	var u store.User
	var err error
	if nameErr == nil {
		u, err = s.store.UserByName(ctx, name)
	}
	if nameErr != nil || errors.Is(err, store.ErrNotFound) {
		dummy, err := s.dummyHash(ctx)
		if err == nil {
			_, err = s.hasher.Verify(ctx, password, dummy)
		}
		if err != nil {
			// Busy or cancelled: not a wrong password, and not to be counted as one.
			return store.User{}, fmt.Errorf("authenticate: %w", err)
		}
		return store.User{}, ErrBadCredentials
	}
	if err != nil {
		return store.User{}, fmt.Errorf("authenticate %q: %w", name, err)
	}
	ok, err := s.hasher.Verify(ctx, password, u.PasswordHash)
	if err != nil {
		return store.User{}, fmt.Errorf("authenticate %q: %w", name, err)
	}
	if !ok {
		return store.User{}, ErrBadCredentials
	}
	return u, nil
}

// dummyHash is made on first use and kept once made; a first attempt that
// found the hasher busy leaves it for the next.
func (s *Service) dummyHash(ctx context.Context) (string, error) {
	s.dummyMu.Lock()
	defer s.dummyMu.Unlock()
	if s.dummy == "" {
		// Made for a login, so it waits in the logins' queue.
		h, err := s.hasher.hash(ctx, "not a real password", true)
		if err != nil {
			return "", err
		}
		s.dummy = h
	}
	return s.dummy, nil
}

// SetPassword changes a user's password; all their sessions end.
func (s *Service) SetPassword(ctx context.Context, name, password string) error {
	u, err := s.lookup(ctx, name)
	if err != nil {
		return err
	}
	if err := checkPassword(password); err != nil {
		return err
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return err
	}
	if err := s.store.SetPasswordHash(ctx, u.ID, hash, s.now()); err != nil {
		return fmt.Errorf("set password of %q: %w", u.Name, err)
	}
	return nil
}

// Delete removes an account; all its sessions end. Its messages stay in history.
func (s *Service) Delete(ctx context.Context, name string) error {
	u, err := s.lookup(ctx, name)
	if err != nil {
		return err
	}
	if err := s.store.DeleteUser(ctx, u.ID, s.now()); err != nil {
		return fmt.Errorf("delete %q: %w", u.Name, err)
	}
	return nil
}

// ErrBadRole is a role other than store.RoleMember and store.RoleAdmin.
var ErrBadRole = errors.New("the role is admin or member")

// SetRole makes an account an admin or a member.
func (s *Service) SetRole(ctx context.Context, name, role string) error {
	if role != store.RoleAdmin && role != store.RoleMember {
		return ErrBadRole
	}
	u, err := s.lookup(ctx, name)
	if err != nil {
		return err
	}
	if err := s.store.SetUserRole(ctx, u.ID, role); err != nil {
		return fmt.Errorf("set the role of %q: %w", u.Name, err)
	}
	return nil
}

// List returns all accounts by name.
func (s *Service) List(ctx context.Context) ([]store.User, error) {
	return s.store.ListUsers(ctx)
}

// Find returns the account of a name; ErrNoSuchUser if there is none.
func (s *Service) Find(ctx context.Context, name string) (store.User, error) {
	return s.lookup(ctx, name)
}

func (s *Service) lookup(ctx context.Context, name string) (store.User, error) {
	n, err := NormalizeName(name)
	if err != nil {
		return store.User{}, ErrNoSuchUser
	}
	u, err := s.store.UserByName(ctx, n)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, ErrNoSuchUser
	}
	if err != nil {
		return store.User{}, fmt.Errorf("find %q: %w", n, err)
	}
	return u, nil
}

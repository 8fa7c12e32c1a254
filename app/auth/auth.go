// Package auth turns credentials into sessions and tokens, and tokens back into
// the identity of a live session.
package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"securechat/app/accounts"
	"securechat/app/store"
	"securechat/app/tokens"
)

// ErrInvalidToken covers every reason a token does not authenticate: tampered,
// expired, revoked, or its user deleted. Clients are told no more than that.
var ErrInvalidToken = errors.New("invalid or expired token")

// SessionStore is what auth needs from storage.
type SessionStore interface {
	CreateSession(ctx context.Context, s store.Session) error
	LiveSession(ctx context.Context, sessionID string, now time.Time) (store.SessionUser, error)
	ExtendSession(ctx context.Context, sessionID string, exp time.Time) error
	RevokeSession(ctx context.Context, sessionID string, now time.Time) error
}

// Identity is who a valid token speaks for, and until when.
type Identity struct {
	UserID    int64
	User      string
	SessionID string
	LoginAt   time.Time // the session ends at the latest the maximum age after it
	ExpiresAt time.Time
	Kind      string // store.SessionBrowser, SessionToken or SessionPAT
}

// Issued is a freshly minted token.
type Issued struct {
	Token    string
	Identity Identity
}

// Service issues and checks tokens.
type Service struct {
	accounts *accounts.Service
	sessions SessionStore
	codec    *tokens.Codec
	ttl      time.Duration
	maxAge   time.Duration
	now      func() time.Time
	patLimit int // live personal access tokens per user (0: DefaultPATsPerUser)
	seen     lastSeen
}

// NewService returns an auth service whose tokens live for ttl, and whose
// sessions, however often refreshed, end maxAge after their login.
func NewService(a *accounts.Service, s SessionStore, c *tokens.Codec, ttl, maxAge time.Duration, now func() time.Time) *Service {
	return &Service{accounts: a, sessions: s, codec: c, ttl: ttl, maxAge: maxAge, now: now, seen: lastSeen{due: make(map[string]struct{})}}
}

// Login checks credentials and starts a new session. A new session id at every
// login means a session id seen before login (fixation) is worth nothing.
// It asks for no second factor: the web layer authenticates with
// accounts.Service, checks app/twofactor, then calls StartSession.
func (s *Service) Login(ctx context.Context, name, password string) (Issued, error) {
	u, err := s.accounts.Authenticate(ctx, name, password)
	if err != nil {
		return Issued{}, err
	}
	return s.Start(ctx, u)
}

// Start begins a session for a user whose credentials were just checked (or
// who has just signed up, so the password need not be hashed a second time).
func (s *Service) Start(ctx context.Context, u store.User) (Issued, error) {
	return s.StartSession(ctx, u, Meta{})
}

// end is when a session that began at login ends, however often refreshed.
func (s *Service) end(login time.Time) time.Time { return login.Add(s.maxAge) }

// sessionEnd is when a live session ends: a personal access token at the
// expiry it was made with (days, not the maximum age of a login).
func (s *Service) sessionEnd(su store.SessionUser) time.Time {
	if su.Kind == store.SessionPAT {
		return su.ExpiresAt
	}
	return earliest(su.ExpiresAt, s.end(su.CreatedAt))
}

// Authenticate returns the identity of a token whose session is live: a
// sealed session token, or a personal access token (PATPrefix).
func (s *Service) Authenticate(ctx context.Context, token string) (Identity, error) {
	if strings.HasPrefix(token, PATPrefix) {
		return s.authenticatePAT(ctx, token)
	}
	claims, err := s.codec.Decode(token)
	if err != nil {
		return Identity{}, ErrInvalidToken
	}
	now := s.now()
	su, err := s.sessions.LiveSession(ctx, claims.SessionID, now)
	if errors.Is(err, store.ErrNotFound) || err == nil && (su.UserID != claims.UserID || su.Kind == store.SessionPAT || !now.Before(s.end(su.CreatedAt))) {
		return Identity{}, ErrInvalidToken
	}
	if err != nil {
		return Identity{}, fmt.Errorf("check token: %w", err)
	}
	s.touch(su, now)
	// The session's row is capped by Refresh; the maximum age is applied
	// here too for rows extended before it existed.
	exp := earliest(claims.Expires(), su.ExpiresAt, s.end(su.CreatedAt))
	return Identity{UserID: su.UserID, User: su.UserName, SessionID: su.SessionID, LoginAt: su.CreatedAt, ExpiresAt: exp, Kind: su.Kind}, nil
}

func (s *Service) authenticatePAT(ctx context.Context, token string) (Identity, error) {
	now := s.now()
	su, err := s.sessions.LiveSession(ctx, patSessionID(token), now)
	if errors.Is(err, store.ErrNotFound) || err == nil && su.Kind != store.SessionPAT {
		return Identity{}, ErrInvalidToken
	}
	if err != nil {
		return Identity{}, fmt.Errorf("check token: %w", err)
	}
	s.touch(su, now)
	return Identity{UserID: su.UserID, User: su.UserName, SessionID: su.SessionID, LoginAt: su.CreatedAt, ExpiresAt: su.ExpiresAt, Kind: su.Kind}, nil
}

// Refresh extends a live session by the token lifetime from now, but never
// past its maximum age from login, and returns a new token for it. Only an
// active client refreshes, so an idle session still ends at its expiry; and a
// stolen token cannot be kept alive for ever by refreshing it. Past the
// maximum age it gives ErrInvalidToken: log in again. The capped expiry is
// what the store keeps, so open sockets, which look there when their own
// expiry comes, close at it too.
func (s *Service) Refresh(ctx context.Context, id Identity) (Issued, error) {
	if id.Kind == store.SessionPAT {
		// A PAT lives the days it was made for; refreshing would shorten it
		// to a login's lifetime, and it needs no second token.
		return Issued{}, ErrInvalidToken
	}
	now := s.now()
	end := s.end(id.LoginAt)
	if !now.Before(end) {
		return Issued{}, ErrInvalidToken
	}
	exp := earliest(now.Add(s.ttl), end)
	if err := s.sessions.ExtendSession(ctx, id.SessionID, exp); errors.Is(err, store.ErrNotFound) {
		return Issued{}, ErrInvalidToken
	} else if err != nil {
		return Issued{}, fmt.Errorf("refresh session: %w", err)
	}
	id.ExpiresAt = exp
	return s.issue(id, now)
}

// SessionExpiry returns when a live session ends; ErrInvalidToken if it has ended.
func (s *Service) SessionExpiry(ctx context.Context, sessionID string) (time.Time, error) {
	now := s.now()
	su, err := s.sessions.LiveSession(ctx, sessionID, now)
	if errors.Is(err, store.ErrNotFound) || err == nil && !now.Before(s.sessionEnd(su)) {
		return time.Time{}, ErrInvalidToken
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("check session: %w", err)
	}
	return s.sessionEnd(su), nil
}

// Logout revokes a session; its tokens stop working at once.
func (s *Service) Logout(ctx context.Context, sessionID string) error {
	if err := s.sessions.RevokeSession(ctx, sessionID, s.now()); err != nil {
		return fmt.Errorf("log out: %w", err)
	}
	return nil
}

func (s *Service) issue(id Identity, now time.Time) (Issued, error) {
	tok, err := s.codec.Encode(tokens.Claims{
		UserID: id.UserID, SessionID: id.SessionID, IssuedAt: now.Unix(), ExpiresAt: id.ExpiresAt.Unix(),
	})
	if err != nil {
		return Issued{}, err
	}
	// Claims carry whole seconds; report the expiry the token really has.
	id.ExpiresAt = time.Unix(id.ExpiresAt.Unix(), 0)
	return Issued{Token: tok, Identity: id}, nil
}

func earliest(t time.Time, more ...time.Time) time.Time {
	for _, u := range more {
		if u.Before(t) {
			t = u
		}
	}
	return t
}

func newSessionID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new session id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Package auth turns credentials into sessions and tokens, and tokens back into
// the identity of a live session.
package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
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
	ExpiresAt time.Time
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
	now      func() time.Time
}

// NewService returns an auth service whose tokens live for ttl.
func NewService(a *accounts.Service, s SessionStore, c *tokens.Codec, ttl time.Duration, now func() time.Time) *Service {
	return &Service{accounts: a, sessions: s, codec: c, ttl: ttl, now: now}
}

// Login checks credentials and starts a new session. A new session id at every
// login means a session id seen before login (fixation) is worth nothing.
func (s *Service) Login(ctx context.Context, name, password string) (Issued, error) {
	u, err := s.accounts.Authenticate(ctx, name, password)
	if err != nil {
		return Issued{}, err
	}
	id, err := newSessionID()
	if err != nil {
		return Issued{}, err
	}
	now := s.now()
	sess := store.Session{ID: id, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(s.ttl)}
	if err := s.sessions.CreateSession(ctx, sess); err != nil {
		return Issued{}, fmt.Errorf("log in %q: %w", u.Name, err)
	}
	return s.issue(Identity{UserID: u.ID, User: u.Name, SessionID: id, ExpiresAt: sess.ExpiresAt}, now)
}

// Authenticate returns the identity of a token whose session is live.
func (s *Service) Authenticate(ctx context.Context, token string) (Identity, error) {
	claims, err := s.codec.Decode(token)
	if err != nil {
		return Identity{}, ErrInvalidToken
	}
	su, err := s.sessions.LiveSession(ctx, claims.SessionID, s.now())
	if errors.Is(err, store.ErrNotFound) || err == nil && su.UserID != claims.UserID {
		return Identity{}, ErrInvalidToken
	}
	if err != nil {
		return Identity{}, fmt.Errorf("check token: %w", err)
	}
	exp := claims.Expires()
	if su.ExpiresAt.Before(exp) {
		exp = su.ExpiresAt
	}
	return Identity{UserID: su.UserID, User: su.UserName, SessionID: su.SessionID, ExpiresAt: exp}, nil
}

// Refresh extends a live session by the token lifetime from now and returns a
// new token for it. Only an active client refreshes, so an idle session still
// ends at its expiry.
func (s *Service) Refresh(ctx context.Context, id Identity) (Issued, error) {
	now := s.now()
	exp := now.Add(s.ttl)
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
	su, err := s.sessions.LiveSession(ctx, sessionID, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return time.Time{}, ErrInvalidToken
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("check session: %w", err)
	}
	return su.ExpiresAt, nil
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

func newSessionID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new session id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

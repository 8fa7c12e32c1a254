package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"securechat/app/store"
)

// SessionLister is what the session list and personal access tokens need
// from storage besides SessionStore.
type SessionLister interface {
	UserSessions(ctx context.Context, userID int64, now time.Time) ([]store.Session, error)
	TouchSessions(ctx context.Context, sessionIDs []string, at time.Time) error
}

// Meta is what a new session records of the client that started it.
type Meta struct {
	Kind      string // store.SessionBrowser, SessionToken or SessionPAT
	Address   string // the client address as the web layer sees it
	UserAgent string // cut to MaxUserAgent bytes
}

// MaxUserAgent is how much of a User-Agent a session keeps: enough to tell
// browsers apart, not a place to store a megabyte.
const MaxUserAgent = 256

// lastSeenEvery is how stale a session's last_seen may get: it is due when a
// token authenticates and the stored one is older, so at most one write a
// minute per session, however busy.
const lastSeenEvery = time.Minute

// maxDueLastSeen bounds the sessions waiting for their last_seen write. A
// session is in it once however often it is used, and sessions are bounded
// by the login and sign-up limits; past it, a last-seen time is lost, not a
// request.
const maxDueLastSeen = 100_000

// PATPrefix starts every personal access token, so that a token check knows
// which kind it holds, and secret scanners can find a leaked one.
const PATPrefix = "scpat_"

// Limits of personal access tokens.
const (
	MaxPATName         = 64
	DefaultPATDays     = 90
	MaxPATDays         = 365
	DefaultPATsPerUser = 20
)

// Errors of personal access tokens and of ending sessions.
var (
	ErrPATName       = fmt.Errorf("a token's name is 1 to %d printable characters", MaxPATName)
	ErrPATDays       = fmt.Errorf("expires_in_days is 1 to %d", MaxPATDays)
	ErrTooManyPATs   = errors.New("too many personal access tokens; revoke one first")
	ErrNoSuchSession = errors.New("no such session")
)

// SessionInfo is one of a user's sessions as its owner sees it. ID is a
// public id (PublicID): never the session id, which tokens carry.
type SessionInfo struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Name      string    `json:"name,omitempty"`
	Created   time.Time `json:"created"`
	LastSeen  time.Time `json:"last_seen"`
	Expires   time.Time `json:"expires"`
	Address   string    `json:"address"`
	UserAgent string    `json:"user_agent"`
	Current   bool      `json:"current"`
}

// PublicID is the id a session is shown and ended by: a prefix of the
// SHA-256 of its id. The session id is no credential by itself (tokens are
// sealed), but it is what every token of the session carries, and a PAT's
// session id is its token's hash; the public id gives neither away, and 96
// bits cannot collide among one user's sessions.
func PublicID(sessionID string) string {
	h := sha256.Sum256([]byte("securechat session\x00" + sessionID))
	return base64.RawURLEncoding.EncodeToString(h[:12])
}

// patSessionID is the session id of a personal access token: its SHA-256.
// The token is 256 random bits, so a fast hash is right (nothing to guess
// from it); the store never holds the token itself.
func patSessionID(token string) string {
	h := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// LimitPATs sets how many live personal access tokens a user may have.
func (s *Service) LimitPATs(n int) { s.patLimit = n }

func (s *Service) lister() (SessionLister, error) {
	l, ok := s.sessions.(SessionLister)
	if !ok {
		return nil, errors.New("the session store cannot list sessions")
	}
	return l, nil
}

// StartSession begins a session for a user whose credentials were just
// checked, recording meta. The caller asks for a second factor first where
// the user has one (app/web's login and /token do, with app/twofactor).
func (s *Service) StartSession(ctx context.Context, u store.User, meta Meta) (Issued, error) {
	id, err := newSessionID()
	if err != nil {
		return Issued{}, err
	}
	now := s.now()
	exp := earliest(now.Add(s.ttl), now.Add(s.maxAge))
	sess := newSession(id, u.ID, now, exp, meta)
	if err := s.sessions.CreateSession(ctx, sess); err != nil {
		return Issued{}, fmt.Errorf("log in %q: %w", u.Name, err)
	}
	return s.issue(Identity{UserID: u.ID, User: u.Name, SessionID: id, LoginAt: now, ExpiresAt: exp, Kind: sess.Kind}, now)
}

func newSession(id string, userID int64, now, exp time.Time, meta Meta) store.Session {
	ua := meta.UserAgent
	if len(ua) > MaxUserAgent {
		ua = strings.ToValidUTF8(ua[:MaxUserAgent], "")
	}
	kind := meta.Kind
	if kind == "" {
		kind = store.SessionToken
	}
	return store.Session{ID: id, UserID: userID, CreatedAt: now, ExpiresAt: exp, Kind: kind, Address: meta.Address, UserAgent: ua, LastSeen: now}
}

// lastSeen holds the sessions whose last_seen is due, written together by
// FlushLastSeen. A token check used to write it itself: after a restart
// every session's first socket did, one synced write each through the
// store's single writer, and the handshakes of a reconnect storm queued
// behind them for seconds.
type lastSeen struct {
	mu  sync.Mutex
	due map[string]struct{}
}

// touch records that a session was used, if its last_seen is a minute old.
// It is best effort: a failed write loses a last-seen time, not a request.
func (s *Service) touch(su store.SessionUser, now time.Time) {
	if now.Sub(su.LastSeen) < lastSeenEvery {
		return
	}
	s.seen.mu.Lock()
	defer s.seen.mu.Unlock()
	if len(s.seen.due) < maxDueLastSeen {
		s.seen.due[su.SessionID] = struct{}{}
	}
}

// FlushLastSeen writes the last_seen of every session used since the last
// flush (and due), in one write.
func (s *Service) FlushLastSeen(ctx context.Context) error {
	s.seen.mu.Lock()
	ids := slices.Collect(maps.Keys(s.seen.due))
	clear(s.seen.due)
	s.seen.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	l, err := s.lister()
	if err != nil {
		return err
	}
	if err := l.TouchSessions(ctx, ids, s.now()); err != nil {
		return fmt.Errorf("record %d sessions' last use: %w", len(ids), err)
	}
	return nil
}

// RunLastSeen flushes the due last_seen times every period until ctx ends,
// then once more.
func (s *Service) RunLastSeen(ctx context.Context, every time.Duration, log *slog.Logger) {
	flush := func(ctx context.Context) {
		if err := s.FlushLastSeen(ctx); err != nil {
			log.Warn("last seen", "err", err)
		}
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			flush(ctx)
		case <-ctx.Done():
			// The store outlives its helpers: the last flush gets a while of its own.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			flush(fctx)
			return
		}
	}
}

// Sessions lists the live sessions of the caller's user; the caller's own
// is marked current.
func (s *Service) Sessions(ctx context.Context, caller Identity) ([]SessionInfo, error) {
	l, err := s.lister()
	if err != nil {
		return nil, err
	}
	now := s.now()
	all, err := l.UserSessions(ctx, caller.UserID, now)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	out := make([]SessionInfo, 0, len(all))
	for _, ss := range all {
		end := ss.ExpiresAt
		if ss.Kind != store.SessionPAT {
			end = earliest(end, s.end(ss.CreatedAt))
		}
		if !now.Before(end) {
			continue
		}
		out = append(out, SessionInfo{
			ID: PublicID(ss.ID), Kind: ss.Kind, Name: ss.Name, Created: ss.CreatedAt, LastSeen: ss.LastSeen,
			Expires: end, Address: ss.Address, UserAgent: ss.UserAgent, Current: ss.ID == caller.SessionID,
		})
	}
	return out, nil
}

// EndSession ends the caller's user's session with public id publicID;
// ErrNoSuchSession if the user has no live session of that id (another
// user's is not theirs to end, nor to learn exists). kind, if not "",
// restricts it to sessions of that kind.
func (s *Service) EndSession(ctx context.Context, userID int64, publicID, kind string) error {
	l, err := s.lister()
	if err != nil {
		return err
	}
	now := s.now()
	all, err := l.UserSessions(ctx, userID, now)
	if err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	for _, ss := range all {
		if PublicID(ss.ID) == publicID && (kind == "" || ss.Kind == kind) {
			if err := s.sessions.RevokeSession(ctx, ss.ID, now); err != nil {
				return fmt.Errorf("end session: %w", err)
			}
			return nil
		}
	}
	return ErrNoSuchSession
}

// EndOtherSessions ends every session of the caller's user but the caller's
// own, personal access tokens excepted (they are revoked one by one, by
// name), and says how many ended.
func (s *Service) EndOtherSessions(ctx context.Context, caller Identity) (int, error) {
	l, err := s.lister()
	if err != nil {
		return 0, err
	}
	now := s.now()
	all, err := l.UserSessions(ctx, caller.UserID, now)
	if err != nil {
		return 0, fmt.Errorf("end other sessions: %w", err)
	}
	n := 0
	for _, ss := range all {
		if ss.ID == caller.SessionID || ss.Kind == store.SessionPAT {
			continue
		}
		if err := s.sessions.RevokeSession(ctx, ss.ID, now); err != nil {
			return n, fmt.Errorf("end other sessions: %w", err)
		}
		n++
	}
	return n, nil
}

// CreatePAT makes a personal access token for u, valid for days days, and
// returns it (the only time it is seen) with its listing.
func (s *Service) CreatePAT(ctx context.Context, u store.User, name string, days int, meta Meta) (string, SessionInfo, error) {
	if name == "" || utf8.RuneCountInString(name) > MaxPATName || !utf8.ValidString(name) || strings.IndexFunc(name, isControl) >= 0 {
		return "", SessionInfo{}, ErrPATName
	}
	if days < 1 || days > MaxPATDays {
		return "", SessionInfo{}, ErrPATDays
	}
	l, err := s.lister()
	if err != nil {
		return "", SessionInfo{}, err
	}
	now := s.now()
	all, err := l.UserSessions(ctx, u.ID, now)
	if err != nil {
		return "", SessionInfo{}, fmt.Errorf("create token: %w", err)
	}
	limit := s.patLimit
	if limit <= 0 {
		limit = DefaultPATsPerUser
	}
	n := 0
	for _, ss := range all {
		if ss.Kind == store.SessionPAT {
			n++
		}
	}
	if n >= limit {
		return "", SessionInfo{}, ErrTooManyPATs
	}
	token := PATPrefix + rand.Text() + rand.Text() // 2 × 128 bits
	meta.Kind = store.SessionPAT
	sess := newSession(patSessionID(token), u.ID, now, now.AddDate(0, 0, days), meta)
	sess.Name = name
	if err := s.sessions.CreateSession(ctx, sess); err != nil {
		return "", SessionInfo{}, fmt.Errorf("create token: %w", err)
	}
	return token, SessionInfo{ID: PublicID(sess.ID), Kind: sess.Kind, Name: name, Created: now, LastSeen: now,
		Expires: sess.ExpiresAt, Address: sess.Address, UserAgent: sess.UserAgent}, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// PATs lists the user's live personal access tokens (never the tokens).
func (s *Service) PATs(ctx context.Context, caller Identity) ([]SessionInfo, error) {
	all, err := s.Sessions(ctx, caller)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, si := range all {
		if si.Kind == store.SessionPAT {
			out = append(out, si)
		}
	}
	return out, nil
}

// RevokeToken ends the session of a token, a session token or a personal
// access token (RFC 7009). An invalid, unknown or already revoked token is
// no error: there is nothing to end.
func (s *Service) RevokeToken(ctx context.Context, token string) error {
	var sessionID string
	if strings.HasPrefix(token, PATPrefix) {
		sessionID = patSessionID(token)
	} else {
		claims, err := s.codec.Decode(token)
		if err != nil {
			return nil
		}
		sessionID = claims.SessionID
	}
	if err := s.sessions.RevokeSession(ctx, sessionID, s.now()); err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	return nil
}

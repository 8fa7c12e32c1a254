// Package audit records security events (logins, logouts, sessions ended,
// password and role changes, tokens, two-factor login) in the store's audit
// log, and reads them back for admins.
package audit

import (
	"context"
	"log/slog"
	"time"
	"unicode/utf8"

	"securechat/app/store"
)

// The events. They are stored as these strings; never rename one.
const (
	Signup           = "signup"
	Login            = "login"
	LoginFailed      = "login_failed"
	Logout           = "logout"
	SessionEnded     = "session_ended"
	PasswordChanged  = "password_changed"
	AccountDeleted   = "account_deleted"
	RoleChanged      = "role_changed"
	PATCreated       = "pat_created"
	PATRevoked       = "pat_revoked"
	TwoFactorOn      = "2fa_enrolled"
	TwoFactorOff     = "2fa_disabled"
	TwoFactorReset   = "2fa_reset"
	RecoveryCodeUsed = "recovery_code_used"
	Throttled        = "throttled"
	DataExported     = "data_exported" // a user's export: from /settings, or by the CLI
	// Private rooms (the room is in Detail).
	MemberInvited  = "member_invited"
	MemberRemoved  = "member_removed"
	MessageDeleted = "message_deleted" // by a room owner or an admin, of someone else's message
)

// ActorCLI is the actor of what the command line does.
const ActorCLI = "cli"

// The reasons a login failed, in Detail.
const (
	ReasonBadCredentials = "bad credentials"
	ReasonRateLimited    = "rate limited"
	ReasonSecondFactor   = "2fa"
)

// maxField bounds what a client sends that is stored (a user agent, a name
// tried at login), so one request cannot write a large row.
const maxField = 256

// Store is what the recorder needs from storage.
type Store interface {
	AppendAudit(ctx context.Context, e store.AuditEvent) (int64, error)
	AuditEvents(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error)
	PruneAudit(ctx context.Context, before time.Time) (int64, error)
}

// Recorder appends events to the audit log. A nil *Recorder records nothing.
type Recorder struct {
	store Store
	now   func() time.Time
	log   *slog.Logger
}

// New returns a recorder writing to s.
func New(s Store, now func() time.Time, log *slog.Logger) *Recorder {
	return &Recorder{store: s, now: now, log: log}
}

// Record appends e, timed now. It never fails the caller's request: the
// event already happened, so a store error is logged (with the event, so the
// log keeps what the table missed). The write does not end with the request:
// a client that hangs up must not erase its trace.
func (r *Recorder) Record(ctx context.Context, e store.AuditEvent) {
	if r == nil {
		return
	}
	e.Time = r.now()
	e.UserAgent = truncate(e.UserAgent)
	e.Subject = truncate(e.Subject)
	e.Actor = truncate(e.Actor)
	e.Detail = truncate(e.Detail)
	if _, err := r.store.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		r.log.Error("audit log write failed", "err", err, "event", e.Event, "actor", e.Actor, "subject", e.Subject,
			"remote", e.Address, "detail", e.Detail)
	}
}

// List returns a page of the log, newest first.
func (r *Recorder) List(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error) {
	return r.store.AuditEvents(ctx, q)
}

// PruneEvery deletes the rows older than retention at once and then every
// interval, until ctx ends. Every node may do it; the deletes are idempotent.
func (r *Recorder) PruneEvery(ctx context.Context, interval, retention time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := r.store.PruneAudit(ctx, r.now().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			r.log.Warn("prune audit log", "err", err)
		case n > 0:
			r.log.Info("pruned", "audit_rows", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// truncate cuts s to maxField bytes without splitting a character.
func truncate(s string) string {
	if len(s) <= maxField {
		return s
	}
	s = s[:maxField]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

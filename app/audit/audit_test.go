package audit

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"securechat/app/store"
)

type fakeStore struct {
	rows []store.AuditEvent
	err  error
	ctx  context.Context

	prunes chan time.Time // the cut-offs PruneAudit was given
}

func (f *fakeStore) AppendAudit(ctx context.Context, e store.AuditEvent) (int64, error) {
	f.ctx = ctx
	if f.err != nil {
		return 0, f.err
	}
	f.rows = append(f.rows, e)
	return int64(len(f.rows)), nil
}

func (f *fakeStore) AuditEvents(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error) {
	return f.rows, nil
}

func (f *fakeStore) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	if f.prunes != nil {
		f.prunes <- before
	}
	return 0, nil
}

func TestRecord(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	long := strings.Repeat("é", 300) // 600 bytes
	cases := []struct {
		name    string
		err     error
		wantRow bool
		wantLog string
	}{
		{"stored", nil, true, ""},
		{"store error is logged, not returned", errors.New("disk full"), false, "audit log write failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			fs := &fakeStore{err: tc.err}
			r := New(fs, func() time.Time { return now }, slog.New(slog.NewTextHandler(&logs, nil)))
			ctx, cancel := context.WithCancel(t.Context())
			cancel() // the client hung up; the row is written all the same
			r.Record(ctx, store.AuditEvent{Event: Login, Actor: "alice", Subject: "alice", Address: "192.0.2.1", UserAgent: long})
			if fs.ctx.Err() != nil {
				t.Errorf("the store was given a cancelled context")
			}
			if (len(fs.rows) == 1) != tc.wantRow {
				t.Fatalf("rows = %+v; want a row: %v", fs.rows, tc.wantRow)
			}
			if tc.wantRow {
				got := fs.rows[0]
				if !got.Time.Equal(now) || got.Event != Login || got.Address != "192.0.2.1" {
					t.Errorf("row = %+v", got)
				}
				if len(got.UserAgent) > maxField || !strings.HasPrefix(long, got.UserAgent) || got.UserAgent == "" {
					t.Errorf("user agent of %d bytes stored as %d bytes (%q)", len(long), len(got.UserAgent), got.UserAgent)
				}
			}
			if !strings.Contains(logs.String(), tc.wantLog) || (tc.wantLog == "") != (logs.Len() == 0) {
				t.Errorf("log = %q; want %q", logs.String(), tc.wantLog)
			}
		})
	}
	var nilRecorder *Recorder
	nilRecorder.Record(t.Context(), store.AuditEvent{Event: Login}) // records nothing, does not panic
}

// TestPruneEvery: the first prune runs at once, with the cut-off retention
// before now, and the loop ends with its context.
func TestPruneEvery(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	fs := &fakeStore{prunes: make(chan time.Time, 1)}
	r := New(fs, func() time.Time { return now }, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		r.PruneEvery(ctx, time.Hour, 48*time.Hour)
		close(done)
	}()
	select {
	case before := <-fs.prunes:
		if want := now.Add(-48 * time.Hour); !before.Equal(want) {
			t.Errorf("pruned before %v; want %v", before, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no prune at start")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("PruneEvery did not return when its context ended")
	}
}

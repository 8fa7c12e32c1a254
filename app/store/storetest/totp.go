package storetest

import (
	"errors"
	"testing"
	"time"

	"securechat/app/store"
)

var totpCases = []scenario{
	{"enrol, confirm and disable", func(t *testing.T, e *env) {
		u, err := e.CreateUser(e.ctx, "alice", "hash", base)
		must(t, err, "create alice")
		if _, err := e.TOTP(e.ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("TOTP before enrolling = %v; want ErrNotFound", err)
		}
		if err := e.ConfirmTOTP(e.ctx, u.ID, 5, nil); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ConfirmTOTP with nothing pending = %v; want ErrNotFound", err)
		}
		must(t, e.PutTOTP(e.ctx, u.ID, "s1", base), "put s1")
		must(t, e.PutTOTP(e.ctx, u.ID, "s2", base), "put s2 in place of pending s1")
		got, err := e.TOTP(e.ctx, u.ID)
		must(t, err, "find pending")
		if got.Secret != "s2" || got.Confirmed {
			t.Errorf("pending TOTP = %+v; want s2, unconfirmed", got)
		}
		if ok, err := e.UseTOTPStep(e.ctx, u.ID, 9); err != nil || ok {
			t.Errorf("UseTOTPStep on a pending secret = %v, %v; want false", ok, err)
		}
		must(t, e.ConfirmTOTP(e.ctx, u.ID, 10, []string{"h1", "h2"}), "confirm")
		got, err = e.TOTP(e.ctx, u.ID)
		must(t, err, "find confirmed")
		if got.Secret != "s2" || !got.Confirmed || got.LastStep != 10 {
			t.Errorf("confirmed TOTP = %+v; want s2, confirmed, step 10", got)
		}
		if err := e.PutTOTP(e.ctx, u.ID, "s3", base); !errors.Is(err, store.ErrExists) {
			t.Errorf("PutTOTP over a confirmed secret = %v; want ErrExists", err)
		}
		if n, err := e.RecoveryCodesLeft(e.ctx, u.ID); err != nil || n != 2 {
			t.Errorf("RecoveryCodesLeft = %d, %v; want 2", n, err)
		}
		// A re-seal applies only over the secret it read.
		must(t, e.ResealTOTP(e.ctx, u.ID, "s1", "stale"), "reseal over another secret")
		must(t, e.ResealTOTP(e.ctx, u.ID, "s2", "s2b"), "reseal")
		if got, err := e.TOTP(e.ctx, u.ID); err != nil || got.Secret != "s2b" || !got.Confirmed || got.LastStep != 10 {
			t.Errorf("after reseal TOTP = %+v, %v; want s2b, confirmed, step 10", got, err)
		}
		must(t, e.DeleteTOTP(e.ctx, u.ID), "delete")
		if _, err := e.TOTP(e.ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("TOTP after delete = %v; want ErrNotFound", err)
		}
		if n, err := e.RecoveryCodesLeft(e.ctx, u.ID); err != nil || n != 0 {
			t.Errorf("RecoveryCodesLeft after delete = %d, %v; want 0", n, err)
		}
		if err := e.DeleteTOTP(e.ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second DeleteTOTP = %v; want ErrNotFound", err)
		}
	}},

	{"steps and recovery codes are used once", func(t *testing.T, e *env) {
		u, err := e.CreateUser(e.ctx, "alice", "hash", base)
		must(t, err, "create alice")
		must(t, e.PutTOTP(e.ctx, u.ID, "s", base), "put")
		must(t, e.ConfirmTOTP(e.ctx, u.ID, 10, []string{"h1", "h2"}), "confirm")
		// A second handle is another node: the record is shared.
		other := e.handle(t)
		for _, c := range []struct {
			step int64
			want bool
		}{{10, false}, {9, false}, {11, true}, {11, false}, {13, true}, {12, false}} {
			if ok, err := other.UseTOTPStep(e.ctx, u.ID, c.step); err != nil || ok != c.want {
				t.Errorf("UseTOTPStep(%d) = %v, %v; want %v", c.step, ok, err, c.want)
			}
		}
		for _, c := range []struct {
			hash string
			want bool
		}{{"h1", true}, {"h1", false}, {"nope", false}, {"h2", true}} {
			if ok, err := other.UseRecoveryCode(e.ctx, u.ID, c.hash); err != nil || ok != c.want {
				t.Errorf("UseRecoveryCode(%s) = %v, %v; want %v", c.hash, ok, err, c.want)
			}
		}
	}},

	{"deleting the user removes it", func(t *testing.T, e *env) {
		u, err := e.CreateUser(e.ctx, "alice", "hash", base)
		must(t, err, "create alice")
		must(t, e.PutTOTP(e.ctx, u.ID, "s", base), "put")
		must(t, e.ConfirmTOTP(e.ctx, u.ID, 10, []string{"h1"}), "confirm")
		must(t, e.DeleteUser(e.ctx, u.ID, at(time.Minute)), "delete alice")
		if _, err := e.TOTP(e.ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("TOTP after deleting the user = %v; want ErrNotFound", err)
		}
		if n, err := e.RecoveryCodesLeft(e.ctx, u.ID); err != nil || n != 0 {
			t.Errorf("RecoveryCodesLeft after deleting the user = %d, %v; want 0", n, err)
		}
	}},
}

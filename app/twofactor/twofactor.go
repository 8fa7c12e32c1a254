// Package twofactor is the second step of a login: authenticator codes
// (TOTP, RFC 6238) and single-use recovery codes.
package twofactor

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"image/png"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"securechat/app/store"
)

// Errors a user can be shown.
var (
	ErrBadCode     = errors.New("wrong or already used code")
	ErrNotEnrolled = errors.New("two-factor login is not on")
	ErrEnrolled    = errors.New("two-factor login is already on")
	ErrNoPending   = errors.New("start enrolling first")
	// ErrUnreadable is a stored secret the token keys no longer open: the
	// key that sealed it was dropped from the key list. Only an admin's
	// reset (or, while pending, a new enrolment) helps.
	ErrUnreadable = errors.New("the two-factor secret can no longer be read; an admin must reset it")
)

// The codes are what every authenticator app assumes: SHA-1, 6 digits, 30 s.
const (
	period = 30
	digits = otp.DigitsSix
	// skew is how many steps either side of now a code is accepted, for
	// clocks that drift and codes typed as they roll over.
	skew = 1
	// RecoveryCodes is how many recovery codes an enrolment gives.
	RecoveryCodes = 10
	issuer        = "securechat"
)

// Store is what twofactor needs from storage.
type Store interface {
	PutTOTP(ctx context.Context, userID int64, secret string, now time.Time) error
	TOTP(ctx context.Context, userID int64) (store.TOTP, error)
	ConfirmTOTP(ctx context.Context, userID, step int64, recoveryHashes []string) error
	UseTOTPStep(ctx context.Context, userID, step int64) (bool, error)
	UseRecoveryCode(ctx context.Context, userID int64, hash string) (bool, error)
	DeleteTOTP(ctx context.Context, userID int64) error
	ResealTOTP(ctx context.Context, userID int64, old, sealed string) error
}

// Sealer encrypts secrets at rest (the token codec does).
type Sealer interface {
	SealSecret(secret string) (string, error)
	OpenSecret(sealed string) (secret string, stale bool, err error)
}

// Service enrols users and checks their codes.
type Service struct {
	store Store
	seal  Sealer
	now   func() time.Time
}

// NewService returns a two-factor service.
func NewService(s Store, seal Sealer, now func() time.Time) *Service {
	return &Service{store: s, seal: seal, now: now}
}

// Enrolment is a new secret, to be put in an authenticator app.
type Enrolment struct {
	Secret string // base32, to type in
	URL    string // otpauth://, what the QR code holds
}

// Begin gives a user a new pending secret, in place of any pending one.
func (s *Service) Begin(ctx context.Context, userID int64, name string) (Enrolment, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: name, Period: period, Digits: digits, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return Enrolment{}, fmt.Errorf("new totp secret: %w", err)
	}
	sealed, err := s.seal.SealSecret(key.Secret())
	if err != nil {
		return Enrolment{}, err
	}
	err = s.store.PutTOTP(ctx, userID, sealed, s.now())
	if errors.Is(err, store.ErrExists) {
		return Enrolment{}, ErrEnrolled
	}
	if err != nil {
		return Enrolment{}, err
	}
	return Enrolment{Secret: key.Secret(), URL: key.URL()}, nil
}

// Pending returns a user's pending secret again (to show it after a wrong
// confirmation code); ErrNoPending if there is none.
func (s *Service) Pending(ctx context.Context, userID int64, name string) (Enrolment, error) {
	t, err := s.store.TOTP(ctx, userID)
	if errors.Is(err, store.ErrNotFound) || err == nil && t.Confirmed {
		return Enrolment{}, ErrNoPending
	}
	if err != nil {
		return Enrolment{}, err
	}
	secret, _, err := s.seal.OpenSecret(t.Secret)
	if err != nil {
		return Enrolment{}, ErrUnreadable
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		return Enrolment{}, fmt.Errorf("decode totp secret of user %d: %w", userID, err)
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: name, Period: period, Digits: digits, Algorithm: otp.AlgorithmSHA1, Secret: raw})
	if err != nil {
		return Enrolment{}, fmt.Errorf("totp url: %w", err)
	}
	return Enrolment{Secret: key.Secret(), URL: key.URL()}, nil
}

// Confirm turns a pending secret on, given a current code from it, and
// returns the recovery codes: the only time they are ever shown.
func (s *Service) Confirm(ctx context.Context, userID int64, code string) ([]string, error) {
	t, err := s.store.TOTP(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoPending
	}
	if err != nil {
		return nil, err
	}
	if t.Confirmed {
		return nil, ErrEnrolled
	}
	step, ok, err := s.match(ctx, t, code)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrBadCode
	}
	codes := make([]string, RecoveryCodes)
	hashes := make([]string, RecoveryCodes)
	for i := range codes {
		codes[i] = newRecoveryCode()
		hashes[i] = recoveryHash(userID, codes[i])
	}
	err = s.store.ConfirmTOTP(ctx, userID, step, hashes)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoPending // confirmed or reset meanwhile
	}
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// Enabled reports whether a user logs in with a second factor.
func (s *Service) Enabled(ctx context.Context, userID int64) (bool, error) {
	t, err := s.store.TOTP(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return t.Confirmed, nil
}

// Verify accepts a current code not used before, or an unused recovery code
// (recovery is then true; that code is gone). Anything else is ErrBadCode,
// or ErrNotEnrolled if the user has no second factor (any more).
func (s *Service) Verify(ctx context.Context, userID int64, code string) (recovery bool, err error) {
	t, err := s.store.TOTP(ctx, userID)
	if errors.Is(err, store.ErrNotFound) || err == nil && !t.Confirmed {
		return false, ErrNotEnrolled
	}
	if err != nil {
		return false, err
	}
	if c := normalize(code); len(c) == int(digits) {
		step, ok, err := s.match(ctx, t, c)
		if err != nil || !ok {
			return false, cmpErr(err, ErrBadCode)
		}
		// Later than the last accepted step, or refused: a code seen over a
		// shoulder or replayed is worth nothing once used.
		ok, err = s.store.UseTOTPStep(ctx, userID, step)
		if err != nil || !ok {
			return false, cmpErr(err, ErrBadCode)
		}
		return false, nil
	}
	ok, err := s.store.UseRecoveryCode(ctx, userID, recoveryHash(userID, code))
	if err != nil || !ok {
		return false, cmpErr(err, ErrBadCode)
	}
	return true, nil
}

// Disable turns two-factor login off, given a current code or a recovery code.
func (s *Service) Disable(ctx context.Context, userID int64, code string) error {
	if _, err := s.Verify(ctx, userID, code); err != nil {
		return err
	}
	return s.Reset(ctx, userID)
}

// Reset turns two-factor login off without a code (an admin's command).
func (s *Service) Reset(ctx context.Context, userID int64) error {
	err := s.store.DeleteTOTP(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotEnrolled
	}
	if err != nil {
		return fmt.Errorf("turn off two-factor login: %w", err)
	}
	return nil
}

// match finds the step, within the skew of now, whose code is code.
func (s *Service) match(ctx context.Context, t store.TOTP, code string) (step int64, ok bool, err error) {
	code = normalize(code)
	if len(code) != int(digits) {
		return 0, false, nil
	}
	secret, stale, err := s.seal.OpenSecret(t.Secret)
	if err != nil {
		return 0, false, ErrUnreadable
	}
	if stale {
		s.reseal(ctx, t, secret)
	}
	now := s.now().Unix() / period
	// Newest first: a code valid now is recorded as now's.
	for st := now + skew; st >= now-skew; st-- {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(st*period, 0), totp.ValidateOpts{Period: period, Digits: digits, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, false, fmt.Errorf("totp code: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return st, true, nil
		}
	}
	return 0, false, nil
}

// reseal seals a secret again with the first key, so that it stays readable
// once its old key leaves the list (keys rotate keeps three). Best effort:
// the old key still opens it meanwhile; a concurrent change wins.
func (s *Service) reseal(ctx context.Context, t store.TOTP, secret string) {
	sealed, err := s.seal.SealSecret(secret)
	if err != nil {
		return
	}
	s.store.ResealTOTP(ctx, t.UserID, t.Secret, sealed)
}

// QRCode returns a PNG of the QR code of an otpauth URL, drawn here: the
// secret never goes to a QR service.
func QRCode(url string, size int) ([]byte, error) {
	key, err := otp.NewKeyFromURL(url)
	if err != nil {
		return nil, fmt.Errorf("qr code: %w", err)
	}
	img, err := key.Image(size, size)
	if err != nil {
		return nil, fmt.Errorf("qr code: %w", err)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, fmt.Errorf("qr code: %w", err)
	}
	return b.Bytes(), nil
}

// normalize drops what people type between groups of digits or letters.
func normalize(code string) string {
	return strings.ToLower(strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, code))
}

var recoveryEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newRecoveryCode returns 80 random bits as xxxx-xxxx-xxxx-xxxx.
func newRecoveryCode() string {
	b := make([]byte, 10)
	rand.Read(b) // never fails (crypto/rand)
	c := strings.ToLower(recoveryEncoding.EncodeToString(b))
	return c[0:4] + "-" + c[4:8] + "-" + c[8:12] + "-" + c[12:16]
}

// recoveryHash is what is stored of a recovery code. The codes are 80
// random bits, so a fast hash suffices (nobody can try 2^80 guesses; a slow
// hash like argon2 is for passwords people choose); the user's id salts it,
// so one table of hashes serves nobody for two users.
func recoveryHash(userID int64, code string) string {
	h := sha256.Sum256([]byte("securechat recovery code\x00" + strconv.FormatInt(userID, 10) + "\x00" + normalize(code)))
	return hex.EncodeToString(h[:])
}

func cmpErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

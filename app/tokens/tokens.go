// Package tokens issues and verifies the signed, encrypted tokens that serve both
// as the session cookie's value and as OAuth2 bearer tokens.
//
// A token is a gorilla/securecookie value: HMAC-SHA256 over AES-256-CTR encrypted
// JSON claims. Several keys may be configured: the first signs, all verify, so a
// key can be rotated without logging anyone out.
package tokens

import (
	"errors"
	"fmt"
	"time"

	"github.com/gorilla/securecookie"
)

// Claims is what a token says about its bearer.
type Claims struct {
	UserID    int64  `json:"u"`
	SessionID string `json:"s"`
	IssuedAt  int64  `json:"iat"` // Unix seconds
	ExpiresAt int64  `json:"exp"` // Unix seconds
}

// Expires returns the expiry as a time.
func (c Claims) Expires() time.Time { return time.Unix(c.ExpiresAt, 0) }

// Errors returned by Decode. Callers map both to "401 invalid token"; they are
// distinct so logs can say which.
var (
	ErrInvalid = errors.New("token invalid")
	ErrExpired = errors.New("token expired")
)

// name binds tokens to this use, so a value minted for another securecookie
// purpose with the same keys cannot pass as a token.
const name = "securechat-token"

// maxLength bounds the encoded size we accept, so a huge header costs nothing to reject.
const maxLength = 1024

// Codec encodes and decodes tokens with a set of keys.
type Codec struct {
	codecs []securecookie.Codec
	now    func() time.Time
}

// NewCodec builds a codec from keys (the first signs, all verify) and a clock.
func NewCodec(keys []Key, now func() time.Time) (*Codec, error) {
	if len(keys) == 0 {
		return nil, errors.New("new token codec: no keys")
	}
	codecs := make([]securecookie.Codec, 0, len(keys))
	for _, k := range keys {
		sc := securecookie.New(k.Hash[:], k.Block[:])
		// Expiry is checked against our own claims and injected clock, not securecookie's.
		sc.MaxAge(0)
		sc.MaxLength(maxLength)
		// JSON is several times faster than the default gob for a small struct.
		sc.SetSerializer(securecookie.JSONEncoder{})
		codecs = append(codecs, sc)
	}
	return &Codec{codecs: codecs, now: now}, nil
}

// Encode signs and encrypts claims.
func (c *Codec) Encode(claims Claims) (string, error) {
	s, err := securecookie.EncodeMulti(name, claims, c.codecs...)
	if err != nil {
		return "", fmt.Errorf("encode token: %w", err)
	}
	return s, nil
}

// Decode verifies a token and returns its claims if it has not expired.
func (c *Codec) Decode(token string) (Claims, error) {
	if token == "" || len(token) > maxLength {
		return Claims{}, ErrInvalid
	}
	var claims Claims
	if err := securecookie.DecodeMulti(name, token, &claims, c.codecs...); err != nil {
		return Claims{}, ErrInvalid
	}
	if claims.SessionID == "" || claims.UserID == 0 {
		return Claims{}, ErrInvalid
	}
	if !c.now().Before(claims.Expires()) {
		return Claims{}, ErrExpired
	}
	return claims, nil
}

// Device is what a device cookie says: this browser has logged in as User.
// The login limits let such a browser past the ceiling of failures per
// username that a distributed guesser runs into (OWASP's "device cookies").
type Device struct {
	User     string `json:"n"` // the normalized username
	ID       string `json:"d"` // random, so failures can be counted per device
	IssuedAt int64  `json:"iat"`
}

// deviceName binds device cookies to their use: securecookie signs the name
// with the value, so a token cannot pass as a device cookie or the reverse.
const deviceName = "securechat-device"

// EncodeDevice signs and encrypts a device cookie's value.
func (c *Codec) EncodeDevice(d Device) (string, error) {
	s, err := securecookie.EncodeMulti(deviceName, d, c.codecs...)
	if err != nil {
		return "", fmt.Errorf("encode device cookie: %w", err)
	}
	return s, nil
}

// DecodeDevice verifies a device cookie issued less than maxAge ago.
func (c *Codec) DecodeDevice(s string, maxAge time.Duration) (Device, error) {
	if s == "" || len(s) > maxLength {
		return Device{}, ErrInvalid
	}
	var d Device
	if err := securecookie.DecodeMulti(deviceName, s, &d, c.codecs...); err != nil || d.User == "" || d.ID == "" {
		return Device{}, ErrInvalid
	}
	if !c.now().Before(time.Unix(d.IssuedAt, 0).Add(maxAge)) {
		return Device{}, ErrExpired
	}
	return d, nil
}

// Pending is a login whose password was right and whose second factor is
// still to come: the second form carries it, so the server keeps nothing
// per half-finished login but its attempt count.
type Pending struct {
	UserID    int64  `json:"u"`
	User      string `json:"n"`
	ID        string `json:"p"` // random: the key of this login's attempt limit
	ExpiresAt int64  `json:"exp"`
}

// pendingName binds pending-login values to their use.
const pendingName = "securechat-2fa-pending"

// EncodePending signs and encrypts a pending login.
func (c *Codec) EncodePending(p Pending) (string, error) {
	s, err := securecookie.EncodeMulti(pendingName, p, c.codecs...)
	if err != nil {
		return "", fmt.Errorf("encode pending login: %w", err)
	}
	return s, nil
}

// DecodePending verifies a pending login that has not expired.
func (c *Codec) DecodePending(s string) (Pending, error) {
	if s == "" || len(s) > maxLength {
		return Pending{}, ErrInvalid
	}
	var p Pending
	if err := securecookie.DecodeMulti(pendingName, s, &p, c.codecs...); err != nil || p.UserID == 0 || p.ID == "" {
		return Pending{}, ErrInvalid
	}
	if !c.now().Before(time.Unix(p.ExpiresAt, 0)) {
		return Pending{}, ErrExpired
	}
	return p, nil
}

// secretName binds sealed secrets to their use.
const secretName = "securechat-totp-secret"

// SealSecret encrypts and signs a secret to be stored (an authenticator's
// TOTP secret), so a copy of the database alone does not give it away.
// Only the keys open it: a key dropped from the key file makes what it
// sealed unreadable.
func (c *Codec) SealSecret(secret string) (string, error) {
	s, err := securecookie.EncodeMulti(secretName, secret, c.codecs...)
	if err != nil {
		return "", fmt.Errorf("seal secret: %w", err)
	}
	return s, nil
}

// OpenSecret returns the secret SealSecret sealed, and whether it was
// sealed with an older key than the first (stale): then it should be
// sealed again, before that key leaves the list.
func (c *Codec) OpenSecret(sealed string) (secret string, stale bool, err error) {
	for i, sc := range c.codecs {
		if err := sc.Decode(secretName, sealed, &secret); err == nil {
			return secret, i > 0, nil
		}
	}
	return "", false, ErrInvalid
}

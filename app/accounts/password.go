package accounts

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters: OWASP's 2023 recommendation of 19 MiB, 2 passes, 1 lane.
// About 20-30 ms a hash on this class of machine: slow for a guesser, cheap
// enough that 50 logins a second leave the chat room to breathe. They are
// recorded in every hash, so raising them later keeps old hashes valid.
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonKeyLen    = 32
	argonSaltLen   = 16
)

// ErrMalformedHash means a stored hash could not be parsed.
var ErrMalformedHash = errors.New("malformed password hash")

// ErrBusy means a hash could not start in time: too many were already waiting,
// or the wait would have been too long. The caller should answer 503 with
// Retry-After rather than queue without end.
var ErrBusy = errors.New("password hashing is busy")

// Hasher hashes and verifies passwords with argon2id, a bounded number at a
// time, so a storm of logins queues here instead of starving the chat.
//
// Waiting is bounded too, and logins go first. Verify (a login) and Hash (a
// sign-up or a password change) wait in separate queues, each holding at most
// queue waiters for at most wait; a freed slot goes to the oldest waiting
// login before any sign-up. So 128 parallel sign-ups make a login wait for at
// most the hashes already running, never behind the sign-ups, and cannot fill
// the queue logins wait in. A reserved share of slots was the alternative; on
// two cores there is one slot, which cannot be shared.
type Hasher struct {
	slots int
	queue int
	wait  time.Duration

	mu     sync.Mutex
	inUse  int
	logins []chan struct{} // waiters, oldest first; a send grants the slot
	others []chan struct{}
}

// NewHasher returns a Hasher that runs at most n hashes at once; n <= 0 means
// DefaultHashConcurrency. At most queue hashes of each kind wait, each at most
// wait; queue < 0 means no bound, wait <= 0 no time limit.
func NewHasher(n, queue int, wait time.Duration) *Hasher {
	if n <= 0 {
		n = DefaultHashConcurrency()
	}
	return &Hasher{slots: n, queue: queue, wait: wait}
}

// DefaultHashConcurrency is half of GOMAXPROCS, at least one: a login storm
// may take half the processors, never all of them (the issue asked for a bound
// of GOMAXPROCS; on two cores that let logins take the chat's whole machine).
func DefaultHashConcurrency() int {
	return max(1, runtime.GOMAXPROCS(0)/2)
}

// acquire takes a slot, waiting in the login queue when login is true.
func (h *Hasher) acquire(ctx context.Context, login bool) error {
	h.mu.Lock()
	if h.inUse < h.slots && len(h.logins) == 0 && (login || len(h.others) == 0) {
		h.inUse++
		h.mu.Unlock()
		return nil
	}
	q := &h.others
	if login {
		q = &h.logins
	}
	if h.queue >= 0 && len(*q) >= h.queue {
		h.mu.Unlock()
		return ErrBusy
	}
	granted := make(chan struct{}, 1)
	*q = append(*q, granted)
	h.mu.Unlock()

	var timeout <-chan time.Time
	if h.wait > 0 {
		t := time.NewTimer(h.wait)
		defer t.Stop()
		timeout = t.C
	}
	var err error
	select {
	case <-granted:
		return nil
	case <-timeout:
		err = ErrBusy
	case <-ctx.Done():
		err = fmt.Errorf("wait to hash password: %w", ctx.Err())
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, w := range *q {
		if w == granted {
			*q = append((*q)[:i], (*q)[i+1:]...)
			return err
		}
	}
	// Granted while giving up: pass the slot on.
	h.releaseLocked()
	return err
}

func (h *Hasher) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.releaseLocked()
}

// releaseLocked hands the slot to the oldest waiting login, else to the oldest
// other waiter, else frees it.
func (h *Hasher) releaseLocked() {
	for _, q := range []*[]chan struct{}{&h.logins, &h.others} {
		if len(*q) > 0 {
			w := (*q)[0]
			*q = (*q)[1:]
			w <- struct{}{}
			return
		}
	}
	h.inUse--
}

// Hash returns the PHC-formatted argon2id hash of password with a fresh salt.
// It waits behind logins: it serves sign-ups and password changes.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	return h.hash(ctx, password, false)
}

func (h *Hasher) hash(ctx context.Context, password string, login bool) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	if err := h.acquire(ctx, login); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	h.release()
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemoryKiB, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether password matches the encoded hash.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, ErrMalformedHash
	}
	var version int
	var mem, iters uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, ErrMalformedHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &iters, &threads); err != nil || threads == 0 || iters == 0 {
		return false, ErrMalformedHash
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, ErrMalformedHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, ErrMalformedHash
	}
	if err := h.acquire(ctx, true); err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, iters, mem, threads, uint32(len(want)))
	h.release()
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

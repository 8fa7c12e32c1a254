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

// Hasher hashes and verifies passwords with argon2id on a fixed set of
// worker goroutines, each on an OS thread of its own at the lowest scheduling
// priority. A login storm then queues here and takes only the processor time
// the chat leaves idle: the kernel runs the chat's threads first.
type Hasher struct {
	jobs chan func()
}

// NewHasher starts n hash workers (n <= 0: DefaultHashConcurrency). They run
// for the life of the process. The caller should give the Go scheduler n more
// processors (GOMAXPROCS), so the workers never hold the chat's.
func NewHasher(n int) *Hasher {
	if n <= 0 {
		n = DefaultHashConcurrency()
	}
	h := &Hasher{jobs: make(chan func())}
	for range n {
		go h.work()
	}
	return h
}

// DefaultHashConcurrency is GOMAXPROCS: with the workers at the lowest
// priority, more of them only use more of the idle time.
func DefaultHashConcurrency() int {
	return runtime.GOMAXPROCS(0)
}

func (h *Hasher) work() {
	runtime.LockOSThread() // never unlocked: the thread keeps its low priority
	lowerThreadPriority()
	for job := range h.jobs {
		job()
	}
}

// Close stops the workers once they finish what they are hashing.
func (h *Hasher) Close() { close(h.jobs) }

// run computes fn on a worker, waiting for one at most as long as ctx allows.
func (h *Hasher) run(ctx context.Context, fn func()) error {
	done := make(chan struct{})
	select {
	case h.jobs <- func() { fn(); close(done) }:
	case <-ctx.Done():
		return fmt.Errorf("wait to hash password: %w", ctx.Err())
	}
	<-done
	return nil
}

// Hash returns the PHC-formatted argon2id hash of password with a fresh salt.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	var key []byte
	if err := h.run(ctx, func() {
		key = argon2.IDKey([]byte(password), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	}); err != nil {
		return "", err
	}
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
	var got []byte
	if err := h.run(ctx, func() {
		got = argon2.IDKey([]byte(password), salt, iters, mem, threads, uint32(len(want)))
	}); err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

package tokens

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Key is one signing and encryption key pair.
type Key struct {
	Hash  [32]byte // HMAC-SHA256
	Block [32]byte // AES-256
}

// NewKey returns a fresh random key.
func NewKey() (Key, error) {
	var k Key
	if _, err := rand.Read(k.Hash[:]); err != nil {
		return Key{}, fmt.Errorf("generate key: %w", err)
	}
	if _, err := rand.Read(k.Block[:]); err != nil {
		return Key{}, fmt.Errorf("generate key: %w", err)
	}
	return k, nil
}

// String encodes the key as 64 bytes of unpadded base64url (hash key then block key).
func (k Key) String() string {
	return base64.RawURLEncoding.EncodeToString(append(k.Hash[:], k.Block[:]...))
}

// ParseKeys reads keys separated by commas or newlines; blank lines and lines
// starting with # are ignored.
func ParseKeys(s string) ([]Key, error) {
	var fields []string
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields = append(fields, strings.Split(line, ",")...)
	}
	var keys []Key
	for _, f := range fields {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		raw, err := base64.RawURLEncoding.DecodeString(f)
		if err != nil || len(raw) != 64 {
			return nil, fmt.Errorf("parse key %d: want 64 bytes of unpadded base64url", len(keys)+1)
		}
		var k Key
		copy(k.Hash[:], raw[:32])
		copy(k.Block[:], raw[32:])
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("parse keys: none found")
	}
	return keys, nil
}

// KeyFile is the name of the key file inside the data folder.
const KeyFile = "token-keys"

// LoadKeys returns the keys from env if it is not empty; otherwise from the key
// file in dir, creating it with one fresh key (mode 0600) on first run so that a
// restart logs nobody out.
func LoadKeys(env, dir string) ([]Key, error) {
	if strings.TrimSpace(env) != "" {
		return ParseKeys(env)
	}
	path := filepath.Join(dir, KeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k, err := NewKey()
		if err != nil {
			return nil, err
		}
		if err := writeKeys(path, []Key{k}); err != nil {
			return nil, err
		}
		return []Key{k}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read token keys: %w", err)
	}
	return ParseKeys(string(b))
}

// RotateKeys puts a new signing key first in the key file in dir and keeps at
// most keep-1 older keys after it for verification.
func RotateKeys(dir string, keep int) ([]Key, error) {
	old, err := LoadKeys("", dir)
	if err != nil {
		return nil, err
	}
	k, err := NewKey()
	if err != nil {
		return nil, err
	}
	keys := append([]Key{k}, old...)
	if keep > 0 && len(keys) > keep {
		keys = keys[:keep]
	}
	return keys, writeKeys(filepath.Join(dir, KeyFile), keys)
}

func writeKeys(path string, keys []Key) error {
	var b bytes.Buffer
	b.WriteString("# securechat token keys: the first signs, all verify. Keep secret.\n")
	for _, k := range keys {
		b.WriteString(k.String())
		b.WriteByte('\n')
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("write token keys: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write token keys: %w", err)
	}
	return nil
}

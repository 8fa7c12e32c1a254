package datadir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// LockFile is the file in the data folder that a server holds a shared lock
// on while it runs, and a restore an exclusive one, so that a restore never
// replaces the database under a running server (nor a server starts on a
// half-restored folder). SQLite's own locks cannot tell: a server between
// transactions holds none on the database file.
const LockFile = "securechat.lock"

// ErrLocked means another process holds the lock in a way that excludes the
// one asked for.
var ErrLocked = errors.New("the data folder is in use")

// Lock takes the data folder's lock, shared (a server) or exclusive (a
// restore), without waiting: ErrLocked if another holder excludes it. The
// lock lasts until release is called or the process ends (the kernel drops
// it even after a crash, so a stale lock file never blocks anyone).
func Lock(dir string, exclusive bool) (release func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_RDWR|os.O_CREATE, FileMode)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := lockFile(f, exclusive); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

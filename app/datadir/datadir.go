// Package datadir keeps the data folder and the files in it that hold
// secrets (password hashes, sessions, token keys) private to the server's
// user. Their creators give new ones owner-only modes; this sets back the
// modes of ones that already exist with looser ones (an older version, a
// copy, an umask), at start.
package datadir

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// Modes the folder and its secret files must not be looser than.
const (
	DirMode  fs.FileMode = 0o700
	FileMode fs.FileMode = 0o600
)

// Tighten sets dir back to DirMode and each of files in it back to FileMode
// when others than the owner may use them, logging each change. Missing ones
// are left to whoever creates them. A mode that cannot be changed (a folder
// owned by someone else) is logged and left: the server still starts.
func Tighten(dir string, files []string, log *slog.Logger) {
	tighten(dir, DirMode, log)
	for _, f := range files {
		tighten(filepath.Join(dir, f), FileMode, log)
	}
}

func tighten(path string, want fs.FileMode, log *slog.Logger) {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		log.Warn("check data file mode", "path", path, "err", err)
		return
	}
	was := info.Mode().Perm()
	if was&0o077 == 0 {
		return // nobody but the owner has access
	}
	if err := os.Chmod(path, want); err != nil {
		log.Warn("data file readable by others; could not tighten its mode", "path", path, "mode", modeText(was), "err", err)
		return
	}
	log.Warn("data file mode tightened", "path", path, "was", modeText(was), "now", modeText(want))
}

func modeText(m fs.FileMode) string { return fmt.Sprintf("%04o", m.Perm()) }

// Package backup copies the SQLite database of a data folder to a file while
// the server runs, and puts such a copy back into a data folder.
//
// The token keys (the data folder's token-keys file) are not part of a
// backup unless asked for: they sign and encrypt every session cookie and
// bearer token and seal the two-factor secrets, so whoever holds them and the
// sessions table can mint a valid login for any live session. A backup is
// often copied to storage less guarded than the server; without the keys
// its holder can read the history but not log in as anyone, and a restore
// without them ends every session (everyone logs in again), which is the
// safe default. With keys, they are written beside the backup as FILE.keys.
package backup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"securechat/app/datadir"
	"securechat/app/store/sqlite"
	"securechat/app/tokens"
)

// KeysSuffix names the keys written beside a backup FILE: FILE.keys.
const KeysSuffix = ".keys"

// Source is the live database a backup copies.
type Source interface {
	BackupTo(ctx context.Context, path string) error
}

// Options change what Create and Restore may do.
type Options struct {
	Force    bool // replace an existing backup file, or a database in the data folder
	WithKeys bool // Create: also copy the token keys to FILE.keys
}

// Result is what a backup or restore wrote.
type Result struct {
	sqlite.Summary
	Keys string // the keys file written (Create) or restored from (Restore); "" if none
}

// Create writes a consistent copy of src to file (mode 0600), checks it with
// SQLite's integrity check, and with opt.WithKeys copies dataDir's token key
// file to file+KeysSuffix. It refuses an existing file (or keys file) unless
// opt.Force. Nothing is left at file if it fails.
func Create(ctx context.Context, src Source, dataDir, file string, opt Options) (Result, error) {
	keysFile := file + KeysSuffix
	if !opt.Force {
		for _, p := range []string{file, keysFile} {
			if _, err := os.Lstat(p); err == nil {
				return Result{}, fmt.Errorf("%s exists: choose another name, or --force replaces it", p)
			}
		}
	}
	var keys []byte
	if opt.WithKeys {
		var err error
		if keys, err = os.ReadFile(filepath.Join(dataDir, tokens.KeyFile)); err != nil {
			return Result{}, fmt.Errorf("read the token keys (with SECURECHAT_TOKEN_KEYS set, keep a copy of it instead): %w", err)
		}
		if _, err := tokens.ParseKeys(string(keys)); err != nil {
			return Result{}, fmt.Errorf("%s: %w", filepath.Join(dataDir, tokens.KeyFile), err)
		}
	}
	tmp, err := reserve(file)
	if err != nil {
		return Result{}, err
	}
	defer os.Remove(tmp) // gone once installed; removes a failed copy
	if err := src.BackupTo(ctx, tmp); err != nil {
		return Result{}, err
	}
	if err := syncFile(tmp); err != nil {
		return Result{}, err
	}
	sum, err := sqlite.Check(ctx, tmp)
	if err != nil {
		return Result{}, fmt.Errorf("the copy failed its check (nothing written): %w", err)
	}
	res := Result{Summary: sum}
	if opt.WithKeys {
		if err := writePrivate(keysFile, keys, opt.Force); err != nil {
			return Result{}, err
		}
		res.Keys = keysFile
	} else if opt.Force {
		// Keys beside FILE would be taken for this backup's at restore.
		if err := os.Remove(keysFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return Result{}, fmt.Errorf("remove the keys of the backup replaced: %w", err)
		}
	}
	if err := install(tmp, file, opt.Force); err != nil {
		if res.Keys != "" {
			os.Remove(res.Keys)
		}
		return Result{}, err
	}
	return res, syncDir(filepath.Dir(file))
}

// Restore puts the backup file into dataDir as its database, after checking
// it, and its keys (file+KeysSuffix) if they exist. It refuses a data folder
// that already holds a database unless opt.Force, and in any case one that a
// server (or another command) has open: those hold the folder's lock.
func Restore(ctx context.Context, file, dataDir string, opt Options) (Result, error) {
	sum, err := sqlite.Check(ctx, file)
	if err != nil {
		return Result{}, fmt.Errorf("nothing restored: %w", err)
	}
	res := Result{Summary: sum}
	var keys []byte
	if b, err := os.ReadFile(file + KeysSuffix); err == nil {
		if _, err := tokens.ParseKeys(string(b)); err != nil {
			return Result{}, fmt.Errorf("nothing restored: %s: %w", file+KeysSuffix, err)
		}
		keys, res.Keys = b, file+KeysSuffix
	} else if !errors.Is(err, fs.ErrNotExist) {
		return Result{}, fmt.Errorf("nothing restored: read keys: %w", err)
	}
	if err := os.MkdirAll(dataDir, datadir.DirMode); err != nil {
		return Result{}, fmt.Errorf("create data folder: %w", err)
	}
	unlock, err := datadir.Lock(dataDir, true)
	if errors.Is(err, datadir.ErrLocked) {
		return Result{}, fmt.Errorf("nothing restored: a server (or another securechat command) is using %s: stop it first", dataDir)
	}
	if err != nil {
		return Result{}, err
	}
	defer unlock()
	db := filepath.Join(dataDir, sqlite.FileName)
	if !opt.Force {
		for _, p := range []string{db, db + "-wal"} {
			if fi, err := os.Stat(p); err == nil && fi.Size() > 0 {
				return Result{}, fmt.Errorf("nothing restored: %s holds a database already; --force replaces it", dataDir)
			}
		}
	}
	tmp, err := reserve(db)
	if err != nil {
		return Result{}, err
	}
	defer os.Remove(tmp)
	if err := copyFile(file, tmp); err != nil {
		return Result{}, err
	}
	// The old database's write-ahead log must not be replayed onto the new
	// file: SQLite would apply its pages to the wrong database.
	for _, p := range []string{db + "-wal", db + "-shm", db + "-journal"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return Result{}, fmt.Errorf("remove the old %s: %w", filepath.Base(p), err)
		}
	}
	if err := os.Rename(tmp, db); err != nil {
		return Result{}, fmt.Errorf("install the restored database: %w", err)
	}
	if keys != nil {
		if err := writePrivate(filepath.Join(dataDir, tokens.KeyFile), keys, true); err != nil {
			return Result{}, err
		}
	}
	return res, syncDir(dataDir)
}

// reserve creates an empty private file beside path for a copy to be written
// into, and returns its name.
func reserve(path string) (string, error) {
	b := make([]byte, 6)
	rand.Read(b)
	tmp := path + ".tmp-" + hex.EncodeToString(b)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, datadir.FileMode)
	if err != nil {
		return "", fmt.Errorf("create %s: %w", tmp, err)
	}
	return tmp, f.Close()
}

// install moves the finished tmp to path: over an existing one with force,
// otherwise only if path still does not exist (a hard link fails if it does).
func install(tmp, path string, force bool) error {
	if force {
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s appeared meanwhile: nothing written; --force replaces it", path)
		}
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Remove(tmp)
}

// writePrivate writes data to path with mode 0600, through a temporary file.
func writePrivate(path string, data []byte, force bool) error {
	tmp, err := reserve(path)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.WriteFile(tmp, data, datadir.FileMode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := syncFile(tmp); err != nil {
		return err
	}
	return install(tmp, path, force)
}

// copyFile copies src into the existing private file dst and syncs it.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("read backup: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_TRUNC, datadir.FileMode)
	if err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy backup to %s: %w", dst, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return fmt.Errorf("sync %s: %w", dst, err)
	}
	return out.Close()
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return f.Close()
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	return nil
}

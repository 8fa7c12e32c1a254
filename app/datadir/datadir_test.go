package datadir

import (
	"bytes"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTighten(t *testing.T) {
	cases := []struct {
		name      string
		mode      fs.FileMode
		want      fs.FileMode
		wantLines int
	}{
		{"world-readable", 0o644, FileMode, 1},
		{"group-writable", 0o660, FileMode, 1},
		{"private already", 0o600, 0o600, 0},
		{"read-only private", 0o400, 0o400, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			os.Chmod(dir, 0o700)
			path := filepath.Join(dir, "secret")
			if err := os.WriteFile(path, []byte("x"), tc.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(path, tc.mode) // past the umask
			var out bytes.Buffer
			Tighten(dir, []string{"secret", "missing"}, slog.New(slog.NewTextHandler(&out, nil)))
			info, _ := os.Stat(path)
			if info.Mode().Perm() != tc.want {
				t.Errorf("mode %04o, want %04o", info.Mode().Perm(), tc.want)
			}
			if n := strings.Count(out.String(), "\n"); n != tc.wantLines {
				t.Errorf("%d log lines, want %d:\n%s", n, tc.wantLines, out.String())
			}
			if _, err := os.Stat(filepath.Join(dir, "missing")); err == nil {
				t.Error("a missing file was created")
			}
		})
	}
	t.Run("folder", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		os.Mkdir(dir, 0o755)
		os.Chmod(dir, 0o755)
		var out bytes.Buffer
		Tighten(dir, nil, slog.New(slog.NewTextHandler(&out, nil)))
		if info, _ := os.Stat(dir); info.Mode().Perm() != DirMode {
			t.Errorf("folder mode %04o, want %04o", info.Mode().Perm(), DirMode)
		}
		if !strings.Contains(out.String(), "was=0755 now=0700") {
			t.Errorf("log: %s", out.String())
		}
	})
	t.Run("no folder yet", func(t *testing.T) {
		var out bytes.Buffer
		dir := filepath.Join(t.TempDir(), "none")
		Tighten(dir, []string{"x"}, slog.New(slog.NewTextHandler(&out, nil)))
		if out.Len() != 0 {
			t.Errorf("log for a folder that does not exist: %s", out.String())
		}
		if _, err := os.Stat(dir); err == nil {
			t.Error("the folder was created")
		}
	})
}

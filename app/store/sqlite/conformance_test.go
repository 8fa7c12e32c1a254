package sqlite

import (
	"testing"

	"securechat/app/store/storetest"
)

// TestConformance runs the suite every back end passes. Each case gets a
// folder of its own; the handles open the same file, as the server and the
// CLI do.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) func() storetest.Store {
		dir := t.TempDir()
		return func() storetest.Store {
			db, err := Open(t.Context(), dir)
			if err != nil {
				t.Fatalf("open %s: %v", dir, err)
			}
			return db
		}
	})
}

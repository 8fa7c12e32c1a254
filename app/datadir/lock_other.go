//go:build !unix

package datadir

import "os"

// lockFile does nothing where flock(2) is missing: a restore there cannot
// tell whether a server is running, which docs/DEPLOY.md says.
func lockFile(*os.File, bool) error { return nil }

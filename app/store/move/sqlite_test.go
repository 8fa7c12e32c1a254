package move

import (
	"context"
	"database/sql"
	"path/filepath"

	"securechat/app/store/sqlite"
)

// execSQLite runs a statement on the store in dir, as a later version's
// migration would.
func execSQLite(ctx context.Context, dir, stmt string) error {
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(filepath.Join(dir, sqlite.FileName)))
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, stmt)
	return err
}

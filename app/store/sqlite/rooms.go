package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"securechat/app/store"
)

// CreateRoom records a new room of kind with owner as its owner and first
// member (owner 0 for a public room: no member rows); store.ErrExists if the
// name is taken.
func (s *DB) CreateRoom(ctx context.Context, name, kind string, ownerID int64, now time.Time) error {
	// A dm is made by OpenDM; a private room without an owner nobody could enter.
	if kind != store.RoomPublic && (kind != store.RoomPrivate || ownerID <= 0) {
		return fmt.Errorf("create room %s: a room of kind %q with owner %d", name, kind, ownerID)
	}
	return s.inTx(ctx, "create room "+name, func(tx *sql.Tx) error {
		var owner any
		if ownerID != 0 {
			owner = ownerID
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO rooms(name, last_id, last_activity, kind, owner_id) VALUES(?, 0, ?, ?, ?)`,
			name, ms(now), kind, owner)
		if isUnique(err) {
			return store.ErrExists
		}
		if err != nil || kind == store.RoomPublic || ownerID == 0 {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO room_members(room, user_id, role, added_at) VALUES(?, ?, ?, ?)`,
			name, ownerID, store.MemberOwner, ms(now))
		return err
	})
}

// RoomAccess returns the room's kind and the user's role in it;
// store.ErrNotFound if there is no such room.
func (s *DB) RoomAccess(ctx context.Context, room string, userID int64) (store.Access, error) {
	var a store.Access
	err := s.queryRow(ctx, `SELECT r.kind, COALESCE(m.role, '') FROM rooms r
		LEFT JOIN room_members m ON m.room = r.name AND m.user_id = ? WHERE r.name = ?`, userID, room).Scan(&a.Kind, &a.Role)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Access{}, store.ErrNotFound
	}
	if err != nil {
		return store.Access{}, fmt.Errorf("read access to %s: %w", room, err)
	}
	return a, nil
}

// AddMember makes the user a member (role) of a room; added false if they
// already were one; store.ErrNotFound if there is no such room. The caller
// checks the room is private.
func (s *DB) AddMember(ctx context.Context, room string, userID int64, role string, now time.Time) (added bool, err error) {
	err = s.inTx(ctx, "add member to "+room, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM rooms WHERE name = ?`, room).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		} else if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO room_members(room, user_id, role, added_at) VALUES(?, ?, ?, ?)
			ON CONFLICT(room, user_id) DO NOTHING`, room, userID, role, ms(now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		added = n == 1
		return err
	})
	return added, err
}

// RemoveMember takes the user out of the room's members and out of their
// room list (memberships, with the read position); removed false if they were
// not a member.
func (s *DB) RemoveMember(ctx context.Context, room string, userID int64) (removed bool, err error) {
	err = s.inTx(ctx, "remove member from "+room, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM room_members WHERE room = ? AND user_id = ?`, room, userID)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		removed = n == 1
		_, err = tx.ExecContext(ctx, `DELETE FROM memberships WHERE room = ? AND user_id = ?`, room, userID)
		return err
	})
	return removed, err
}

// RoomMembers lists a room's members with their names, the owner first, then
// by name; at most limit of them.
func (s *DB) RoomMembers(ctx context.Context, room string, limit int) ([]store.RoomMember, error) {
	rows, err := s.query(ctx, `SELECT m.user_id, u.name, m.role FROM room_members m JOIN users u ON u.id = m.user_id
		WHERE m.room = ? ORDER BY m.role = 'owner' DESC, u.name LIMIT ?`, room, limit)
	if err != nil {
		return nil, fmt.Errorf("list members of %s: %w", room, err)
	}
	defer rows.Close()
	out := []store.RoomMember{}
	for rows.Next() {
		var m store.RoomMember
		if err := rows.Scan(&m.UserID, &m.Name, &m.Role); err != nil {
			return nil, fmt.Errorf("list members of %s: %w", room, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list members of %s: %w", room, err)
	}
	return out, nil
}

// OpenDM returns the dm of exactly these users (in any order; 2 to
// store.MaxDMUsers distinct ones), creating it if it does not exist: kind
// dm, every user a member, its name derived from the set (store.DMName).
func (s *DB) OpenDM(ctx context.Context, userIDs []int64, now time.Time) (room string, created bool, err error) {
	key, ids, err := store.DMKey(userIDs)
	if err != nil {
		return "", false, fmt.Errorf("open dm: %w", err)
	}
	err = s.inTx(ctx, "open dm", func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT room FROM dms WHERE key = ?`, key).Scan(&room)
		if err == nil || !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		// The name is the set's: a suffix only if a room already has it.
		for i := 0; ; i++ {
			room = store.DMName(key, i)
			res, err := tx.ExecContext(ctx, `INSERT INTO rooms(name, last_id, last_activity, kind) VALUES(?, 0, ?, 'dm')
				ON CONFLICT(name) DO NOTHING`, room, ms(now))
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n == 1 {
				if err != nil {
					return err
				}
				break
			}
			if i >= 100 {
				return fmt.Errorf("no free name for dm %s", key)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO dms(key, room) VALUES(?, ?)`, key, room); err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, `INSERT INTO room_members(room, user_id, role, added_at) VALUES(?, ?, ?, ?)`,
				room, id, store.MemberMember, ms(now)); err != nil {
				return err
			}
		}
		created = true
		return nil
	})
	if err != nil {
		return "", false, err
	}
	return room, created, nil
}

// scrubWait bounds how long Scrub waits for readers and writers to let the
// checkpoint finish; the caller retries rather than block a connection for
// the full busy timeout.
const scrubWait = time.Second

// Scrub makes deleted text unrecoverable from the files: secure_delete has
// zeroed it in the pages, and a truncating checkpoint copies those pages into
// the database file and empties the WAL, which held earlier versions of them.
// It fails if the checkpoint could not finish (a reader or writer was busy),
// so the caller can try again.
func (s *DB) Scrub(ctx context.Context) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("scrub: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", scrubWait.Milliseconds())); err != nil {
		return fmt.Errorf("scrub: %w", err)
	}
	// The connection goes back to the pool: give it back its usual wait.
	defer conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf("PRAGMA busy_timeout = %d", busyTimeout.Milliseconds()))
	var busy, logFrames, done int
	if err := conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &done); err != nil {
		return fmt.Errorf("scrub: checkpoint: %w", err)
	}
	if busy != 0 || logFrames != done {
		return fmt.Errorf("scrub: checkpoint incomplete (busy %d, %d of %d frames)", busy, done, logFrames)
	}
	return nil
}

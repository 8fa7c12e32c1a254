package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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
	return s.inTx(ctx, "create room "+name, func(tx pgx.Tx) error {
		var owner *int64
		if ownerID != 0 {
			owner = &ownerID
		}
		tag, err := tx.Exec(ctx, `INSERT INTO rooms(name, last_activity, kind, owner_id) VALUES($1, $2, $3, $4)
			ON CONFLICT (name) DO NOTHING`, name, ms(now), kind, owner)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrExists
		}
		if kind == store.RoomPublic || ownerID == 0 {
			return nil
		}
		_, err = tx.Exec(ctx, `INSERT INTO room_members(room, user_id, role, added_at) VALUES($1, $2, $3, $4)`,
			name, ownerID, store.MemberOwner, ms(now))
		return err
	})
}

// RoomAccess returns the room's kind and the user's role in it;
// store.ErrNotFound if there is no such room.
func (s *DB) RoomAccess(ctx context.Context, room string, userID int64) (store.Access, error) {
	var a store.Access
	err := s.pool.QueryRow(ctx, `SELECT r.kind, COALESCE(m.role, '') FROM rooms r
		LEFT JOIN room_members m ON m.room = r.name AND m.user_id = $1 WHERE r.name = $2`, userID, room).Scan(&a.Kind, &a.Role)
	if errors.Is(err, pgx.ErrNoRows) {
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
	err = s.inTx(ctx, "add member to "+room, func(tx pgx.Tx) error {
		// FOR SHARE: a room pruned at the same moment either goes first
		// (not found) or waits for this member.
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM rooms WHERE name = $1 FOR SHARE`, room).Scan(&one); errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		} else if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO room_members(room, user_id, role, added_at) VALUES($1, $2, $3, $4)
			ON CONFLICT (room, user_id) DO NOTHING`, room, userID, role, ms(now))
		added = tag.RowsAffected() == 1
		return err
	})
	return added, err
}

// RemoveMember takes the user out of the room's members and out of their
// room list (memberships, with the read position); removed false if they were
// not a member.
func (s *DB) RemoveMember(ctx context.Context, room string, userID int64) (removed bool, err error) {
	err = s.inTx(ctx, "remove member from "+room, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM room_members WHERE room = $1 AND user_id = $2`, room, userID)
		if err != nil {
			return err
		}
		removed = tag.RowsAffected() == 1
		_, err = tx.Exec(ctx, `DELETE FROM memberships WHERE room = $1 AND user_id = $2`, room, userID)
		return err
	})
	return removed, err
}

// RoomMembers lists a room's members with their names, the owner first, then
// by name (byte order, as in SQLite); at most limit of them.
func (s *DB) RoomMembers(ctx context.Context, room string, limit int) ([]store.RoomMember, error) {
	rows, err := s.pool.Query(ctx, `SELECT m.user_id, u.name, m.role FROM room_members m JOIN users u ON u.id = m.user_id
		WHERE m.room = $1 ORDER BY m.role = 'owner' DESC, u.name COLLATE "C" LIMIT $2`, room, sqlLimit(limit))
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

// errDMRace is an OpenDM that found another node creating the same dm.
var errDMRace = errors.New("dm created concurrently")

// OpenDM returns the dm of exactly these users (in any order; 2 to
// store.MaxDMUsers distinct ones), creating it if it does not exist: kind
// dm, every user a member, its name derived from the set (store.DMName).
//
// Two nodes opening the same dm at once both find none; the second waits at
// the dms key for the first to commit, rolls back, and finds the first's.
func (s *DB) OpenDM(ctx context.Context, userIDs []int64, now time.Time) (room string, created bool, err error) {
	key, ids, err := store.DMKey(userIDs)
	if err != nil {
		return "", false, fmt.Errorf("open dm: %w", err)
	}
	for range 3 {
		room, created, err = s.openDM(ctx, key, ids, now)
		if !errors.Is(err, errDMRace) {
			return room, created, err
		}
	}
	return "", false, err
}

func (s *DB) openDM(ctx context.Context, key string, ids []int64, now time.Time) (room string, created bool, err error) {
	err = s.inTx(ctx, "open dm", func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT room FROM dms WHERE key = $1`, key).Scan(&room)
		if err == nil || !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		// The name is the set's: a suffix only if a room already has it.
		for i := 0; ; i++ {
			room = store.DMName(key, i)
			tag, err := tx.Exec(ctx, `INSERT INTO rooms(name, last_activity, kind) VALUES($1, $2, 'dm')
				ON CONFLICT (name) DO NOTHING`, room, ms(now))
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 1 {
				break
			}
			if i >= 100 {
				return fmt.Errorf("no free name for dm %s", key)
			}
		}
		tag, err := tx.Exec(ctx, `INSERT INTO dms(key, room) VALUES($1, $2) ON CONFLICT (key) DO NOTHING`, key, room)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errDMRace
		}
		_, err = tx.Exec(ctx, `INSERT INTO room_members(room, user_id, role, added_at)
			SELECT $1, id, $2, $3 FROM unnest($4::bigint[]) AS id`, room, store.MemberMember, ms(now), ids)
		if err != nil {
			return err
		}
		created = true
		return nil
	})
	if err != nil {
		return "", false, err
	}
	return room, created, nil
}

// Scrub does nothing: an update leaves the old row version in the table until
// VACUUM reclaims it (autovacuum does, in time), and PostgreSQL's files are
// the database server's, not ours to rewrite. It is here so the hub calls
// both back ends alike.
func (s *DB) Scrub(ctx context.Context) error { return nil }

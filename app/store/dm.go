package store

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The number of users of a dm, the opener included.
const (
	MinDMUsers = 2
	MaxDMUsers = 8
)

// DMKey is what identifies the dm of a set of users, whatever order they are
// given in: their ids sorted and joined by commas. It returns the sorted,
// distinct ids too, and an error unless there are MinDMUsers to MaxDMUsers
// of them, all above 0.
func DMKey(userIDs []int64) (key string, ids []int64, err error) {
	ids = slices.Clone(userIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) < MinDMUsers || len(ids) > MaxDMUsers {
		return "", nil, fmt.Errorf("a dm has %d to %d users, not %d", MinDMUsers, MaxDMUsers, len(ids))
	}
	if ids[0] <= 0 {
		return "", nil, fmt.Errorf("a dm of user id %d", ids[0])
	}
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(parts, ","), ids, nil
}

// DMName is the name of the dm of key: DMPrefix and 16 hex digits of the
// key's SHA-256, so the name tells nothing of who is in it. attempt > 0 adds
// a suffix, for the (unlikely) case that a room already has the name.
func DMName(key string, attempt int) string {
	sum := sha256.Sum256([]byte(key))
	name := DMPrefix + hex.EncodeToString(sum[:8])
	if attempt > 0 {
		name += "-" + strconv.Itoa(attempt)
	}
	return name
}

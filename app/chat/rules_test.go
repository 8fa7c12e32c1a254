package chat

import (
	"regexp"
	"strings"
	"testing"
)

// TestRoomPatternIsValidRoom: the pattern the page checks room names with
// accepts exactly the names the server accepts.
func TestRoomPatternIsValidRoom(t *testing.T) {
	re := regexp.MustCompile("^(?:" + RoomPattern + ")$")
	names := []string{
		"general", "a", "r-1_x", "0", "-", "_",
		strings.Repeat("a", MaxRoomName), strings.Repeat("a", MaxRoomName+1),
		"", "UPPER", "Dev", "a b", "a.b", "a/b", "é", "a\n", "#dev", "a\\b",
	}
	for _, name := range names {
		if got, want := re.MatchString(name), ValidRoom(name); got != want {
			t.Errorf("%q: RoomPattern matches: %v, ValidRoom: %v", name, got, want)
		}
	}
}

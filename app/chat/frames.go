package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"securechat/app/store"
)

// Protocol limits.
const (
	maxRoomName    = 64
	historyOnJoin  = 50  // messages sent with a join that has no since
	maxHistory     = 200 // most messages one history request returns
	defaultHistory = 50
)

// inbound is every field a client frame may carry; which ones matter depends on Type.
type inbound struct {
	Type   string `json:"type"`
	Room   string `json:"room"`
	Text   string `json:"text"`
	Since  *int64 `json:"since"`
	Before int64  `json:"before"`
	Limit  int    `json:"limit"`
	Token  string `json:"token"`
	Prefix string `json:"prefix"` // rooms: only names that start with it
	Cursor string `json:"cursor"` // rooms: the next page, as the previous answer's next
}

// protocolError is a problem with one client frame; the socket stays open and
// the client gets an error frame with Code.
type protocolError struct {
	Code    string
	Message string
}

func (e *protocolError) Error() string { return e.Code + ": " + e.Message }

func badFrame(code, format string, args ...any) *protocolError {
	return &protocolError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// decodeFrame parses one client frame strictly: valid UTF-8, one JSON object,
// no unknown fields, and the fields its type needs; a text has at most maxText characters.
func decodeFrame(data []byte, maxText int) (inbound, error) {
	var f inbound
	if !utf8.Valid(data) {
		return f, badFrame("bad_frame", "frame is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return f, badFrame("bad_frame", "frame is not a JSON object of the protocol: %s", jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return f, badFrame("bad_frame", "one JSON object per frame")
	}
	switch f.Type {
	case "send":
		if err := checkRoom(f.Room); err != nil {
			return f, err
		}
		if n := utf8.RuneCountInString(f.Text); n < 1 || n > maxText {
			return f, badFrame("bad_text", "text must be 1 to %d characters", maxText)
		}
	case "join", "leave":
		if err := checkRoom(f.Room); err != nil {
			return f, err
		}
		if f.Since != nil && *f.Since < 0 {
			return f, badFrame("bad_frame", "since must be a message id (0 or more)")
		}
	case "history":
		if err := checkRoom(f.Room); err != nil {
			return f, err
		}
		if f.Before < 0 || f.Limit < 0 || f.Limit > maxHistory {
			return f, badFrame("bad_frame", "before must be 0 or more and limit 0 to %d", maxHistory)
		}
		if f.Limit == 0 {
			f.Limit = defaultHistory
		}
	case "rooms":
		if err := checkRoomsRequest(&f); err != nil {
			return f, err
		}
	case "refresh":
		if f.Token == "" {
			return f, badFrame("bad_frame", "refresh needs a token")
		}
	case "":
		return f, badFrame("bad_frame", "frame has no type")
	default:
		return f, badFrame("unknown_type", "unknown frame type %q", truncate(f.Type, 32))
	}
	return f, nil
}

// jsonProblem describes a decoding error without echoing large input back.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q has the wrong type", typ.Field)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "incomplete JSON"
	default:
		return truncate(err.Error(), 80)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// ValidRoom reports whether name is a room name: 1 to 64 of a-z 0-9 - _.
func ValidRoom(name string) bool {
	if len(name) < 1 || len(name) > maxRoomName {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func checkRoom(name string) error {
	if !ValidRoom(name) {
		return badFrame("bad_room", "a room name is 1 to %d of a-z, 0-9, - and _", maxRoomName)
	}
	return nil
}

// Server frames. Encoding happens here and only here.

type messageJSON struct {
	Type string `json:"type"`
	ID   int64  `json:"id"`
	Room string `json:"room"`
	User string `json:"user"`
	UID  int64  `json:"user_id"` // the author's account: the name alone is not an identity
	Text string `json:"text"`
	TS   string `json:"ts"`
}

func toMessageJSON(m store.Message) messageJSON {
	return messageJSON{Type: "message", ID: m.ID, Room: m.Room, User: m.User, UID: m.UserID, Text: m.Text,
		TS: m.TS.UTC().Format(time.RFC3339Nano)}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only plain structs of strings and numbers are encoded: this cannot fail.
		panic(fmt.Sprintf("encode frame: %v", err))
	}
	return b
}

func encodeMessage(m store.Message) []byte { return mustJSON(toMessageJSON(m)) }

// encodeMessages encodes several messages as one server frame of
// newline-separated objects.
func encodeMessages(ms []store.Message) []byte {
	var b bytes.Buffer
	for i, m := range ms {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.Write(encodeMessage(m))
	}
	return b.Bytes()
}

func encodeWelcome(user string) []byte {
	return mustJSON(struct {
		Type string `json:"type"`
		User string `json:"user"`
	}{"welcome", user})
}

func encodeError(code, message string) []byte {
	return mustJSON(struct {
		Type    string `json:"type"`
		Code    string `json:"code"`
		Message string `json:"message"`
	}{"error", code, message})
}

func encodeHistory(room string, ms []store.Message) []byte {
	list := make([]messageJSON, len(ms))
	for i, m := range ms {
		list[i] = toMessageJSON(m)
	}
	return mustJSON(struct {
		Type     string        `json:"type"`
		Room     string        `json:"room"`
		Messages []messageJSON `json:"messages"`
	}{"history", room, list})
}

// presenceListMax is the most names a presence frame lists. Every member gets
// every presence frame, so the whole list of a room of 19,000 would cost
// gigabytes a change; a large room lists the first names and counts them all.
const presenceListMax = 200

func encodePresence(room string, users []string) []byte {
	if users == nil {
		users = []string{}
	}
	count := len(users)
	if count > presenceListMax {
		users = users[:presenceListMax]
	}
	return mustJSON(struct {
		Type  string   `json:"type"`
		Room  string   `json:"room"`
		Users []string `json:"users"`
		Count int      `json:"count"`
	}{"presence", room, users, count})
}

func encodeJoined(room string, lastID int64) []byte {
	return mustJSON(struct {
		Type   string `json:"type"`
		Room   string `json:"room"`
		LastID int64  `json:"last_id"`
	}{"joined", room, lastID})
}

func encodeRefreshed(expires time.Time) []byte {
	return mustJSON(struct {
		Type    string `json:"type"`
		Expires string `json:"expires"`
	}{"refreshed", expires.UTC().Format(time.RFC3339)})
}

// encodeRooms encodes one page of the room list; next, if not empty, is the
// cursor of the page after it, and prefix echoes the request's filter so a
// client that typed on can tell which answer is for what it shows.
func encodeRooms(rooms []store.Room, prefix, next string) []byte {
	type roomJSON struct {
		Name         string `json:"name"`
		LastID       int64  `json:"last_id"`
		LastActivity string `json:"last_activity"`
	}
	list := make([]roomJSON, len(rooms))
	for i, r := range rooms {
		list[i] = roomJSON{r.Name, r.LastID, r.LastActivity.UTC().Format(time.RFC3339)}
	}
	return mustJSON(struct {
		Type   string     `json:"type"`
		Rooms  []roomJSON `json:"rooms"`
		Prefix string     `json:"prefix,omitempty"`
		Next   string     `json:"next,omitempty"`
	}{"rooms", list, prefix, next})
}

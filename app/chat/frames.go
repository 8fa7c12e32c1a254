package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"securechat/app/accounts"
	"securechat/app/store"
)

// Protocol limits.
const (
	maxRoomName    = MaxRoomName
	historyOnJoin  = HistoryPage // messages sent with a join that has no since
	maxHistory     = 200         // most messages one history request returns
	defaultHistory = 50
)

// frameType is the "type" of a frame, client's or server's. Every type is a
// constant here; docs/PROTOCOL.md describes each.
type frameType string

// Client frames: what each does is the table clientFrames (commands.go).
const (
	typeSend    frameType = "send"
	typeJoin    frameType = "join"
	typeLeave   frameType = "leave"
	typeHistory frameType = "history" // also the server's answer, and the history sent on a join
	typeRooms   frameType = "rooms"   // also the server's answer
	typeRefresh frameType = "refresh"
	typeRead    frameType = "read" // also the server's echo to the user's other sockets
	typeCreate  frameType = "create"
	typeInvite  frameType = "invite"
	typeRemove  frameType = "remove"
	typeDM      frameType = "dm"
	typeEdit    frameType = "edit"
	typeDelete  frameType = "delete"
	typeMembers frameType = "members" // also the server's answer
	typeSearch  frameType = "search"  // answered by results (search.go)
	typeTyping  frameType = "typing"  // also the server's, to the room's other users (notify.go)
	// typeRetention sets a room's retention; also the server's answer (retention.go).
	typeRetention frameType = "retention"
)

// Server frames (besides history and rooms above).
const (
	typeWelcome   frameType = "welcome"
	typeJoined    frameType = "joined"
	typeMessage   frameType = "message"
	typePresence  frameType = "presence"
	typeRefreshed frameType = "refreshed"
	typeError     frameType = "error"
	typeRoom      frameType = "room" // a room's first message, to every socket
	typeUnread    frameType = "unread"
	typeInvited   frameType = "invited" // the user became a member of a private room or dm
	typeRemoved   frameType = "removed" // the user is no longer a member of a private room
	typeEdited    frameType = "edited"  // a message's new text
	typeDeleted   frameType = "deleted" // a message was deleted
	typeResults   frameType = "results" // the answer to a search
	typeMention   frameType = "mention" // a message mentions the user (notify.go)
)

// inbound is every field a client frame may carry; which ones matter depends on Type.
type inbound struct {
	Type    frameType `json:"type"`
	Room    string    `json:"room"`
	Text    string    `json:"text"`
	Since   *int64    `json:"since"`
	Before  int64     `json:"before"`
	Limit   int       `json:"limit"`
	Token   string    `json:"token"`
	Ref     string    `json:"ref"`     // the client's name for a send, echoed on the frames that answer it
	Prefix  string    `json:"prefix"`  // rooms: only names that start with it
	Cursor  string    `json:"cursor"`  // rooms: the next page, as the previous answer's next
	ID      int64     `json:"id"`      // read: the newest message the user has seen; edit, delete: the message
	User    string    `json:"user"`    // invite, remove: whom
	Users   []string  `json:"users"`   // dm: the others in the conversation
	Private bool      `json:"private"` // create: a private room (absent: public)
	Query   string    `json:"query"`   // search: the words
	Around  int64     `json:"around"`  // history: the messages on both sides of this one
	Days    int       `json:"days"`    // retention: days a room keeps its messages (0: the server's)
}

// protocolError is a problem with one client frame; the socket stays open and
// the client gets an error frame with Code.
type protocolError struct {
	Code       string
	Message    string
	RetryAfter int // seconds until a refused send may go (rate_limited for messages); 0: not said
}

func (e *protocolError) Error() string { return e.Code + ": " + e.Message }

func badFrame(code, format string, args ...any) *protocolError {
	return &protocolError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// decodeFrame parses one client frame strictly: valid UTF-8, one JSON object,
// keys exactly as the protocol spells them and each once, no unknown fields,
// a type of clientFrames and the fields that type needs (its check); a text
// has at most maxText characters.
func decodeFrame(data []byte, maxText int) (inbound, error) {
	var f inbound
	if !utf8.Valid(data) {
		return f, badFrame("bad_frame", "frame is not valid UTF-8")
	}
	if err := checkKeys(data); err != nil {
		return f, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		f.Ref = "" // unchecked, so not echoed
		return f, badFrame("bad_frame", "frame is not a JSON object of the protocol: %s", jsonProblem(err))
	}
	if len(f.Ref) > MaxRef {
		f.Ref = "" // not echoed: it is not one
		return f, badFrame("bad_frame", "ref must be at most %d bytes", MaxRef)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return f, badFrame("bad_frame", "one JSON object per frame")
	}
	switch kind, ok := clientFrames[f.Type]; {
	case f.Type == "":
		return f, badFrame("bad_frame", "frame has no type")
	case !ok:
		return f, badFrame("unknown_type", "unknown frame type %q", truncate(string(f.Type), 32))
	case kind.check != nil:
		if err := kind.check(&f, maxText); err != nil {
			return f, err
		}
	}
	return f, nil
}

// checkSend: a send names a room and has a text of 1 to maxText characters.
func checkSend(f *inbound, maxText int) error {
	if err := checkRoom(f.Room); err != nil {
		return err
	}
	return checkText(f.Text, maxText)
}

// checkText: a message's text is 1 to maxText characters (a send's and an edit's).
func checkText(text string, maxText int) error {
	if n := utf8.RuneCountInString(text); n < 1 || n > maxText {
		return badFrame("bad_text", "text must be 1 to %d characters", maxText)
	}
	return nil
}

// checkMembership: a join or leave names a room; a since is a message id.
func checkMembership(f *inbound, _ int) error {
	if err := checkRoom(f.Room); err != nil {
		return err
	}
	if f.Since != nil && *f.Since < 0 {
		return badFrame("bad_frame", "since must be a message id (0 or more)")
	}
	return nil
}

// checkHistory: a history request names a room and a page; limit defaults
// to defaultHistory.
func checkHistory(f *inbound, _ int) error {
	if err := checkRoom(f.Room); err != nil {
		return err
	}
	if f.Before < 0 || f.Limit < 0 || f.Limit > maxHistory {
		return badFrame("bad_frame", "before must be 0 or more and limit 0 to %d", maxHistory)
	}
	if f.Around < 0 || f.Around > 0 && f.Before > 0 {
		return badFrame("bad_frame", "around must be a message id, and not with before")
	}
	if f.Limit == 0 {
		f.Limit = defaultHistory
	}
	return nil
}

// checkRead: a read names a room and a message id.
func checkRead(f *inbound, _ int) error {
	if err := checkRoom(f.Room); err != nil {
		return err
	}
	if f.ID < 1 {
		return badFrame("bad_frame", "read needs the id of a message (1 or more)")
	}
	return nil
}

// checkCreate: a create names a room a user may choose: not a dm's name.
func checkCreate(f *inbound, _ int) error {
	if err := checkRoom(f.Room); err != nil {
		return err
	}
	if strings.HasPrefix(f.Room, store.DMPrefix) {
		return badFrame("bad_room", "room names starting with %s are the server's, for direct messages", store.DMPrefix)
	}
	return nil
}

// checkMemberChange: an invite or remove names a room and a user.
func checkMemberChange(f *inbound, _ int) error {
	if err := checkRoom(f.Room); err != nil {
		return err
	}
	name, err := accounts.NormalizeName(f.User)
	if err != nil {
		return badFrame("unknown_user", "%s", err.Error())
	}
	f.User = name
	return nil
}

// maxDMUsers is the most users of one dm, the sender included.
const maxDMUsers = 8

// checkDM: a dm names 1 to maxDMUsers users (the sender may be among them).
func checkDM(f *inbound, _ int) error {
	if len(f.Users) < 1 || len(f.Users) > maxDMUsers {
		return badFrame("bad_frame", "a dm names 1 to %d users", maxDMUsers)
	}
	for i, u := range f.Users {
		name, err := accounts.NormalizeName(u)
		if err != nil {
			return badFrame("unknown_user", "%s", err.Error())
		}
		f.Users[i] = name
	}
	return nil
}

// checkEdit: an edit names a message of a room and its new text.
func checkEdit(f *inbound, maxText int) error {
	if err := checkDelete(f, maxText); err != nil {
		return err
	}
	return checkText(f.Text, maxText)
}

// checkDelete: a delete names a message of a room.
func checkDelete(f *inbound, _ int) error {
	if err := checkRoom(f.Room); err != nil {
		return err
	}
	if f.ID < 1 {
		return badFrame("bad_frame", "%s needs the id of a message (1 or more)", f.Type)
	}
	return nil
}

// checkRoomOnly: the frame names a room.
func checkRoomOnly(f *inbound, _ int) error { return checkRoom(f.Room) }

// checkRefresh: a refresh carries a token.
func checkRefresh(f *inbound, _ int) error {
	if f.Token == "" {
		return badFrame("bad_frame", "refresh needs a token")
	}
	return nil
}

// frameKey is the bit of one of inbound's field names, as spelt in its tag.
func frameKey(name []byte) uint32 {
	switch string(name) {
	case "type":
		return 1 << 0
	case "room":
		return 1 << 1
	case "text":
		return 1 << 2
	case "since":
		return 1 << 3
	case "before":
		return 1 << 4
	case "limit":
		return 1 << 5
	case "token":
		return 1 << 6
	case "prefix":
		return 1 << 7
	case "cursor":
		return 1 << 8
	case "ref":
		return 1 << 9
	case "id":
		return 1 << 10
	case "user":
		return 1 << 11
	case "users":
		return 1 << 12
	case "private":
		return 1 << 13
	case "query":
		return 1 << 14
	case "around":
		return 1 << 15
	case "days":
		return 1 << 16
	}
	return 0
}

// checkKeys scans the top-level object's keys: each must be one of the
// protocol's names exactly and appear once. encoding/json alone would match
// "TYPE" to type and keep the last of two "text"s, so what a filter or log in
// front of the server reads could differ from what the server acts on.
// It does not allocate for a well-formed frame. Malformed JSON is left to the
// decoder, which reports it: the scan stops where it stops understanding.
func checkKeys(data []byte) error {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil
	}
	var seen uint32
	for i++; ; i++ {
		i = skipSpace(data, i)
		if i >= len(data) || data[i] != '"' {
			return nil // the end of the object, or not JSON
		}
		end := stringEnd(data, i)
		if end < 0 {
			return nil
		}
		key := data[i+1 : end-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			// An escaped key ("typ\u0065") is compared unescaped, as decoded.
			var k string
			if json.Unmarshal(data[i:end], &k) != nil {
				return nil
			}
			key = []byte(k)
		}
		bit := frameKey(key)
		if bit == 0 {
			return badFrame("bad_frame", "unknown field %q", truncate(string(key), 32))
		}
		if seen&bit != 0 {
			return badFrame("bad_frame", "field %q appears twice", key)
		}
		seen |= bit
		if i = skipSpace(data, end); i >= len(data) || data[i] != ':' {
			return nil
		}
		if i = skipValue(data, i+1); i < 0 {
			return nil
		}
		if i = skipSpace(data, i); i >= len(data) || data[i] != ',' {
			return nil
		}
	}
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the string that starts at data[i] (a
// quote), or -1 if it does not end.
func stringEnd(data []byte, i int) int {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipValue returns the index after the JSON value that starts at or after
// data[i], or -1 if it does not end.
func skipValue(data []byte, i int) int {
	i = skipSpace(data, i)
	if i >= len(data) {
		return -1
	}
	switch data[i] {
	case '"':
		return stringEnd(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				if j = stringEnd(data, j); j < 0 {
					return -1
				}
				j-- // the loop steps past the closing quote
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	for i < len(data) {
		switch data[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
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
	Type frameType `json:"type"`
	ID   int64     `json:"id"`
	Room string    `json:"room"`
	User string    `json:"user"`
	UID  int64     `json:"user_id"` // the author's account: the name alone is not an identity
	Text string    `json:"text"`
	TS   string    `json:"ts"`
	Ref  string    `json:"ref,omitempty"` // only on the sender's own copy of a message it sent with a ref
	// EditedAt is when the text was last edited; absent if never.
	EditedAt string `json:"edited_at,omitempty"`
}

func toMessageJSON(m store.Message) messageJSON {
	j := messageJSON{Type: typeMessage, ID: m.ID, Room: m.Room, User: m.User, UID: m.UserID, Text: m.Text,
		TS: m.TS.UTC().Format(time.RFC3339Nano)}
	if !m.EditedAt.IsZero() {
		j.EditedAt = m.EditedAt.UTC().Format(time.RFC3339Nano)
	}
	return j
}

// deletedJSON is a deleted message: its place in the room, nothing of what
// it said or who said it.
type deletedJSON struct {
	Type    frameType `json:"type"`
	ID      int64     `json:"id"`
	Room    string    `json:"room"`
	Deleted bool      `json:"deleted"`
	TS      string    `json:"ts"`
}

// changeJSON is a stored change of a message (edited or deleted): ID is the
// message, Change the change's own id in the room's sequence (a client's
// resume cursor covers both).
type changeJSON struct {
	Type     frameType `json:"type"`
	Room     string    `json:"room"`
	ID       int64     `json:"id"`
	Text     *string   `json:"text,omitempty"`
	EditedAt string    `json:"edited_at,omitempty"`
	Change   int64     `json:"change"`
	Ref      string    `json:"ref,omitempty"`
}

// encodeRow encodes one stored row of a room's sequence: a message (as it
// reads now), or a change as an edited or deleted frame. ref, if not empty,
// is the sender's.
func encodeRow(m store.Message, ref string) []byte {
	switch m.Kind {
	case store.KindEdit:
		text := m.Text
		return mustJSON(changeJSON{Type: typeEdited, Room: m.Room, ID: m.Target, Text: &text,
			EditedAt: m.TS.UTC().Format(time.RFC3339Nano), Change: m.ID, Ref: ref})
	case store.KindDelete:
		return mustJSON(changeJSON{Type: typeDeleted, Room: m.Room, ID: m.Target, Change: m.ID, Ref: ref})
	}
	if m.Deleted {
		return mustJSON(deletedJSON{Type: typeMessage, ID: m.ID, Room: m.Room, Deleted: true, TS: m.TS.UTC().Format(time.RFC3339Nano)})
	}
	j := toMessageJSON(m)
	j.Ref = ref
	return mustJSON(j)
}

// mustJSON encodes one frame object. HTML is not escaped: the page writes
// every text with textContent, and escaping made a text of 4,000 '<' six times
// its size on the wire and in every send queue.
func mustJSON(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only plain structs of strings and numbers are encoded: this cannot fail.
		panic(fmt.Sprintf("encode frame: %v", err))
	}
	return b.Bytes()[:b.Len()-1] // Encode ends the object with a newline
}

// encodeMessage encodes a stored row: a message frame, or an edited or
// deleted frame for a change.
func encodeMessage(m store.Message) []byte { return encodeRow(m, "") }

// encodeOwnMessage is the sender's copy of its message (or change): it
// carries the send's ref, so the client knows which send was stored.
func encodeOwnMessage(m store.Message, ref string) []byte { return encodeRow(m, ref) }

// encodeMessages encodes the oldest of ms as one server frame of
// newline-separated objects, as many as fit in budget bytes (at least one),
// and returns how many it took.
func encodeMessages(ms []store.Message, budget int) (frame []byte, n int) {
	var b bytes.Buffer
	for i, m := range ms {
		one := encodeMessage(m)
		if i > 0 && b.Len()+1+len(one) > budget {
			break
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		b.Write(one)
		n++
	}
	return b.Bytes(), n
}

func encodeWelcome(user string) []byte {
	return mustJSON(struct {
		Type frameType `json:"type"`
		User string    `json:"user"`
	}{typeWelcome, user})
}

// encodeErrorRef is an error frame; ref, if not empty, names the send it answers.
func encodeErrorRef(code, message, ref string) []byte {
	return encodeProblem(&protocolError{Code: code, Message: message}, ref)
}

// encodeProblem is the error frame of a refused frame: with the send's ref,
// and, when a rate refused it, the whole seconds to wait (retry_after), so a
// client need not parse the message.
func encodeProblem(pe *protocolError, ref string) []byte {
	return mustJSON(struct {
		Type       frameType `json:"type"`
		Code       string    `json:"code"`
		Message    string    `json:"message"`
		Ref        string    `json:"ref,omitempty"`
		RetryAfter int       `json:"retry_after,omitempty"`
	}{typeError, pe.Code, pe.Message, ref, pe.RetryAfter})
}

// encodeRoomStarted tells every socket that a room has its first message, so
// room lists show it at once instead of at their next rooms request.
func encodeRoomStarted(m store.Message) []byte {
	return mustJSON(struct {
		Type         frameType `json:"type"`
		Room         string    `json:"room"`
		LastID       int64     `json:"last_id"`
		LastActivity string    `json:"last_activity"`
	}{typeRoom, m.Room, m.ID, m.TS.UTC().Format(time.RFC3339Nano)})
}

// encodeHistory encodes a history frame of the newest of ms (oldest first)
// whose encoded messages fit in budget bytes, at least one. more says that
// older ones were left out for size: the client asks again with before set
// to the oldest id it got.
func encodeHistory(room string, ms []store.Message, budget int) []byte {
	enc := make([][]byte, 0, len(ms))
	size := 0
	for i := len(ms) - 1; i >= 0; i-- {
		one := encodeMessage(ms[i])
		if len(enc) > 0 && size+len(one)+1 > budget {
			break
		}
		enc = append(enc, one)
		size += len(one) + 1
	}
	more := len(enc) < len(ms)
	var b bytes.Buffer
	b.Grow(size + len(room) + 64)
	b.WriteString(`{"type":"` + string(typeHistory) + `","room":`)
	b.Write(mustJSON(room))
	b.WriteString(`,"messages":[`)
	for i := len(enc) - 1; i >= 0; i-- {
		b.Write(enc[i])
		if i > 0 {
			b.WriteByte(',')
		}
	}
	b.WriteString(`],"more":`)
	b.WriteString(strconv.FormatBool(more))
	b.WriteByte('}')
	return b.Bytes()
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
		Type  frameType `json:"type"`
		Room  string    `json:"room"`
		Users []string  `json:"users"`
		Count int       `json:"count"`
	}{typePresence, room, users, count})
}

// encodeJoined completes a join: lastID is the newest row (message or
// change) the join covered; kind the room's; role the user's in a private
// room or dm.
func encodeJoined(room string, lastID int64, a store.Access) []byte {
	return mustJSON(struct {
		Type   frameType `json:"type"`
		Room   string    `json:"room"`
		LastID int64     `json:"last_id"`
		Kind   string    `json:"kind"`
		Role   string    `json:"role,omitempty"`
	}{typeJoined, room, lastID, a.Kind, a.Role})
}

// encodeInvited tells a user's sockets that by made them a member of room.
func encodeInvited(room, by, kind string) []byte {
	return mustJSON(struct {
		Type frameType `json:"type"`
		Room string    `json:"room"`
		By   string    `json:"by"`
		Kind string    `json:"kind"`
	}{typeInvited, room, by, kind})
}

// encodeRemoved tells a user's sockets they are no longer members of room.
func encodeRemoved(room string) []byte {
	return mustJSON(struct {
		Type frameType `json:"type"`
		Room string    `json:"room"`
	}{typeRemoved, room})
}

// encodeMembers lists a private room's or dm's members.
func encodeMembers(room string, ms []store.RoomMember) []byte {
	type memberJSON struct {
		User string `json:"user"`
		Role string `json:"role"`
	}
	list := make([]memberJSON, len(ms))
	for i, m := range ms {
		list[i] = memberJSON{m.Name, m.Role}
	}
	return mustJSON(struct {
		Type    frameType    `json:"type"`
		Room    string       `json:"room"`
		Members []memberJSON `json:"members"`
	}{typeMembers, room, list})
}

// encodeRead tells a user's other sockets how far they have read a room.
func encodeRead(room string, id int64) []byte {
	return mustJSON(struct {
		Type frameType `json:"type"`
		Room string    `json:"room"`
		ID   int64     `json:"id"`
	}{typeRead, room, id})
}

// encodeMention tells a user's sockets that message m mentions them: its
// room, id, author and text, so a page can notify without joining the room.
func encodeMention(m store.Message) []byte {
	return mustJSON(struct {
		Type frameType `json:"type"`
		Room string    `json:"room"`
		ID   int64     `json:"id"`
		User string    `json:"user"`
		Text string    `json:"text"`
		TS   string    `json:"ts"`
	}{typeMention, m.Room, m.ID, m.User, m.Text, m.TS.UTC().Format(time.RFC3339Nano)})
}

// encodeTyping tells a room's members that user is typing in it.
func encodeTyping(room, user string) []byte {
	return mustJSON(struct {
		Type frameType `json:"type"`
		Room string    `json:"room"`
		User string    `json:"user"`
	}{typeTyping, room, user})
}

// encodeUnread lists the user's rooms with their unread counts, most
// recently read first; current is the one the user read last.
func encodeUnread(ms []store.Membership, current string) []byte {
	type roomJSON struct {
		Room     string `json:"room"`
		Kind     string `json:"kind,omitempty"`
		Count    int    `json:"count"`
		LastRead int64  `json:"last_read"`
		Mentions int    `json:"mentions"`
	}
	list := make([]roomJSON, len(ms))
	for i, m := range ms {
		list[i] = roomJSON{m.Room, m.Kind, m.Unread, m.ReadID, m.Mentions}
	}
	return mustJSON(struct {
		Type    frameType  `json:"type"`
		Rooms   []roomJSON `json:"rooms"`
		Current string     `json:"current"`
	}{typeUnread, list, current})
}

func encodeRefreshed(expires time.Time) []byte {
	return mustJSON(struct {
		Type    frameType `json:"type"`
		Expires string    `json:"expires"`
	}{typeRefreshed, expires.UTC().Format(time.RFC3339)})
}

// encodeRooms encodes one page of the room list; next, if not empty, is the
// cursor of the page after it, and prefix echoes the request's filter so a
// client that typed on can tell which answer is for what it shows.
func encodeRooms(rooms []store.Room, prefix, next string) []byte {
	type roomJSON struct {
		Name         string `json:"name"`
		LastID       int64  `json:"last_id"`
		LastActivity string `json:"last_activity"`
		Kind         string `json:"kind"`
	}
	list := make([]roomJSON, len(rooms))
	for i, r := range rooms {
		kind := r.Kind
		if kind == "" {
			kind = store.RoomPublic
		}
		list[i] = roomJSON{r.Name, r.LastID, r.LastActivity.UTC().Format(time.RFC3339), kind}
	}
	return mustJSON(struct {
		Type   frameType  `json:"type"`
		Rooms  []roomJSON `json:"rooms"`
		Prefix string     `json:"prefix,omitempty"`
		Next   string     `json:"next,omitempty"`
	}{typeRooms, list, prefix, next})
}

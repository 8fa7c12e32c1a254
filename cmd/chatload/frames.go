package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// targetKind is which server the tool drives: they differ in socket path,
// frame format and what acknowledges a message.
type targetKind int

const (
	targetSecurechat targetKind = iota // JSON frames on /ws, rooms, own message echoed back as the ack
	targetSeed                         // the recipe's FastAPI server: plain text on /ws-exclusive, one room
)

func parseTargetKind(s string) (targetKind, error) {
	switch s {
	case "securechat":
		return targetSecurechat, nil
	case "seed":
		return targetSeed, nil
	}
	return 0, fmt.Errorf("unknown -target %q (securechat or seed)", s)
}

func (t targetKind) String() string {
	if t == targetSeed {
		return "seed"
	}
	return "securechat"
}

// socketPath is the chat socket's path on the target.
func (t targetKind) socketPath() string {
	if t == targetSeed {
		return "/ws-exclusive"
	}
	return "/ws"
}

// eventKind is what one server object means to the tool.
type eventKind int

const (
	evOther   eventKind = iota // presence, history, the seed's joined/left notices: read and dropped
	evWelcome                  // securechat's first frame
	evJoined                   // securechat: a join (or the automatic one to general) is complete
	evMessage                  // a chat message, with its room, author and text
	evError                    // securechat refused a frame
)

// event is one server object: securechat may batch several in a frame.
type event struct {
	kind eventKind
	room string // securechat only
	user string // author of a message (empty for the seed's own echo)
	text string // message text, or an error's code and message
	own  bool   // the seed's "You wrote:": the sender's copy of its message
}

// chatFrame is the subset of securechat's server objects the tool reads.
type chatFrame struct {
	Type    string `json:"type"`
	Room    string `json:"room"`
	User    string `json:"user"`
	Text    string `json:"text"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// decodeFrame calls emit for every object in one server frame. A malformed
// object is an error (the server broke the protocol); the objects before it
// have been emitted.
func decodeFrame(t targetKind, data []byte, emit func(event)) error {
	if t == targetSeed {
		emit(decodeSeedFrame(string(data)))
		return nil
	}
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if ev, ok := fastMessage(line); ok {
			emit(ev)
			continue
		}
		var f chatFrame
		if err := json.Unmarshal(line, &f); err != nil {
			return fmt.Errorf("decode server object %.80q: %w", line, err)
		}
		switch f.Type {
		case "welcome":
			emit(event{kind: evWelcome, user: f.User})
		case "joined":
			emit(event{kind: evJoined, room: f.Room})
		case "message":
			emit(event{kind: evMessage, room: f.Room, user: f.User, text: f.Text})
		case "error":
			emit(event{kind: evError, text: f.Code + ": " + f.Message})
		default:
			emit(event{kind: evOther, room: f.Room})
		}
	}
	return nil
}

// messagePrefix starts every message object the server encodes.
const messagePrefix = `{"type":"message",`

// presencePrefix starts every presence object the server sends.
const presencePrefix = `{"type":"presence",`

// fastMessage reads a message object without encoding/json, which at 100,000
// deliveries a second costs the tool a third of a core it shares with the
// server. It handles the common case only, and reports false for anything
// else so the caller decodes it fully: a value with an escape, a missing
// field, or an object that is not a message. Searching for `"key":"` is
// safe in a flat object: an unescaped quote only ever delimits a string, so
// the pattern cannot occur inside a value.
func fastMessage(line []byte) (event, bool) {
	if !bytes.HasPrefix(line, []byte(messagePrefix)) || line[len(line)-1] != '}' {
		return event{}, false
	}
	ev := event{kind: evMessage}
	for _, f := range []struct {
		key string
		dst *string
	}{{`"room":"`, &ev.room}, {`"user":"`, &ev.user}, {`"text":"`, &ev.text}} {
		i := bytes.Index(line, []byte(f.key))
		if i < 0 {
			return event{}, false
		}
		v := line[i+len(f.key):]
		end := bytes.IndexByte(v, '"')
		if end < 0 || bytes.IndexByte(v[:end], '\\') >= 0 {
			return event{}, false
		}
		*f.dst = string(v[:end])
	}
	return ev, true
}

// decodeSeedFrame reads the recipe's plain-text frames: "You wrote: T" to the
// sender, "Client #NAME says: T" to everyone else, and notices of people
// joining and leaving.
func decodeSeedFrame(s string) event {
	if text, ok := strings.CutPrefix(s, "You wrote: "); ok {
		return event{kind: evMessage, text: text, own: true}
	}
	if rest, ok := strings.CutPrefix(s, "Client #"); ok {
		// A name cannot hold " says: " (bench names are letters and digits),
		// so the first one ends it.
		if name, text, ok := strings.Cut(rest, " says: "); ok {
			return event{kind: evMessage, user: name, text: text}
		}
	}
	return event{kind: evOther}
}

// sendFrame is the client frame that posts text to room.
func sendFrame(t targetKind, room, text string) []byte {
	if t == targetSeed {
		return []byte(text)
	}
	b, _ := json.Marshal(struct { // cannot fail: two strings
		Type string `json:"type"`
		Room string `json:"room"`
		Text string `json:"text"`
	}{"send", room, text})
	return b
}

// joinFrame is securechat's client frame that joins room.
func joinFrame(room string) []byte {
	b, _ := json.Marshal(struct { // cannot fail: two strings
		Type string `json:"type"`
		Room string `json:"room"`
	}{"join", room})
	return b
}

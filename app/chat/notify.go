package chat

import (
	"context"
	"slices"
	"strings"
	"time"

	"securechat/app/store"
)

// Mentions and typing: what tells a user that someone needs them, or is
// about to say something.
//
// A mention is an @name in a sent message. The names are read from the text
// when it is submitted (no store call; nothing for a text without '@'), and
// the store resolves them in the message's own transaction: a mention is
// recorded for each name that is an account other than the author's, who
// may read the room and is a member of it (a public room: it is among their
// rooms; a private room or dm: one of its members). After the message is
// delivered, the persist loop sends each mentioned user's sockets, on every
// node, a mention frame (a user event), whether or not they are in the room.
// Only the message as sent mentions: an edit that adds a name mentions no one.
//
// Typing is not stored: a socket in a room says it is typing at most once
// per typingInterval (more are dropped silently: no error, no strike), and
// the room's other users' sockets here and on the other nodes hear it. The
// time of a socket's last typing frame in a room lives in its membership of
// the room (member), so it goes when the socket leaves the room.
const (
	// maxMentions bounds the distinct names one message mentions: each costs
	// a mention row and a frame to every socket of the user named.
	maxMentions = 20
	// typingInterval is the least time between two typing frames of one
	// socket in one room that are passed on.
	typingInterval = 3 * time.Second
)

// mentionNames returns the distinct account names text mentions (@name, not
// inside a word such as an address), lower-cased as accounts are, at most
// maxMentions; cut reports that more were left out.
func mentionNames(text string) (names []string, cut bool) {
	if strings.IndexByte(text, '@') < 0 {
		return nil, false
	}
	for i := 0; i < len(text); i++ {
		if text[i] != '@' || i > 0 && isNameByte(text[i-1]) {
			continue
		}
		j := i + 1
		for j < len(text) && isNameByte(text[j]) {
			j++
		}
		if n := j - i - 1; n < 1 || n > maxAccountName {
			i = j - 1
			continue
		}
		name := strings.ToLower(text[i+1 : j])
		i = j - 1
		if slices.Contains(names, name) {
			continue
		}
		if len(names) == maxMentions {
			return names, true
		}
		names = append(names, name)
	}
	return names, false
}

// maxAccountName is the longest account name (accounts.NormalizeName).
const maxAccountName = 32

// isNameByte reports whether b may be part of an account name.
func isNameByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-'
}

// mention sends each user m mentions a mention frame, on every node. The
// persist loop calls it after m is delivered to its room.
func (h *Hub) mention(m store.Message) {
	frame := encodeMention(m)
	for _, uid := range m.Mentioned {
		h.userEvent(UserEvent{UserID: uid, Room: m.Room, Kind: UserMention, Frame: frame})
	}
}

// onTyping passes on that the user is typing in a room the socket is in,
// unless this socket said so for that room less than typingInterval ago.
// Nothing is answered either way.
func (c *Client) onTyping(_ context.Context, f inbound) error {
	now := c.hub.now()
	if f.Room == c.typingRoom && now.Sub(c.typingAt) < typingInterval {
		c.hub.metrics.TypingDropped()
		return nil
	}
	r := c.hub.roomFor(f.Room)
	if r == nil || !r.typing(c, now) {
		c.hub.metrics.TypingDropped()
		return nil
	}
	c.typingRoom, c.typingAt = f.Room, now
	if c.hub.broker != nil {
		if err := c.hub.broker.PublishTyping(f.Room, c.peer.UserID, c.peer.User); err != nil {
			c.hub.log.Warn("publish typing", "room", f.Room, "err", err)
		}
	}
	return nil
}

// typing queues the typing frame of c's user to the room's members here
// that are not the user's own sockets, if c is a member whose last typing
// frame in the room was at least typingInterval before now; it reports
// whether it did.
func (r *room) typing(c *Client, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.members[c]
	if !ok || !m.typedAt.IsZero() && now.Sub(m.typedAt) < typingInterval {
		return false
	}
	m.typedAt = now
	r.typingLocked(c.peer.UserID, c.peer.User)
	return true
}

// remoteTyping passes on another node's typing frame to the room's members
// here that are not the typing user's sockets.
func (r *room) remoteTyping(userID int64, user string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.typingLocked(userID, user)
}

// typingLocked queues the typing frame to the live members of the room but
// the user's own sockets. A member catching up (replaying) is skipped: the
// frame says nothing that lasts.
func (r *room) typingLocked(userID int64, user string) {
	if r.retired {
		return
	}
	var frame []byte
	for c, m := range r.members {
		if c.peer.UserID == userID || m.replaying {
			continue
		}
		if frame == nil {
			frame = encodeTyping(r.name, user)
		}
		c.send(frame)
	}
}

// Package natsbus carries chat traffic between securechat nodes over NATS:
// each stored message (and change), each node's presence list and who is
// typing, on subjects per room, so a node only receives the rooms it has
// members in; and events for one user's sockets (invited, removed, read,
// mention) on one subject every node subscribes to once.
package natsbus

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"securechat/app/chat"
	"securechat/app/store"
)

// Subject prefixes; a room name (a-z 0-9 - _) is a valid NATS token.
const (
	messageSubject  = "securechat.msg."
	presenceSubject = "securechat.presence."
	typingSubject   = "securechat.typing."
	userSubject     = "securechat.user"
)

// reconnectWait is the pause between reconnection attempts; the client keeps
// trying for as long as the node runs, buffering what it publishes meanwhile.
const reconnectWait = 250 * time.Millisecond

// Bus is one node's connection to the others.
type Bus struct {
	nc   *nats.Conn
	node string
	log  *slog.Logger
}

// Connect joins the bus at url as node (an id unique to this process).
func Connect(url, node string, log *slog.Logger) (*Bus, error) {
	nc, err := nats.Connect(url,
		nats.Name("securechat "+node),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(reconnectWait),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("nats disconnected", "err", err)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("nats reconnected", "url", c.ConnectedUrl())
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to nats at %s: %w", url, err)
	}
	return &Bus{nc: nc, node: node, log: log}, nil
}

// Close drains the connection.
func (b *Bus) Close() error {
	return b.nc.Drain()
}

type messageWire struct {
	Node string    `json:"node"`
	ID   int64     `json:"id"`
	Seq  int64     `json:"seq"`
	Room string    `json:"room"`
	UID  int64     `json:"user_id"`
	User string    `json:"user"`
	Text string    `json:"text"`
	TS   time.Time `json:"ts"`
	// A change of message Target (store.KindEdit, KindDelete); "" a message.
	Kind     string    `json:"kind,omitempty"`
	Target   int64     `json:"target,omitempty"`
	EditedAt time.Time `json:"edited_at,omitzero"`
	Deleted  bool      `json:"deleted,omitempty"`
}

type userWire struct {
	Node   string `json:"node"`
	UserID int64  `json:"user_id"`
	Room   string `json:"room"`
	Kind   string `json:"kind"`
	Frame  []byte `json:"frame"`
}

type typingWire struct {
	Node   string `json:"node"`
	UserID int64  `json:"user_id"`
	User   string `json:"user"`
}

type presenceWire struct {
	Node  string   `json:"node"`
	Users []string `json:"users"`
}

// PublishMessage tells the other nodes about a message this node stored.
func (b *Bus) PublishMessage(m store.Message) error {
	data, err := json.Marshal(messageWire{b.node, m.ID, m.Seq, m.Room, m.UserID, m.User, m.Text, m.TS, m.Kind, m.Target, m.EditedAt, m.Deleted})
	if err != nil {
		return fmt.Errorf("encode message %d: %w", m.ID, err)
	}
	return b.nc.Publish(messageSubject+m.Room, data)
}

// PublishPresence tells the other nodes which users this node has in a room.
func (b *Bus) PublishPresence(room string, users []string) error {
	data, err := json.Marshal(presenceWire{b.node, users})
	if err != nil {
		return fmt.Errorf("encode presence of %s: %w", room, err)
	}
	return b.nc.Publish(presenceSubject+room, data)
}

// PublishTyping tells the other nodes that a user is typing in a room. It
// has a subject of its own: a node that does not know it (a rolling
// upgrade) does not subscribe to it, rather than misread it.
func (b *Bus) PublishTyping(room string, userID int64, user string) error {
	data, err := json.Marshal(typingWire{b.node, userID, user})
	if err != nil {
		return fmt.Errorf("encode typing in %s: %w", room, err)
	}
	return b.nc.Publish(typingSubject+room, data)
}

// SubscribeRoom calls onMessage, onPresence and onTyping with the other
// nodes' traffic for room, in the order each node sent it, until
// unsubscribe is called.
func (b *Bus) SubscribeRoom(room string, onMessage func(store.Message), onPresence func(node string, users []string),
	onTyping func(userID int64, user string)) (func(), error) {
	msgs, err := b.nc.Subscribe(messageSubject+room, func(nm *nats.Msg) {
		var w messageWire
		if err := json.Unmarshal(nm.Data, &w); err != nil || w.Room != room {
			b.log.Warn("bad message on the bus", "subject", nm.Subject)
			return
		}
		if w.Node != b.node {
			onMessage(store.Message{ID: w.ID, Seq: w.Seq, Room: w.Room, UserID: w.UID, User: w.User, Text: w.Text, TS: w.TS,
				Kind: w.Kind, Target: w.Target, EditedAt: w.EditedAt, Deleted: w.Deleted})
		}
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", room, err)
	}
	pres, err := b.nc.Subscribe(presenceSubject+room, func(nm *nats.Msg) {
		var w presenceWire
		if err := json.Unmarshal(nm.Data, &w); err != nil {
			b.log.Warn("bad presence on the bus", "subject", nm.Subject)
			return
		}
		if w.Node != b.node {
			onPresence(w.Node, w.Users)
		}
	})
	if err != nil {
		msgs.Unsubscribe()
		return nil, fmt.Errorf("subscribe to presence of %s: %w", room, err)
	}
	typing, err := b.nc.Subscribe(typingSubject+room, func(nm *nats.Msg) {
		var w typingWire
		if err := json.Unmarshal(nm.Data, &w); err != nil || w.UserID == 0 || w.User == "" {
			b.log.Warn("bad typing on the bus", "subject", nm.Subject)
			return
		}
		if w.Node != b.node {
			onTyping(w.UserID, w.User)
		}
	})
	if err != nil {
		msgs.Unsubscribe()
		pres.Unsubscribe()
		return nil, fmt.Errorf("subscribe to typing in %s: %w", room, err)
	}
	return func() {
		msgs.Unsubscribe()
		pres.Unsubscribe()
		typing.Unsubscribe()
	}, nil
}

// PublishUserEvent tells the other nodes about an event for one user's sockets.
func (b *Bus) PublishUserEvent(e chat.UserEvent) error {
	data, err := json.Marshal(userWire{b.node, e.UserID, e.Room, e.Kind, e.Frame})
	if err != nil {
		return fmt.Errorf("encode user event %s: %w", e.Kind, err)
	}
	return b.nc.Publish(userSubject, data)
}

// SubscribeUserEvents calls fn with the other nodes' user events, in the
// order each node sent them, until unsubscribe is called.
func (b *Bus) SubscribeUserEvents(fn func(chat.UserEvent)) (func(), error) {
	sub, err := b.nc.Subscribe(userSubject, func(nm *nats.Msg) {
		var w userWire
		if err := json.Unmarshal(nm.Data, &w); err != nil || w.UserID == 0 || len(w.Frame) == 0 {
			b.log.Warn("bad user event on the bus", "subject", nm.Subject)
			return
		}
		if w.Node != b.node {
			fn(chat.UserEvent{UserID: w.UserID, Room: w.Room, Kind: w.Kind, Frame: w.Frame})
		}
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe to user events: %w", err)
	}
	return func() { sub.Unsubscribe() }, nil
}

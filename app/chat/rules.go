package chat

// The rules the chat page shares with the server. They have one source, here:
// app/web renders them into the page as data- attributes, and the page's
// script reads them from there.
const (
	// MaxRoomName is the longest room name, in bytes (each of its characters is one byte).
	MaxRoomName = 64
	// RoomPattern is the room name rule as a regular expression, to be
	// anchored where it is used. It means the same in Go, in JavaScript and
	// in an HTML pattern attribute (whose v flag wants "-" escaped in a class).
	RoomPattern = `[a-z0-9_\-]{1,64}`
	// HistoryPage is how many messages a join without since sends, and what
	// the page asks for at a time: fewer means there are no older ones.
	HistoryPage = 50
	// MaxRef is the longest ref a client may give a send, in bytes: a name
	// for the send, echoed on the frames that answer it.
	MaxRef = 64
)

// Limits returns the limits the hub was made with.
func (h *Hub) Limits() Limits { return h.limits }

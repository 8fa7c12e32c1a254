package chat

// CloseCode is a WebSocket close code the server sends. Every code the server
// uses is declared here, with its reason text and whether a client should
// reconnect, so the protocol document and the code cannot drift apart.
type CloseCode int

// The server's close codes.
const (
	CloseGoingAway   CloseCode = 1001 // server shutting down: reconnect (to another node) and resume
	CloseInvalidData CloseCode = 1007 // /secured-ws: a text frame that is not valid UTF-8
	ClosePolicy      CloseCode = 1008 // sustained abuse after warnings: do not reconnect at once
	CloseTooBig      CloseCode = 1009 // a frame over the read limit
	CloseTryLater    CloseCode = 1013 // the socket fell too far behind: reconnect and resume
	CloseAuthEnded   CloseCode = 4401 // token expired, session logged out, password changed or user deleted: log in again
	closeNormalClose CloseCode = 1000
)

// Reason is the short text sent with the code.
func (c CloseCode) Reason() string {
	switch c {
	case CloseGoingAway:
		return "server going away"
	case CloseInvalidData:
		return "text is not valid UTF-8"
	case ClosePolicy:
		return "policy violation"
	case CloseTooBig:
		return "message too big"
	case CloseTryLater:
		return "too far behind: reconnect and resume"
	case CloseAuthEnded:
		return "authentication ended"
	default:
		return ""
	}
}

// Reconnect reports whether a client should reconnect after this code.
func (c CloseCode) Reconnect() bool {
	return c == CloseGoingAway || c == CloseTryLater
}

package chat

// CloseCode is a WebSocket close code the server sends. Every code the server
// uses is declared here, with its reason text and whether it drops what is
// queued, so a close is one value and the callers pass nothing else. The
// table of docs/PROTOCOL.md lists the same codes (TestProtocolCloseCodes).
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

// DropsQueue reports whether closing with this code drops the frames still
// queued for the socket. A socket whose right to exist ended (4401) must not
// be sent its backlog first, and one that fell behind (1013) cannot take it;
// the others (shutdown, abuse, bad data) let the peer read what it was
// already sent, such as the warnings before a 1008.
func (c CloseCode) DropsQueue() bool {
	return c == CloseAuthEnded || c == CloseTryLater
}

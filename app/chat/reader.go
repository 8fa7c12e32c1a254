package chat

import (
	"bufio"
	"io"
)

// The socket's read buffer, in one place: the shallow idle stack depends on
// it (see awaitFrame). gorilla reads a connection through the bufio.Reader
// the HTTP server hijacked it with when the Upgrader's ReadBufferSize is 0
// and that reader is larger than 256 bytes; app/web gives the hijack a reader
// made by NewReader and hands the same reader to Hub.Serve, so awaitFrame
// peeks at exactly the bytes gorilla will read. Any other pair of settings
// gives gorilla a reader of its own, and awaitFrame would steal its bytes.
const (
	// UpgraderReadBufferSize is the ReadBufferSize of the Upgrader that opens
	// chat sockets: 0, so gorilla reuses the hijacked reader.
	UpgraderReadBufferSize = 0
	// ReadBufferSize is the size of that reader: client frames are small (a
	// larger one is read in pieces), and gorilla reuses only a reader over
	// 256 bytes.
	ReadBufferSize = 512
)

// NewReader returns the buffered reader a socket's connection is read
// through: given to gorilla at the hijack, and to Hub.Serve.
func NewReader(conn io.Reader) *bufio.Reader {
	return bufio.NewReaderSize(conn, ReadBufferSize)
}

package main

import (
	"strconv"
	"strings"
)

// A load message's text identifies itself, so a receiver can tell loss,
// duplicates and latency from the text alone, whatever server carried it:
//
//	run=<run id> s=<sender> seq=<n> t=<send time, Unix ns> xxxx…
//
// The run id keeps messages of another run (an earlier one still in history,
// or a concurrent one) out of the count. Padding brings the text to -size bytes.
const (
	// payloadMaxHeader is the longest header: an 8-hex run id, a 7-digit
	// sender, a 10-digit sequence number and a 19-digit time, plus separators.
	payloadMaxHeader = len("run=12345678 s=1234567 seq=1234567890 t=1234567890123456789")
	// maxTextBytes is the server's limit on a message text (4,000 characters;
	// the payload is ASCII, so bytes and characters agree).
	maxTextBytes = 4000
)

// payload is the identity a load message carries.
type payload struct {
	run    string
	sender int
	seq    int64
	sentNs int64
}

// appendPayload appends p's text, padded with 'x' to size bytes when the
// header is shorter than that, to buf.
func appendPayload(buf []byte, p payload, size int) []byte {
	start := len(buf)
	buf = append(buf, "run="...)
	buf = append(buf, p.run...)
	buf = append(buf, " s="...)
	buf = strconv.AppendInt(buf, int64(p.sender), 10)
	buf = append(buf, " seq="...)
	buf = strconv.AppendInt(buf, p.seq, 10)
	buf = append(buf, " t="...)
	buf = strconv.AppendInt(buf, p.sentNs, 10)
	if pad := size - (len(buf) - start) - 1; pad > 0 {
		buf = append(buf, ' ')
		for range pad {
			buf = append(buf, 'x')
		}
	}
	return buf
}

// parsePayload reads a load message's text. It reports false for any text
// that is not one (a person typing in the room, another tool), so such text
// is counted as foreign rather than misread.
func parsePayload(text string) (payload, bool) {
	var p payload
	rest, ok := strings.CutPrefix(text, "run=")
	if !ok {
		return p, false
	}
	if p.run, rest, ok = strings.Cut(rest, " s="); !ok || p.run == "" {
		return p, false
	}
	var field string
	if field, rest, ok = strings.Cut(rest, " seq="); !ok {
		return p, false
	}
	sender, err := strconv.ParseUint(field, 10, 31)
	if err != nil {
		return p, false
	}
	p.sender = int(sender)
	if field, rest, ok = strings.Cut(rest, " t="); !ok {
		return p, false
	}
	seq, err := strconv.ParseUint(field, 10, 63)
	if err != nil {
		return p, false
	}
	p.seq = int64(seq)
	field, pad, _ := strings.Cut(rest, " ")
	sent, err := strconv.ParseUint(field, 10, 63)
	if err != nil || strings.Trim(pad, "x") != "" {
		return p, false
	}
	p.sentNs = int64(sent)
	return p, true
}

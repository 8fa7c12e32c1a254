package chat

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// protocolDoc returns the lines of a section of docs/PROTOCOL.md: those after
// the heading until the next heading of the same level or higher.
func protocolDoc(t *testing.T, heading string) []string {
	t.Helper()
	data, err := os.ReadFile("../../docs/PROTOCOL.md")
	if err != nil {
		t.Fatalf("read the protocol document: %v", err)
	}
	level := strings.Index(heading, " ")
	var out []string
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "#") {
			l := strings.Index(line, " ")
			if in && l <= level {
				break
			}
			if line == heading {
				in = true
				continue
			}
		}
		if in {
			out = append(out, line)
		}
	}
	if len(out) == 0 {
		t.Fatalf("docs/PROTOCOL.md has no section %q", heading)
	}
	return out
}

// closeCodeConstants reads close.go's exported constants of type CloseCode:
// a code added there without a row in the document fails the test below.
func closeCodeConstants(t *testing.T) map[CloseCode]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "close.go", nil, 0)
	if err != nil {
		t.Fatalf("parse close.go: %v", err)
	}
	out := make(map[CloseCode]string)
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || vs.Type == nil || types(vs.Type) != "CloseCode" {
			return true
		}
		for i, name := range vs.Names {
			lit, ok := vs.Values[i].(*ast.BasicLit)
			if !ok || !name.IsExported() {
				continue
			}
			v, err := strconv.Atoi(lit.Value)
			if err != nil {
				t.Fatalf("%s = %s: %v", name.Name, lit.Value, err)
			}
			out[CloseCode(v)] = name.Name
		}
		return true
	})
	return out
}

func types(e ast.Expr) string {
	if id, ok := e.(*ast.Ident); ok {
		return id.Name
	}
	return ""
}

// The close-code table of docs/PROTOCOL.md and the CloseCode constants list
// the same codes, and each code the server sends has its reason text.
func TestProtocolCloseCodes(t *testing.T) {
	row := regexp.MustCompile(`^\| (\d{4}) \| (.+?) \| (.+?) \|$`)
	doc := make(map[CloseCode]string)
	for _, line := range protocolDoc(t, "## Close codes") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		code, _ := strconv.Atoi(m[1])
		if _, dup := doc[CloseCode(code)]; dup {
			t.Errorf("close code %d has two rows", code)
		}
		doc[CloseCode(code)] = m[2]
	}
	consts := closeCodeConstants(t)
	if len(consts) == 0 || len(doc) == 0 {
		t.Fatalf("found %d constants and %d rows: the parsing is broken", len(consts), len(doc))
	}
	for code, name := range consts {
		if _, ok := doc[code]; !ok {
			t.Errorf("%s (%d) is not in the close-code table of docs/PROTOCOL.md", name, code)
		}
		if code.Reason() == "" {
			t.Errorf("%s (%d) has no reason text", name, code)
		}
	}
	for code, when := range doc {
		if _, ok := consts[code]; !ok {
			t.Errorf("docs/PROTOCOL.md lists %d (%s), which the code does not declare", code, when)
		}
	}
	// What the document says of the queue, the code does.
	for code, when := range doc {
		if dropped := strings.Contains(when, "queued frames are dropped"); dropped != code.DropsQueue() {
			t.Errorf("%d: the document says %q, but DropsQueue is %v", code, when, code.DropsQueue())
		}
	}
}

// Every client frame type of the dispatch table is documented, and every
// documented one is in the table.
func TestProtocolClientFrames(t *testing.T) {
	row := regexp.MustCompile("^\\| `\\{\"type\":\"([a-z_]+)\"")
	var doc []frameType
	for _, line := range protocolDoc(t, "### Client to server") {
		if m := row.FindStringSubmatch(line); m != nil && !slices.Contains(doc, frameType(m[1])) {
			doc = append(doc, frameType(m[1]))
		}
	}
	for typ, kind := range clientFrames {
		if !slices.Contains(doc, typ) {
			t.Errorf("client frame %q is not documented", typ)
		}
		if kind.handle == nil || kind.check == nil {
			t.Errorf("client frame %q has no handler or no check", typ)
		}
	}
	for _, typ := range doc {
		if _, ok := clientFrames[typ]; !ok {
			t.Errorf("docs/PROTOCOL.md documents client frame %q, which the server does not handle", typ)
		}
	}
}

// Which closes drop the queue: a kick (4401) and a socket that fell behind
// (1013) do; the others let the peer read what was already queued.
func TestCloseCodeDropsQueue(t *testing.T) {
	for _, tc := range []struct {
		code CloseCode
		drop bool
	}{
		{closeNormalClose, false},
		{CloseGoingAway, false},
		{CloseInvalidData, false},
		{ClosePolicy, false},
		{CloseTooBig, false},
		{CloseTryLater, true},
		{CloseAuthEnded, true},
	} {
		if got := tc.code.DropsQueue(); got != tc.drop {
			t.Errorf("%d.DropsQueue() = %v, want %v", tc.code, got, tc.drop)
		}
	}
}

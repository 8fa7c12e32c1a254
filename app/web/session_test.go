package web

import (
	"net/url"
	"strings"
	"testing"
)

func TestSafeNext(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"/rooms/x?tab=2#m", "/rooms/x?tab=2#m"},
		{"//evil.example", "/"},
		{"///evil.example", "/"},
		{"/\\evil.example", "/"},
		{"\\\\evil.example", "/"},
		{"https://evil.example", "/"},
		{"javascript:alert(1)", "/"},
		{"evil.example", "/"},
		{"/\tevil", "/"},
		{"/%2F%2Fevil", "/%2F%2Fevil"},
		{"/x\x00", "/"},
	}
	for _, tc := range cases {
		if got := SafeNext(tc.in); got != tc.want {
			t.Errorf("SafeNext(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/", "//x", "/\\x", "https://x", "/a?b=c", "/%5c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := SafeNext(next)
		if got != "/" && got != next {
			t.Fatalf("SafeNext(%q) = %q: neither the input nor /", next, got)
		}
		// Whatever passes resolves to this origin.
		base, _ := url.Parse("https://chat.example/")
		u, err := base.Parse(got)
		if err != nil || u.Host != "chat.example" || u.Scheme != "https" || strings.Contains(got, "\\") {
			t.Fatalf("SafeNext(%q) = %q leaves the origin: %v", next, got, u)
		}
	})
}

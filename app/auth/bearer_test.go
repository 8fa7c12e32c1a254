package auth

import (
	"strings"
	"testing"
)

func TestParseBearer(t *testing.T) {
	cases := []struct {
		header string
		want   string // "" means malformed
	}{
		{"Bearer abc", "abc"},
		{"bearer abc", "abc"},
		{"BEARER abc", "abc"},
		{"Bearer   abc", "abc"},
		{"Bearer a-b.c_d~e+f/g==", "a-b.c_d~e+f/g=="},
		{"Bearer", ""},
		{"Bearer ", ""},
		{"Bearer    ", ""},
		{"Bearer abc def", ""},
		{"Bearer abc ", ""},
		{"Bearer\tabc", ""},
		{"Basic YWxhZGRpbjpvcGVuc2VzYW1l", ""},
		{"Token abc", ""},
		{"abc", ""},
		{"", ""},
		{" Bearer abc", ""},
		{"Bearer =abc", ""},
		{"Bearer ab=c", ""},
		{"Bearer ab\"c", ""},
		{"Bearer äbc", ""},
		{"Bearer " + strings.Repeat("a", 5000), ""},
	}
	for _, tc := range cases {
		got, err := ParseBearer(tc.header)
		if tc.want == "" {
			if err == nil {
				t.Errorf("ParseBearer(%q) = %q, want an error", tc.header, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseBearer(%q) = %q, %v; want %q", tc.header, got, err, tc.want)
		}
	}
}

func FuzzParseBearer(f *testing.F) {
	for _, s := range []string{"Bearer abc", "Bearer", "bearer  a==", "Basic x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		tok, err := ParseBearer(header)
		if err != nil {
			return
		}
		// Whatever it accepts is a non-empty b64token found in the header.
		if tok == "" || !strings.HasSuffix(header, tok) || strings.ContainsAny(tok, " \t\r\n\"") {
			t.Fatalf("ParseBearer(%q) accepted %q", header, tok)
		}
	})
}

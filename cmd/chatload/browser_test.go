package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"testing"
)

func TestParseCSRF(t *testing.T) {
	tests := []struct {
		name, page string
		want       string // "" for none found
	}{
		{"templ's rendering", `<form method="post"><input type="hidden" name="_csrf" value="AbC123xyz"><input type="hidden" name="next" value="/">`, "AbC123xyz"},
		{"escaped value", `<input type="hidden" name="_csrf" value="a&amp;b">`, "a&b"},
		{"no field", `<form><input name="username"></form>`, ""},
		{"empty value", `<input type="hidden" name="_csrf" value="">`, ""},
		{"another field's value", `<input name="next" value="/x">`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseCSRF([]byte(tt.page))
			if got != tt.want || ok != (tt.want != "") {
				t.Errorf("parseCSRF = %q, %v; want %q", got, ok, tt.want)
			}
		})
	}
}

func TestOutcomeOf(t *testing.T) {
	timeout := &net.OpError{Op: "dial", Err: os.ErrDeadlineExceeded}
	tests := []struct {
		name string
		a    answer
		err  error
		want string
	}{
		{"answered", answer{status: 429}, nil, "429"},
		{"answered, then the body failed", answer{status: 200}, errors.New("read answer: reset"), "200"},
		{"timeout", answer{}, &url.Error{Op: "Post", URL: "u", Err: timeout}, "timeout"},
		{"refused", answer{}, errors.New("connect: connection refused"), "error"},
	}
	for _, tt := range tests {
		if got := outcomeOf(tt.a, tt.err); got != tt.want {
			t.Errorf("%s: outcomeOf = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestFormatCounts(t *testing.T) {
	if got := formatCounts(map[string]int{"429": 116, "303": 12, "form 503": 1}); got != "303: 12, 429: 116, form 503: 1" {
		t.Errorf("formatCounts = %q", got)
	}
	if got := formatCounts(nil); got != "none" {
		t.Errorf("formatCounts(nil) = %q", got)
	}
}

// A returning browser keeps every cookie but its ended session: the device
// cookie is what must still be there.
func TestForgetSessionKeepsOtherCookies(t *testing.T) {
	base, _ := url.Parse("http://127.0.0.1:8080")
	b := newBrowser(base, net.IPv4(127, 0, 0, 3))
	b.jar.SetCookies(base, []*http.Cookie{
		{Name: "securechat", Value: "session", Path: "/"},
		{Name: "_csrf", Value: "token", Path: "/"},
		{Name: "device", Value: "signed", Path: "/"},
	})
	b.forgetSession()
	if got := b.cookieNames(); !slices.Equal(got, []string{"_csrf", "device"}) {
		t.Errorf("cookies after forgetting the session: %v", got)
	}
}

// submit reads the CSRF field from the form page and posts it back with the
// credentials, in the same browser.
func TestBrowserSubmitPostsTheFormsToken(t *testing.T) {
	var posted url.Values
	srv := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			http.SetCookie(w, &http.Cookie{Name: "_csrf", Value: "tok", Path: "/"})
			w.Write([]byte(`<form><input type="hidden" name="_csrf" value="tok"></form>`))
			return
		}
		c, err := r.Cookie("_csrf")
		r.ParseForm()
		posted = r.PostForm
		if err != nil || c.Value != r.PostForm.Get("_csrf") {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	}))
	b := newBrowser(srv, net.IPv4(127, 0, 0, 1))
	a, err := b.submit(context.Background(), "/login", "alice", "pw")
	if err != nil || a.status != http.StatusSeeOther {
		t.Fatalf("submit = %d, %v; want 303", a.status, err)
	}
	if posted.Get("username") != "alice" || posted.Get("password") != "pw" || posted.Get("_csrf") != "tok" {
		t.Errorf("posted %v", posted)
	}
}

// newTestServer serves h on loopback for the test and returns its base URL.
func newTestServer(t *testing.T, h http.Handler) *url.URL {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

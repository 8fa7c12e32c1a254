package main

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The attack modes (slowbody, office, signups) speak HTTP as a script or a
// browser would, each party from its own loopback address, and look at the
// status of every answer: a 429 or a 503 is what they measure, not an error.

const (
	// maxAnswerBytes bounds how much of an answer the tool reads (a login
	// page is a few KiB).
	maxAnswerBytes = 256 << 10
	// idleConnTimeout closes a kept-alive connection nobody reuses, so the
	// thousands of one-off browsers of a run do not keep a file each.
	idleConnTimeout = 5 * time.Second
)

// clientFrom is an HTTP client whose connections come from ip. Without
// keepAlive every request opens a new connection, as a newcomer would: a
// kept-alive connection would not notice a server that can no longer accept.
// Redirects are not followed: a 303 is the answer being measured.
func clientFrom(ip net.IP, keepAlive bool, timeout time.Duration, jar http.CookieJar) *http.Client {
	t := &http.Transport{
		Proxy:               nil, // never through a proxy: the target is this machine
		DialContext:         dialerFrom(ip).DialContext,
		DisableKeepAlives:   !keepAlive,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     idleConnTimeout,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	return &http.Client{
		Transport:     t,
		Timeout:       timeout,
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// answer is the part of an HTTP answer the attack modes count.
type answer struct {
	status     int
	retryAfter string
	location   string
	body       []byte
}

// do sends req and reads a bounded answer.
func do(client *http.Client, req *http.Request) (answer, error) {
	resp, err := client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	a := answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"),
		location: resp.Header.Get("Location"), body: body}
	if err != nil {
		return a, fmt.Errorf("read answer: %w", err)
	}
	return a, nil
}

// postForm posts form to path on base.
func postForm(ctx context.Context, client *http.Client, base *url.URL, path string, form url.Values) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base.String()+path, strings.NewReader(form.Encode()))
	if err != nil {
		return answer{}, fmt.Errorf("post %s: %w", path, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base.String()) // a same-origin page; scripts send none and are as welcome
	a, err := do(client, req)
	if err != nil {
		return a, fmt.Errorf("post %s: %w", path, err)
	}
	return a, nil
}

// get fetches path on base.
func get(ctx context.Context, client *http.Client, base *url.URL, path string) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base.String()+path, nil)
	if err != nil {
		return answer{}, fmt.Errorf("get %s: %w", path, err)
	}
	a, err := do(client, req)
	if err != nil {
		return a, fmt.Errorf("get %s: %w", path, err)
	}
	return a, nil
}

// tokenAttempt is one POST /token (the password grant) for user.
func tokenAttempt(ctx context.Context, client *http.Client, base *url.URL, user, password string) (answer, error) {
	return postForm(ctx, client, base, "/token", url.Values{"username": {user}, "password": {password}})
}

// browser is one person's browser: its own cookie jar (CSRF cookie, session
// cookie, and whatever else the server sets, such as a device cookie) and
// its own source address.
type browser struct {
	client *http.Client
	jar    *cookiejar.Jar
	base   *url.URL
}

func newBrowser(base *url.URL, ip net.IP) *browser {
	jar, _ := cookiejar.New(nil) // cannot fail without options
	return &browser{client: clientFrom(ip, true, loginTimeout, jar), jar: jar, base: base}
}

// close drops the browser's idle connections: a browser used once must not
// hold a file until its transport times out.
func (b *browser) close() { b.client.CloseIdleConnections() }

// csrfInput finds the CSRF field the server renders into its forms.
var csrfInput = regexp.MustCompile(`name="_csrf"\s+value="([^"]*)"`)

// parseCSRF returns the CSRF token of a rendered form.
func parseCSRF(page []byte) (string, bool) {
	m := csrfInput.FindSubmatch(page)
	if m == nil || len(m[1]) == 0 {
		return "", false
	}
	return html.UnescapeString(string(m[1])), true
}

// submit fills in the form at path (/login or /signup) as a person would:
// GET the page for its CSRF field (the cookie lands in the jar), then POST
// the form. It returns the POST's answer; success is a 303.
func (b *browser) submit(ctx context.Context, path, user, password string) (answer, error) {
	page, err := get(ctx, b.client, b.base, path)
	if err != nil {
		return page, err
	}
	if page.status != http.StatusOK {
		return page, fmt.Errorf("get %s: status %d", path, page.status)
	}
	token, ok := parseCSRF(page.body)
	if !ok {
		return page, fmt.Errorf("get %s: no _csrf field in the form", path)
	}
	form := url.Values{"_csrf": {token}, "username": {user}, "password": {password}, "next": {"/"}}
	return postForm(ctx, b.client, b.base, path, form)
}

// sessionCookies are the names securechat gives its session cookie (the
// second under TLS).
var sessionCookies = []string{"securechat", "__Host-securechat"}

// forgetSession drops the session cookie and keeps every other cookie, as a
// browser does after its session ended: a returning user, not a stranger.
func (b *browser) forgetSession() {
	var gone []*http.Cookie
	for _, name := range sessionCookies {
		gone = append(gone, &http.Cookie{Name: name, Path: "/", MaxAge: -1})
	}
	b.jar.SetCookies(b.base, gone)
}

// cookieNames lists the names (never the values) of the cookies the browser
// would send.
func (b *browser) cookieNames() []string {
	var names []string
	for _, c := range b.jar.Cookies(b.base) {
		names = append(names, c.Name)
	}
	slices.Sort(names)
	return names
}

// outcomeOf names an HTTP attempt's result for counting: the status code, or
// "timeout" or "error" when there was no answer.
func outcomeOf(a answer, err error) string {
	if a.status != 0 {
		return strconv.Itoa(a.status)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "error"
}

// outcomes counts attempts by outcome.
type outcomes struct {
	mu sync.Mutex
	m  map[string]int
}

func newOutcomes() *outcomes { return &outcomes{m: map[string]int{}} }

func (o *outcomes) add(key string) {
	o.mu.Lock()
	o.m[key]++
	o.mu.Unlock()
}

// snapshot is a copy of the counts.
func (o *outcomes) snapshot() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make(map[string]int, len(o.m))
	for k, v := range o.m {
		out[k] = v
	}
	return out
}

// formatCounts prints counts as "303: 12, 429: 116", keys in order.
func formatCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

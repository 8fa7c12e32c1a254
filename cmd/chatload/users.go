package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"time"
)

const (
	// loginTimeout bounds one POST /token: an argon2id check is ~25 ms, but a
	// storm queues logins behind the server's hashing slots.
	loginTimeout = 30 * time.Second
	// userAddTimeout bounds one `securechat user add` process.
	userAddTimeout = 30 * time.Second
	// userAddParallel is how many `user add` processes run at once: each
	// hashes a password, and the machine has 2 cores the server needs too.
	userAddParallel = 2
)

// newHTTPClient is the client for /token: keep-alive connections, one per
// concurrent caller, each request bounded.
func newHTTPClient(concurrency int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = concurrency
	t.MaxConnsPerHost = concurrency
	return &http.Client{Transport: t, Timeout: loginTimeout}
}

// login runs the OAuth2 password grant and returns the access token. Both
// targets answer {"access_token": …}.
func login(ctx context.Context, client *http.Client, base *url.URL, user, password string) (string, error) {
	form := url.Values{"username": {user}, "password": {password}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base.String()+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("log in %s: %w", user, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("log in %s: %w", user, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", fmt.Errorf("log in %s: read answer: %w", user, err)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		return "", fmt.Errorf("log in %s: status 429, the server limits failed logins per user and per address (retry after %ss); "+
			"check the password, or start it with higher --login-limit and --login-limit-addr", user, resp.Header.Get("Retry-After"))
	}
	if resp.StatusCode == http.StatusServiceUnavailable {
		return "", fmt.Errorf("log in %s: status 503, password hashing is busy (retry after %ss); "+
			"for load runs lower the concurrency or start the server with higher --hash-queue and --hash-wait", user, resp.Header.Get("Retry-After"))
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("log in %s: status %d: %.200s", user, resp.StatusCode, body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("log in %s: no access_token in %.200s", user, body)
	}
	return tok.AccessToken, nil
}

// fetchTokens logs every user in once, concurrency at a time; a user's
// sockets all present its one token. The first failure stops the run: a
// measurement with some users missing would not measure what was asked.
func fetchTokens(ctx context.Context, o *options, client *http.Client, names []string) ([]string, error) {
	tokens := make([]string, len(names))
	err := forEach(ctx, len(names), o.concurrency, func(ctx context.Context, i int) error {
		t, err := login(ctx, client, o.base, names[i], o.password)
		tokens[i] = t
		return err
	})
	return tokens, err
}

// createUsers runs `securechat --data DIR user add NAME` for each name with
// the password on stdin, as an operator would. Existing users are kept
// (their password is assumed to be the load password). It returns how many
// were created.
func createUsers(ctx context.Context, o *options, names []string) (int, error) {
	var mu sync.Mutex
	created := 0
	err := forEach(ctx, len(names), userAddParallel, func(ctx context.Context, i int) error {
		ctx, cancel := context.WithTimeout(ctx, userAddTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, o.serverBin, "--data", o.dataDir, "user", "add", names[i])
		cmd.Stdin = strings.NewReader(o.password + "\n")
		out, err := cmd.CombinedOutput()
		if err != nil {
			if strings.Contains(string(out), "taken") {
				return nil
			}
			return fmt.Errorf("create user %s: %w: %s", names[i], err, strings.TrimSpace(string(out)))
		}
		mu.Lock()
		created++
		mu.Unlock()
		return nil
	})
	return created, err
}

// forEach calls fn for 0..n-1 on up to parallel goroutines and returns the
// first error, after which no new calls start.
func forEach(ctx context.Context, n, parallel int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(parallel, n) {
		wg.Go(func() {
			for i := range next {
				if err := fn(ctx, i); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

// ensureUsers creates the load users through the server's CLI when
// -create-users is given; otherwise the operator has created them.
func ensureUsers(ctx context.Context, o *options, log io.Writer) error {
	if !o.createUsers {
		return nil
	}
	names := o.userNames()
	fmt.Fprintf(log, "creating %d users through %s\n", len(names), o.serverBin)
	n, err := createUsers(ctx, o, names)
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "created %d, %d existed\n", n, len(names)-n)
	return nil
}

// prepareTokens makes sure the users exist, then logs each in once.
func prepareTokens(ctx context.Context, o *options, log io.Writer) ([]string, error) {
	if err := ensureUsers(ctx, o, log); err != nil {
		return nil, err
	}
	start := time.Now()
	tokens, err := fetchTokens(ctx, o, newHTTPClient(o.concurrency), o.userNames())
	if err != nil {
		return nil, fmt.Errorf("get tokens (do users %s0..%s%d exist with the -password given? see -create-users): %w",
			o.userPrefix, o.userPrefix, o.users-1, err)
	}
	fmt.Fprintf(log, "got %d tokens in %.1fs\n", len(tokens), time.Since(start).Seconds())
	return tokens, nil
}

package sqlite

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"securechat/app/store"
)

// The search benchmark's store: how many messages, and where (a folder that
// already holds that many is reused, so a large run fills it once).
var (
	benchMessages = flag.Int("search.messages", 50_000, "messages BenchmarkSearch stores before it searches")
	benchDir      = flag.String("search.dir", "", "data folder of BenchmarkSearch (default: a temporary one)")
)

// A vocabulary for realistic texts: common words often, rare ones seldom
// (rank r is drawn about 1/r as often), and Japanese sentences made of
// common phrases.
var (
	benchWords = strings.Fields(`the a to and of in is it you that for on with this be are
		have not at we can was but just so what my do if me will your all
		meeting tomorrow deploy server release review branch merge build test
		coffee lunch office remote weekend holiday ticket customer invoice budget
		database index query latency cache queue worker cluster backup restore
		design layout button screen mobile browser login password account token
		wordsmith paragraph chapter translation keyboard monitor printer network
		kubernetes postgres sqlite benchmark profile memory goroutine channel mutex
		airport train station hotel museum garden river mountain forest village`)
	benchJapanese = []string{"東京都の天気は晴れです", "明日の会議は十時から", "新しいサーバーを構築しました",
		"データベースの索引を作成", "京都に旅行に行きたい", "お疲れ様でした", "了解しました",
		"確認してください", "今日はとても寒いですね", "大阪の会社と打ち合わせ", "検索機能を改善する",
		"週末は山に登ります", "駅の近くのレストラン", "ありがとうございます", "よろしくお願いします"}
)

// benchText is one message: a sentence of Zipf-drawn words, now and then Japanese.
func benchText(r *rand.Rand) string {
	if r.IntN(5) == 0 {
		n := 1 + r.IntN(3)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = benchJapanese[r.IntN(len(benchJapanese))]
		}
		return strings.Join(parts, "、")
	}
	words := make([]string, 3+r.IntN(18))
	for i := range words {
		words[i] = benchWords[zipf(r, len(benchWords))]
	}
	return strings.Join(words, " ")
}

// zipf draws an index below n, index i about 1/(i+1) as often as index 0.
func zipf(r *rand.Rand, n int) int {
	for {
		i := int(float64(n) * r.Float64() * r.Float64()) // roughly 1/i: a product of two uniforms
		if i < n {
			return i
		}
	}
}

// BenchmarkSearch stores -search.messages messages (1,000 a transaction,
// in 200 public rooms and 50 private ones) and measures searches of the
// whole store by a user who is a member of 5 private rooms: p50 and p99 in
// ms of a 3-word query and of a 3-character Japanese one, and the size of
// the search index per message. Run:
//
//	go test -run '^$' -bench BenchmarkSearch -benchtime 500x ./app/store/sqlite -args -search.messages=1000000 -search.dir=/tmp/search-1m
func BenchmarkSearch(b *testing.B) {
	ctx := context.Background()
	dir := *benchDir
	if dir == "" {
		dir = b.TempDir()
	}
	db, err := Open(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	const userID = 1
	n := benchFill(b, db)

	pages, pageSize, err := db.SearchIndexPages(ctx)
	if err != nil {
		b.Fatal(err)
	}
	perMessage := float64(pages*pageSize) / float64(n)
	var file int64
	if fi, err := os.Stat(filepath.Join(dir, FileName)); err == nil {
		file = fi.Size()
	}
	b.Logf("%d messages; search index %d pages of %d bytes: %.0f bytes a message; database file %d bytes (%.0f a message)",
		n, pages, pageSize, perMessage, file, float64(file)/float64(n))

	r := rand.New(rand.NewPCG(2, 3))
	for _, c := range []struct {
		name  string
		query func() string
	}{
		{"3words", func() string {
			// Three words of the vocabulary, drawn as the texts draw them,
			// but from the meaningful (longer) ones.
			var q []string
			for len(q) < 3 {
				if w := benchWords[zipf(r, len(benchWords))]; len(w) >= 4 && !slices.Contains(q, w) {
					q = append(q, w)
				}
			}
			return strings.Join(q, " ")
		}},
		{"japanese3", func() string {
			s := []rune(benchJapanese[r.IntN(len(benchJapanese))])
			i := r.IntN(len(s) - 2)
			return string(s[i : i+3])
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var took []time.Duration
			found := 0
			for b.Loop() {
				q := store.SearchQuery{UserID: userID, Text: c.query(), Limit: store.DefaultSearchResults}
				start := time.Now()
				got, err := db.SearchMessages(ctx, q)
				took = append(took, time.Since(start))
				if err != nil {
					b.Fatal(err)
				}
				found += len(got)
			}
			slices.Sort(took)
			pct := func(p float64) float64 {
				return float64(took[min(len(took)-1, int(p*float64(len(took))))].Microseconds()) / 1000
			}
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
			b.ReportMetric(float64(found)/float64(len(took)), "results/op")
			b.ReportMetric(perMessage, "index-bytes/msg")
		})
	}
}

// benchFill stores messages until db holds *benchMessages and returns how
// many it holds. The user 1 is a member of 5 of the 50 private rooms.
func benchFill(b *testing.B, db *DB) int {
	ctx := context.Background()
	var have int
	if err := db.db.QueryRowContext(ctx, `SELECT count(*) FROM messages`).Scan(&have); err != nil {
		b.Fatal(err)
	}
	if have == 0 {
		now := time.UnixMilli(1_700_000_000_000)
		for i := range 50 {
			owner := int64(2 + i)
			if i < 5 {
				owner = 1
			}
			if err := db.CreateRoom(ctx, fmt.Sprintf("private-%d", i), store.RoomPrivate, owner, now); err != nil {
				b.Fatal(err)
			}
		}
	}
	r := rand.New(rand.NewPCG(uint64(have), 1))
	start := time.Now()
	const batch = 1000
	ts := time.UnixMilli(1_700_000_000_000 + int64(have)*1000)
	msgs := make([]store.NewMessage, 0, batch)
	for have < *benchMessages {
		msgs = msgs[:0]
		for range min(batch, *benchMessages-have) {
			room := fmt.Sprintf("room-%d", zipf(r, 200))
			if r.IntN(10) == 0 {
				room = fmt.Sprintf("private-%d", r.IntN(50))
			}
			uid := int64(1 + r.IntN(1000))
			ts = ts.Add(time.Second)
			msgs = append(msgs, store.NewMessage{Room: room, UserID: uid, User: fmt.Sprintf("user%d", uid), Text: benchText(r), TS: ts})
		}
		if _, err := db.AppendMessages(ctx, msgs); err != nil {
			b.Fatal(err)
		}
		have += len(msgs)
	}
	if d := time.Since(start); d > time.Second {
		b.Logf("filled to %d messages in %s", have, d.Round(time.Second))
	}
	return have
}

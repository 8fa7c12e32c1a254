package store

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// SearchQuery asks for the messages that match Text, newest first, from
// the rooms the user UserID may read now (public rooms, and the private
// rooms and dms with a member row for them): never a change row, a
// deleted message or an earlier text of an edited one.
//
// Text is split into words at white space (and NUL); every word must match. A word of
// MinSubstring characters or more matches anywhere in a text, inside words
// and in scripts written without spaces (an index of trigrams); a shorter
// one matches a whole word only (WholeWords), and, since no index serves
// it, a query with only short words looks at the newest ShortScan
// readable messages below Before and no further.
type SearchQuery struct {
	UserID int64
	Text   string
	Room   string // only this room ("" every readable room); the caller checks it is readable
	Before int64  // only ids below it (0: from the newest)
	Limit  int    // most results; 1 to MaxSearchResults (others: DefaultSearchResults)
}

// Search bounds.
const (
	// MaxSearchResults is the most messages one search returns.
	MaxSearchResults = 100
	// DefaultSearchResults is what a search without a limit returns.
	DefaultSearchResults = 20
	// MinSubstring is the shortest word matched inside other words: the
	// length of a trigram.
	MinSubstring = 3
	// ShortScan is how many messages a search looks at when no index
	// serves it (only words shorter than MinSubstring), or when short words
	// filter the index's candidates: newest first, then it stops, so a
	// search costs a bounded read whatever it asks.
	ShortScan = 10000
)

// SearchWords splits a query into its words: the long ones (MinSubstring
// characters or more, matched as substrings) and the short ones (matched as
// whole words). Both are empty for a blank query.
func SearchWords(text string) (long, short []string) {
	// A NUL separates words too: no store could match one.
	for _, w := range strings.FieldsFunc(text, func(r rune) bool { return unicode.IsSpace(r) || r == 0 }) {
		if utf8.RuneCountInString(w) >= MinSubstring {
			long = append(long, w)
		} else {
			short = append(short, w)
		}
	}
	return long, short
}

// SearchLimit is q.Limit within 1..MaxSearchResults (DefaultSearchResults if not).
func (q SearchQuery) SearchLimit() int {
	if q.Limit < 1 || q.Limit > MaxSearchResults {
		return DefaultSearchResults
	}
	return q.Limit
}

// WholeWords reports whether every word occurs in text as a whole word,
// ignoring case: not preceded or followed by a letter or digit of a script
// written with spaces between words. In scripts written without spaces
// (Chinese, Japanese, Thai…) every position is a word boundary, so a short
// query like 京都 matches inside 東京都.
func WholeWords(text string, words []string) bool {
	lower := strings.ToLower(text)
	for _, w := range words {
		if !wholeWord(lower, strings.ToLower(w)) {
			return false
		}
	}
	return true
}

func wholeWord(text, w string) bool {
	if w == "" {
		return true
	}
	for from := 0; from < len(text); {
		i := strings.Index(text[from:], w)
		if i < 0 {
			return false
		}
		start, end := from+i, from+i+len(w)
		before, _ := utf8.DecodeLastRuneInString(text[:start])
		after, _ := utf8.DecodeRuneInString(text[end:])
		if (start == 0 || !joinsWord(before)) && (end == len(text) || !joinsWord(after)) {
			return true
		}
		_, size := utf8.DecodeRuneInString(text[start:])
		from = start + size
	}
	return false
}

// joinsWord reports whether r, next to a match, makes it part of a longer
// word: a letter, digit or underscore of a script that separates words.
func joinsWord(r rune) bool {
	if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' {
		return false
	}
	return !unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Thai, unicode.Lao, unicode.Khmer, unicode.Myanmar)
}

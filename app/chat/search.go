package chat

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"securechat/app/store"
)

// Search and history around a message. A search reads only what the user
// may read at the moment of the query: the store applies the rule
// (store.SearchQuery), and a search of one room first checks the room like
// history does, so a private room and a missing one look the same
// (forbidden). Both are requests (the request rate), and an answer is
// bounded like a history page (pageBytes).

// searchRetries is how many times a search is asked again when a removal
// of the user arrives while it runs (the answer could hold the room's
// messages); after that the answer is empty rather than possibly stale.
const searchRetries = 3

// checkSearch: a search has a query of 1 to maxText characters (a longer
// one matches no message), not blank; room, before and limit are optional.
func checkSearch(f *inbound, maxText int) error {
	if f.Room != "" {
		if err := checkRoom(f.Room); err != nil {
			return err
		}
	}
	if n := utf8.RuneCountInString(f.Query); n > maxText || strings.TrimSpace(f.Query) == "" {
		return badFrame("bad_query", "query must be 1 to %d characters, not blank", maxText)
	}
	if f.Before < 0 || f.Limit < 0 || f.Limit > store.MaxSearchResults {
		return badFrame("bad_frame", "before must be 0 or more and limit 0 to %d", store.MaxSearchResults)
	}
	if f.Limit == 0 {
		f.Limit = store.DefaultSearchResults
	}
	return nil
}

// onSearch answers the messages that match f.Query, newest first, from
// the rooms the user may read now (or from f.Room, if they may read it).
func (c *Client) onSearch(ctx context.Context, f inbound) error {
	if limit := c.hub.SearchQueryLimit(); utf8.RuneCountInString(f.Query) > limit {
		c.hub.metrics.SearchRefused()
		return badFrame("bad_query", "a query has at most %d characters", limit)
	}
	q := store.SearchQuery{UserID: c.peer.UserID, Text: f.Query, Room: f.Room, Before: f.Before, Limit: f.Limit}
	for range searchRetries {
		removals := c.removals()
		if f.Room != "" {
			if _, err := c.mustRead(ctx, f.Room); err != nil {
				return err
			}
		}
		var msgs []store.Message
		err := offload(ctx, func(ctx context.Context) (err error) {
			msgs, err = c.hub.store.SearchMessages(ctx, q)
			return err
		})
		if err != nil {
			return fmt.Errorf("search: %w", err)
		}
		if c.sendUnlessRemoved(removals, encodeResults(f.Query, f.Ref, msgs, f.Limit, c.hub.pageBytes)) {
			return nil
		}
	}
	c.send(encodeResults(f.Query, f.Ref, nil, f.Limit, c.hub.pageBytes))
	return nil
}

// SearchQueryLimit is the most characters of a query (the chat page renders
// it into its search box): every word is an index lookup (and a short one a
// check of up to store.ShortScan texts).
func (h *Hub) SearchQueryLimit() int {
	if h.limits.MaxSearchQuery > 0 {
		return h.limits.MaxSearchQuery
	}
	return h.limits.MaxText
}

// historyPage is the page a history request asks for: before f.Before, or
// around f.Around (up to half the page before it, it, and the rest after).
func (c *Client) historyPage(ctx context.Context, f inbound) ([]store.Message, error) {
	if f.Around > 0 {
		return c.hub.store.MessagesAround(ctx, f.Room, f.Around, f.Limit)
	}
	return c.hub.store.MessagesBefore(ctx, f.Room, f.Before, f.Limit)
}

// encodeResults encodes a results frame of the newest of ms (newest first)
// whose encoded messages fit in budget bytes, at least one. more says there
// may be older results: a full page, or results left out for size; the
// client asks again with before set to the last id it got.
func encodeResults(query, ref string, ms []store.Message, limit, budget int) []byte {
	var list bytes.Buffer
	n := 0
	for _, m := range ms {
		one := encodeMessage(m)
		if n > 0 && list.Len()+1+len(one) > budget {
			break
		}
		if n > 0 {
			list.WriteByte(',')
		}
		list.Write(one)
		n++
	}
	more := n < len(ms) || len(ms) >= limit
	var b bytes.Buffer
	b.Grow(list.Len() + len(query) + len(ref) + 64)
	b.WriteString(`{"type":"` + string(typeResults) + `","query":`)
	b.Write(mustJSON(query))
	if ref != "" {
		b.WriteString(`,"ref":`)
		b.Write(mustJSON(ref))
	}
	b.WriteString(`,"messages":[`)
	b.Write(list.Bytes())
	b.WriteString(`],"more":`)
	b.WriteString(strconv.FormatBool(more))
	b.WriteByte('}')
	return b.Bytes()
}
